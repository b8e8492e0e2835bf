"""Map labels from the reference data (``/api/labels``): a point inside every area and basin, points on every
named river with the text's rotation along the line; nothing from outside the product."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls.catalogue.labels import text_angle_deg


@pytest.mark.parametrize(
    ("azimuth", "angle"),
    [(90.0, 0.0), (270.0, 0.0), (0.0, -90.0), (180.0, -90.0), (45.0, -45.0), (225.0, -45.0), (135.0, 45.0),
     (315.0, 45.0), (None, 0.0)],
)  # fmt: skip
def test_text_follows_the_line_and_is_never_upside_down(azimuth: float | None, angle: float) -> None:
    assert text_angle_deg(azimuth) == angle


def test_labels_name_every_area_basin_and_river(client: FlaskClient, session: Session) -> None:
    response = client.get("/api/labels")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    assert response.cache_control.max_age == 3600
    body = response.get_json(force=True)
    assert body["type"] == "FeatureCollection"
    features = body["features"]
    kinds = Counter(f["properties"]["kind"] for f in features)
    areas = dict(session.execute(sa.text(
        "SELECT level, count(*) FROM admin_areas WHERE geom IS NOT NULL GROUP BY level")).all())  # fmt: skip
    basins = dict(session.execute(sa.text("SELECT level, count(*) FROM basins GROUP BY level")).all())
    assert {k: kinds[k] for k in ("province", "city", "county")} == {k: areas.get(k, 0) for k in
                                                                     ("province", "city", "county")}  # fmt: skip
    assert kinds["province"] >= 1 and kinds["county"] > kinds["city"] > 0
    assert {k: kinds[k] for k in ("basin", "sub_basin")} == basins
    names = {(f["properties"]["kind"], f["properties"]["name"]) for f in features}
    assert ("province", "陕西省") in names and ("city", "西安市") in names and ("river", "渭河") in names

    # each area's and basin's point lies inside it; each river's on its line; rivers are turned along it
    for f in features:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"]
        table = {"river": "rivers", "basin": "basins", "sub_basin": "basins"}.get(p["kind"], "admin_areas")
        near = session.scalar(sa.text(
            f"SELECT ST_DWithin(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), 1e-4) FROM {table} "
            "WHERE code = :code"), {"lon": lon, "lat": lat, "code": p["code"]})  # fmt: skip
        assert near, p
        assert -90 <= p["angle"] <= 90 and (p["angle"] == 0 or p["kind"] == "river")
    rivers = [f for f in features if f["properties"]["kind"] == "river"]
    assert len(rivers) > len({f["properties"]["code"] for f in rivers})  # long rivers are named more than once
    assert any(f["properties"]["angle"] != 0 for f in rivers)


def test_label_points_are_kept_with_the_reference_data(client: FlaskClient, session: Session) -> None:
    """The points are worked out when the reference data is loaded, not on each request: emptied, they come back
    with the next load of the reference data."""
    from outfalls.reference import load_reference

    session.execute(sa.text("REFRESH MATERIALIZED VIEW reference_label_points WITH NO DATA"))
    populated = "SELECT ispopulated FROM pg_matviews WHERE matviewname = 'reference_label_points'"
    assert not session.scalar(sa.text(populated))
    load_reference(session)
    assert session.scalar(sa.text("SELECT count(*) FROM reference_label_points")) > 100
    assert client.get("/api/labels").get_json(force=True)["features"]
