"""Rows of one upload near each other: found in memory, they are exactly the pairs PostGIS's geography finds."""

from __future__ import annotations

import numpy as np
import pyproj
from sqlalchemy import text
from sqlalchemy.orm import Session

from outfalls.survey.reconcile import near_pairs

_GEOD = pyproj.Geod(ellps="GRS80")

_POSTGIS_PAIRS = text(
    """
    SELECT a.i - 1, b.i - 1
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS a(lon, lat, i)
    JOIN unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS b(lon, lat, i)
      ON b.i > a.i AND abs(b.lat - a.lat) < 0.001 AND abs(b.lon - a.lon) < 0.002
     AND ST_DWithin(ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4490)::geography,
                    ST_SetSRID(ST_MakePoint(b.lon, b.lat), 4490)::geography, :metres)
    """
)


def _dense_batch(seed: int = 7) -> tuple[list[float], list[float]]:
    """Clumps of rows a few metres apart at latitudes from Hainan to Heilongjiang, with many pairs just inside or
    just outside 5 m, identical positions, and separate rows between the clumps.
    """
    rng = np.random.default_rng(seed)
    lons: list[float] = []
    lats: list[float] = []
    for _ in range(120):
        lon0, lat0 = rng.uniform(74.0, 134.0), rng.uniform(18.0, 53.5)
        for _ in range(rng.integers(2, 12)):
            lons.append(lon0 + rng.normal(0, 3e-5))
            lats.append(lat0 + rng.normal(0, 3e-5))
        # one row at 4.9–5.1 m from the clump's first row, in any direction, and one at the very same place
        lon1, lat1, _ = _GEOD.fwd(lon0, lat0, rng.uniform(0, 360), rng.uniform(4.9, 5.1))
        lons += [lon1, lon0]
        lats += [lat1, lat0]
    lons += list(rng.uniform(74.0, 134.0, 1500))
    lats += list(rng.uniform(18.0, 53.5, 1500))
    return lons, lats


def test_pairs_in_memory_are_the_pairs_postgis_finds(session: Session) -> None:
    lons, lats = _dense_batch()
    expected = sorted(tuple(r) for r in session.execute(_POSTGIS_PAIRS, {"lons": lons, "lats": lats, "metres": 5.0}))
    found = near_pairs(lons, lats, 5.0)
    assert len(expected) > 1000
    assert found == expected


def test_a_pair_across_the_antimeridian_or_at_high_latitude_is_found() -> None:
    lon1, lat1, _ = _GEOD.fwd(179.99999, 10.0, 90.0, 3.0)  # 3 m east, across 180°
    lon2, lat2, _ = _GEOD.fwd(20.0, 78.0, 90.0, 4.0)  # 4 m east in Svalbard: a degree of longitude is short there
    lons, lats = [179.99999, 20.0, lon1, lon2, 20.0], [10.0, 78.0, lat1, lat2, 78.0001]
    assert lon1 < 0
    assert near_pairs(lons, lats, 5.0) == [(0, 2), (1, 3)]


def test_no_pairs_among_fewer_than_two_rows() -> None:
    assert near_pairs([], [], 5.0) == []
    assert near_pairs([108.9], [34.3], 5.0) == []
