"""Flight records (HJ 1233 appendices A/B): each sortie's date, aircraft, altitude, area and length flown, photo
count and operator, the flight-area statistics per basin and river (sorties, km², km, photos, and the area the
ingested orthophotos really cover), and the orthophotos' footprints. A user outside the national scope sees the
orthophotos overlapping their area and the sorties they came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from imagery.ingest import get_or_create_sortie
from imagery.models import Orthophoto, Sortie
from imagery.scope import orthophoto_conditions, sql_filter
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Basin, River
from outfalls.scope import Scope


@dataclass(frozen=True, slots=True)
class SortieInput:
    """What a flight team reports for a sortie; None leaves a value as it is."""

    flown_on: date | None = None
    aircraft_type: str | None = None
    altitude_m: float | None = None
    area_km2: float | None = None
    length_km: float | None = None
    photo_count: int | None = None
    operator: str | None = None
    basin_code: str | None = None
    river_code: str | None = None
    notes: str | None = None


def record_sortie(session: Session, code: str, values: SortieInput, *, actor: str) -> Sortie:
    """Create or complete the flight record of a sortie.

    Raises:
        InvalidInput: an empty code, a negative number. NotFound: an unknown basin or river code.
    """
    for name in ("altitude_m", "area_km2", "length_km", "photo_count"):
        value = getattr(values, name)
        if value is not None and value < 0:
            raise InvalidInput(f"{name} cannot be negative: {value}", field=name, value=value)
    sortie = get_or_create_sortie(session, code, actor=actor, flown_on=values.flown_on)
    plain = {k: v for k, v in asdict(values).items() if v is not None and k not in ("basin_code", "river_code")}
    for key, value in plain.items():
        setattr(sortie, key, value.strip() if isinstance(value, str) else value)
    if values.basin_code:
        basin = session.scalar(select(Basin).where(Basin.code == values.basin_code))
        if basin is None:
            raise NotFound(f"no basin with code {values.basin_code!r}", entity="basin", id=values.basin_code)
        sortie.basin_id = basin.id
    if values.river_code:
        river = session.scalar(select(River).where(River.code == values.river_code))
        if river is None:
            raise NotFound(f"no river with code {values.river_code!r}", entity="river", id=values.river_code)
        sortie.river_id = river.id
        sortie.basin_id = sortie.basin_id or river.basin_id
    session.flush()
    return sortie


@dataclass(frozen=True, slots=True)
class SortieRow:
    """A sortie with its orthophotos, for the flight records table."""

    id: int
    code: str
    flown_on: date | None
    aircraft_type: str | None
    altitude_m: float | None
    area_km2: float | None
    length_km: float | None
    photo_count: int | None
    operator: str | None
    basin: str | None
    river: str | None
    orthophotos: int
    covered_km2: float

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self) | {"flown_on": self.flown_on.isoformat() if self.flown_on else None}


_SORTIES = """
    SELECT s.id, s.code, s.flown_on, s.aircraft_type, s.altitude_m, s.area_km2, s.length_km, s.photo_count,
           s.operator, b.name AS basin, r.name AS river, count(o.id) AS orthophotos,
           coalesce(ST_Area(ST_Union(o.footprint)::geography), 0) / 1e6 AS covered_km2
    FROM sorties s LEFT JOIN basins b ON b.id = s.basin_id LEFT JOIN rivers r ON r.id = s.river_id
    LEFT JOIN orthophotos o ON o.sortie_id = s.id AND {photos}
    WHERE {sorties}
    GROUP BY s.id, b.name, r.name ORDER BY s.flown_on NULLS LAST, s.code
"""


def _filters(scope: Scope) -> dict[str, str]:
    """The scope as SQL text on ``orthophotos o`` and ``sorties s``."""
    visible = select(Orthophoto.id).where(*orthophoto_conditions(scope))
    flown = select(Orthophoto.sortie_id).where(Orthophoto.sortie_id.is_not(None), *orthophoto_conditions(scope))
    return {"photos": sql_filter("o.id", visible, is_national=scope.is_national),
            "sorties": sql_filter("s.id", flown, is_national=scope.is_national)}  # fmt: skip


def list_sorties(session: Session, *, scope: Scope) -> list[SortieRow]:
    """Every sortie of ``scope`` with the orthophotos ingested from it (those in the scope)."""
    return [
        SortieRow(**{**row._asdict(), "covered_km2": round(float(row.covered_km2), 4)})
        for row in session.execute(text(_SORTIES.format(**_filters(scope))))
    ]


@dataclass(frozen=True, slots=True)
class FlightArea:
    """Flight statistics of one basin and river (统计表 of the area flown)."""

    basin: str | None
    river: str | None
    sorties: int
    days: int
    area_km2: float
    length_km: float
    photos: int
    orthophotos: int
    covered_km2: float

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


_AREAS = """
    WITH per_sortie AS (
      SELECT s.id, s.basin_id, s.river_id, s.flown_on, s.area_km2, s.length_km, s.photo_count,
             count(o.id) AS orthophotos, ST_Union(o.footprint) AS covered
      FROM sorties s LEFT JOIN orthophotos o ON o.sortie_id = s.id AND {photos} WHERE {sorties} GROUP BY s.id)
    SELECT b.name AS basin, r.name AS river, count(*) AS sorties, count(DISTINCT p.flown_on) AS days,
           coalesce(sum(p.area_km2), 0) AS area_km2, coalesce(sum(p.length_km), 0) AS length_km,
           coalesce(sum(p.photo_count), 0) AS photos, sum(p.orthophotos) AS orthophotos,
           coalesce(ST_Area(ST_Union(p.covered)::geography), 0) / 1e6 AS covered_km2
    FROM per_sortie p LEFT JOIN basins b ON b.id = p.basin_id LEFT JOIN rivers r ON r.id = p.river_id
    GROUP BY b.name, r.name ORDER BY b.name NULLS LAST, r.name NULLS LAST
"""


def flight_statistics(session: Session, *, scope: Scope) -> list[FlightArea]:
    """Sorties, flying days, area and length flown, photos and covered area per basin and river (the sorties
    and orthophotos of ``scope``).
    """
    return [
        FlightArea(
            basin=r.basin,
            river=r.river,
            sorties=int(r.sorties),
            days=int(r.days),
            area_km2=float(r.area_km2),
            length_km=float(r.length_km),
            photos=int(r.photos),
            orthophotos=int(r.orthophotos),
            covered_km2=round(float(r.covered_km2), 4),
        )  # fmt: skip
        for r in session.execute(text(_AREAS.format(**_filters(scope))))
    ]


_FOOTPRINTS = """
    SELECT coalesce(json_agg(json_build_object('type', 'Feature', 'id', o.id,
      'geometry', ST_AsGeoJSON(o.footprint, 7)::json,
      'properties', json_build_object('id', o.id, 'file', o.file_name, 'captured_on', o.captured_on,
                                      'resolution_m', o.resolution_m)) ORDER BY o.id), '[]'::json)
    FROM orthophotos o WHERE {photos}
"""


def footprints_geojson(session: Session, *, scope: Scope) -> dict[str, Any]:
    """The valid-pixel footprints of the orthophotos of ``scope`` as a GeoJSON FeatureCollection (file name,
    capture day and ground resolution in the properties).
    """
    where = _filters(scope)["photos"]
    features = session.scalar(text(_FOOTPRINTS.format(photos=where)))
    return {"type": "FeatureCollection", "features": features or []}
