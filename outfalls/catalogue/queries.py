"""Reads for pages, the JSON API and the CLI: outfall lists, details, map features and reference layers,
so that every consumer reports the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, bindparam, func, literal, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import JSON as JSON_TYPE

from outfalls.errors import InvalidInput, NotFound
from outfalls.models import AdminArea, Basin, CodeListEntry, Event, ObservationLink, Outfall, River, User
from outfalls.scope import Scope, area_prefix
from outfalls.types import AdminLevel, BasinLevel, BBox, OutfallStatus, RemediationCategory


@dataclass(frozen=True, slots=True)
class OutfallFilter:
    """Filters shared by the list, the map and exports; all optional."""

    basin: str | None = None  # basin or sub-basin code
    area: str | None = None  # GB/T 2260 code of a province, city or county
    type_code: str | None = None  # a code of the HJ 1312 type tree; matches its descendants too
    status: OutfallStatus | None = None
    q: str | None = None  # text in the name or either code
    assigned_to: str | None = None  # login of the case officer
    unassigned: bool = False  # only cases nobody has been given
    category: RemediationCategory | None = None  # remediation category (整治类型)
    keep: bool = False  # only the outfalls that stay (需保留): brought up to standard or needing no remediation


# The outfalls that remain after remediation (需保留清单): not banned, not merged away, not rejected.
KEEP_CATEGORIES = (RemediationCategory.STANDARDISE, RemediationCategory.NONE_NEEDED)


@dataclass(frozen=True, slots=True)
class OutfallRow:
    """One line of the outfall list."""

    id: int
    name: str
    national_code: str | None
    local_code: str | None
    type_code: str
    type_zh: str | None
    type_en: str | None
    status: str
    status_since: date
    basin: str | None
    sub_basin: str | None
    river: str | None
    area_code: str | None
    area: str | None
    found_by: str
    found_on: date
    lon: float
    lat: float
    is_demo: bool
    exceeds_limit: bool | None  # the latest judged results were over the applicable limit
    version: int
    assigned_to: str | None
    case_deadline: date | None
    remediation_category: str | None
    assigned_name: str | None = None  # the case officer's display name


@dataclass(frozen=True, slots=True)
class OutfallPage:
    """A page of the outfall list."""

    items: list[OutfallRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event of an outfall's history."""

    id: int
    kind: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutfallDetail:
    """Everything the detail page shows."""

    row: OutfallRow
    version: int
    national_code_provenance: str
    local_code_provenance: str
    name_provenance: str
    type_scheme: str
    type_raw: str | None
    type_path: list[tuple[str, str, str]]  # (code, zh, en) from the top class down
    receiving_water: str | None
    admin_path: list[tuple[str, str]]  # (code, name) from the province down
    responsible_party: str | None
    remediation_category: str | None
    is_discharging: bool | None
    last_sampled_on: date | None
    observation_count: int
    events: list[EventRow]
    merged_into_id: int | None = None  # the outfall it was merged into (a duplicate, or a remediation merge)


# The largest row offset PostgreSQL takes (a bigint): a page beyond it is a mistake, not an empty page.
MAX_OFFSET = 2**63 - 1

TYPE_SCHEME = "HJ1312"  # the outfall type tree the filters and facets offer (HJ 1312-2023)

SubBasin = aliased(Basin)
TopBasin = aliased(Basin)


def _area_prefix(code: str) -> str:
    if len(code) != 6 or not code.isdigit():
        raise InvalidInput(f"area code must be six digits (GB/T 2260), not {code!r}", field="area", value=code)
    return area_prefix(code)


def filter_conditions(session: Session, f: OutfallFilter, scope: Scope) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Outfall`` for ``f`` within ``scope``: the one definition the list, the map, bulk work,
    registers and the OGC API share.

    Raises:
        InvalidInput: an unknown basin code or a malformed area code.
    """
    cond: list[ColumnElement[bool]] = scope.conditions()
    if f.basin:
        basin_id = session.scalar(select(Basin.id).where(Basin.code == f.basin))
        if basin_id is None:
            raise InvalidInput(f"unknown basin code {f.basin!r}", field="basin", value=f.basin)
        cond.append(or_(Outfall.basin_id == basin_id, Outfall.sub_basin_id == basin_id))
    if f.area:
        prefix = _area_prefix(f.area)
        cond.append(Outfall.admin_area_id.in_(select(AdminArea.id).where(AdminArea.code.like(prefix + "%"))))
    if f.type_code:
        # Codes are per scheme ('4' is 其他排口 in HJ 1312 but 雨洪排口 in the Shaanxi 2020 list): filter in the tree.
        code = f.type_code
        cond.append(
            and_(
                Outfall.type_scheme == TYPE_SCHEME,
                or_(Outfall.type_code == code, Outfall.type_code.startswith(code + ".", autoescape=True)),
            )
        )
    if f.status:
        cond.append(Outfall.status == f.status)
    if f.assigned_to:
        cond.append(Outfall.assigned_to == f.assigned_to)
    if f.unassigned:
        cond.append(Outfall.assigned_to.is_(None))
    if f.category:
        cond.append(Outfall.remediation_category == f.category)
    if f.keep:
        cond.append(Outfall.remediation_category.in_(KEEP_CATEGORIES))
        cond.append(Outfall.status.not_in((OutfallStatus.REJECTED, OutfallStatus.MERGED)))
    if f.q and f.q.strip():
        q = f.q.strip()  # literal text: '%' and '_' typed by a user are not wildcards
        cond.append(
            or_(
                Outfall.name.icontains(q, autoescape=True),
                Outfall.national_code.icontains(q, autoescape=True),
                Outfall.local_code.icontains(q, autoescape=True),
            )
        )
    return cond


# The outfall columns a list row needs. The rows are chosen from ``outfalls`` alone and only then joined to their
# labels: planned as one join of outfalls with the six label tables, PostgreSQL spent 60–150 ms planning (the
# type label's two-column join multiplies the join orders it weighs) for 2–9 ms of execution; the page first,
# then the joins on its rows, plans in about 1 ms.
_ROW_SOURCE = (
    Outfall.id, Outfall.name, Outfall.national_code, Outfall.local_code, Outfall.type_scheme, Outfall.type_code,
    Outfall.status, Outfall.status_since, Outfall.basin_id, Outfall.sub_basin_id, Outfall.river_id,
    Outfall.admin_area_id, Outfall.found_by, Outfall.found_on, Outfall.geom, Outfall.is_demo, Outfall.exceeds_limit,
    Outfall.version, Outfall.assigned_to, Outfall.case_deadline, Outfall.remediation_category,
)  # fmt: skip


def _row_select(chosen: Select[*tuple[Any, ...]] | None = None) -> tuple[Select[*tuple[Any, ...]], Any]:
    """The list rows of the outfalls ``chosen`` selects (a select of ``_ROW_SOURCE``; every outfall when None), and
    the chosen outfalls as an entity to order the rows by.
    """
    o: Any = Outfall if chosen is None else aliased(Outfall, chosen.subquery("chosen"))
    query = (
        select(
            o.id, o.name, o.national_code, o.local_code, o.type_code, CodeListEntry.label_zh, CodeListEntry.label_en,
            o.status, o.status_since, TopBasin.name, SubBasin.name, River.name, AdminArea.code, AdminArea.name,
            o.found_by, o.found_on, func.ST_X(o.geom), func.ST_Y(o.geom), o.is_demo, o.exceeds_limit, o.version,
            o.assigned_to, o.case_deadline, o.remediation_category, User.display_name,
        )
        .select_from(o)
        .outerjoin(CodeListEntry, and_(CodeListEntry.scheme == o.type_scheme, CodeListEntry.code == o.type_code))
        .outerjoin(TopBasin, TopBasin.id == o.basin_id)
        .outerjoin(SubBasin, SubBasin.id == o.sub_basin_id)
        .outerjoin(River, River.id == o.river_id)
        .outerjoin(AdminArea, AdminArea.id == o.admin_area_id)
        .outerjoin(User, User.login == o.assigned_to)
    )  # fmt: skip
    return query, o


def _to_row(r: Any) -> OutfallRow:
    # positional, in _row_select's order: a list page builds fifty of these per request
    category = r[23]
    return OutfallRow(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], str(r[7]), r[8], r[9], r[10], r[11], r[12], r[13], str(r[14]),
        r[15], float(r[16]), float(r[17]), r[18], r[19], r[20], r[21], r[22],
        str(category) if category is not None else None, r[24],
    )  # fmt: skip


def list_outfalls(
    session: Session, f: OutfallFilter, *, scope: Scope, page: int = 1, page_size: int = 50
) -> OutfallPage:
    """A page of outfalls matching ``f``, newest first, and their total, in one statement (the count is an
    uncorrelated subquery PostgreSQL runs once); a page past the end counts apart.

    Raises:
        InvalidInput: an unknown basin code, a malformed area code, or a page below 1.
    """
    if page < 1 or page_size < 1:
        raise InvalidInput("page and page size must be at least 1", field="page")
    if (page - 1) * page_size > MAX_OFFSET:
        raise InvalidInput(f"page {page} is beyond any list", field="page", value=page)
    cond = filter_conditions(session, f, scope)
    count = select(func.count()).select_from(Outfall).where(*cond).correlate(None)
    chosen = select(*_ROW_SOURCE).where(*cond).order_by(Outfall.id.desc()).limit(page_size)
    query, o = _row_select(chosen.offset((page - 1) * page_size))
    rows = session.execute(query.add_columns(count.scalar_subquery()).order_by(o.id.desc())).all()
    if rows:
        total = int(rows[0][-1])
    else:  # nothing on the first page is nothing at all
        total = 0 if page == 1 else session.scalar(count) or 0
    return OutfallPage(items=[_to_row(r) for r in rows], total=total, page=page, page_size=page_size)


def matching_ids(session: Session, f: OutfallFilter, *, scope: Scope, limit: int) -> list[int]:
    """The ids of the outfalls matching ``f`` (at most ``limit``, oldest first): a selection for bulk work.

    Raises:
        InvalidInput: an unknown basin code or a malformed area code.
    """
    return list(session.scalars(select(Outfall.id).where(*filter_conditions(session, f, scope)).order_by(Outfall.id)
                                .limit(limit)))  # fmt: skip


# The type path (code, zh, en) and the administrative path (code, name) of the outfall row of the enclosing query,
# from the top down: names only, never an area's boundary polygon (a province's is ~300 KB).
_TYPE_PATH = literal_column(
    """(WITH RECURSIVE up (code, zh, en, parent, depth) AS (
    SELECT t.code, t.label_zh, t.label_en, t.parent_code, 0 FROM code_lists t
    WHERE t.scheme = outfalls.type_scheme AND t.code = outfalls.type_code
    UNION ALL
    SELECT p.code, p.label_zh, p.label_en, p.parent_code, up.depth + 1
    FROM code_lists p JOIN up ON p.scheme = outfalls.type_scheme AND p.code = up.parent)
  SELECT json_agg(json_build_array(code, zh, en) ORDER BY depth DESC) FROM up)""",
    JSON_TYPE,
)
_ADMIN_PATH = literal_column(
    """(WITH RECURSIVE up (code, name, parent, depth) AS (
    SELECT t.code, t.name, t.parent_id, 0 FROM admin_areas t WHERE t.id = outfalls.admin_area_id
    UNION ALL
    SELECT p.code, p.name, p.parent_id, up.depth + 1 FROM admin_areas p JOIN up ON p.id = up.parent)
  SELECT json_agg(json_build_array(code, name) ORDER BY depth DESC) FROM up)""",
    JSON_TYPE,
)


def _detail_select() -> Select[*tuple[Any, ...]]:
    """The list's row with everything else the detail page shows (columns 25 on), in one statement."""
    observations = (
        select(func.count())
        .select_from(ObservationLink)
        .where(ObservationLink.outfall_id == Outfall.id, ObservationLink.unlinked_at.is_(None))
        .scalar_subquery()
    )
    return _row_select()[0].add_columns(
        Outfall.national_code_provenance, Outfall.local_code_provenance, Outfall.name_provenance,
        Outfall.type_scheme, Outfall.type_raw, Outfall.receiving_water, Outfall.responsible_party,
        Outfall.is_discharging, Outfall.last_sampled_on, Outfall.merged_into_id, observations, _TYPE_PATH, _ADMIN_PATH,
    )  # fmt: skip


# Built once: a statement object reused keeps its cache key, so a call neither rebuilds nor re-traverses it.
_DETAIL = _detail_select().where(Outfall.id == bindparam("outfall_id"))
_TIMELINE = (
    select(Event.id, Event.kind, Event.effective_at, Event.recorded_at, Event.actor, Event.payload)
    .where(Event.outfall_id == bindparam("outfall_id"))
    .order_by(Event.effective_at, Event.id)
)


def get_outfall(session: Session, outfall_id: int, *, scope: Scope) -> OutfallDetail:
    """One outfall with its history, type path and administrative path: two statements, the outfall with its
    paths and observation count, then its events.

    Raises:
        NotFound: no such outfall, or one outside ``scope``.
    """
    cond = scope.one_row_conditions()
    session.flush()  # plain rows through the session's connection: what the session holds unwritten goes first
    db = session.connection()
    r = db.execute(_DETAIL.where(*cond) if cond else _DETAIL, {"outfall_id": outfall_id}).first()
    if r is None:  # outside the scope reads exactly like missing
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    events = [
        EventRow(e[0], e[1].value, e[2], e[3], e[4], e[5]) for e in db.execute(_TIMELINE, {"outfall_id": outfall_id})
    ]
    row = _to_row(r)
    return OutfallDetail(
        row=row,
        version=row.version,
        national_code_provenance=r[25].value,
        local_code_provenance=r[26].value,
        name_provenance=r[27].value,
        type_scheme=r[28],
        type_raw=r[29],
        type_path=[(c, zh, en) for c, zh, en in r[36] or ()],
        receiving_water=r[30],
        admin_path=[(c, name) for c, name in r[37] or ()],
        responsible_party=r[31],
        remediation_category=row.remediation_category,
        is_discharging=r[32],
        last_sampled_on=r[33],
        observation_count=r[35] or 0,
        events=events,
        merged_into_id=r[34],
    )


def map_outfalls_geojson(session: Session, f: OutfallFilter, bbox: BBox | None, *, scope: Scope, limit: int) -> str:
    """Outfalls as GeoJSON text (a FeatureCollection in CGCS2000 lon/lat), built entirely in PostGIS and
    passed through as text, because parsing and re-serialising tens of thousands of features in Python
    costs more than the query.

    At most ``limit`` features; ``truncated`` says when there were more, so the map can ask to zoom in. A
    filtered answer with no ``bbox`` asked for also holds the GeoJSON ``bbox`` of every outfall it matches (null
    when none does), so the map can zoom to the result.

    Raises:
        InvalidInput: a bbox with min above max.
    """
    cond = filter_conditions(session, f, scope)
    extra: list[Any] = []
    if bbox is None and f != OutfallFilter():
        # min/max of the coordinates, not ST_Extent, whose box is rounded outwards to single precision
        box = session.execute(select(func.min(func.ST_X(Outfall.geom)), func.min(func.ST_Y(Outfall.geom)),
                                     func.max(func.ST_X(Outfall.geom)), func.max(func.ST_Y(Outfall.geom)))
                              .where(*cond)).one()  # fmt: skip
        # widened to the features' 6 decimals, so that it holds them as sent
        out = None if box[0] is None else [math.floor(box[0] * 1e6) / 1e6, math.floor(box[1] * 1e6) / 1e6,
                                           math.ceil(box[2] * 1e6) / 1e6, math.ceil(box[3] * 1e6) / 1e6]  # fmt: skip
        extra = ["bbox", literal(json.dumps(out)).cast(JSON_TYPE)]
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        if x0 > x1 or y0 > y1:
            raise InvalidInput("bbox must be min_lon,min_lat,max_lon,max_lat", field="bbox")
        cond.append(Outfall.geom.intersects(func.ST_MakeEnvelope(x0, y0, x1, y1, 4490)))
    inner = (
        select(Outfall.id, Outfall.name, Outfall.status, Outfall.type_code, Outfall.is_demo, Outfall.geom)
        .where(*cond)
        .order_by(Outfall.id)
        .limit(limit + 1)
        .subquery()
    )
    # the (limit + 1)th row only tells that there is more: aggregate the first ``limit`` rows
    ranked = select(inner, func.row_number().over(order_by=inner.c.id).label("rn")).subquery()
    feature = func.json_build_object(
        "type", "Feature", "id", ranked.c.id,
        "geometry", func.ST_AsGeoJSON(ranked.c.geom, 6, 0).cast(JSON_TYPE),
        "properties", func.json_build_object(
            "name", ranked.c.name, "status", ranked.c.status, "type", ranked.c.type_code, "demo", ranked.c.is_demo
        ),
    )  # fmt: skip
    collection = func.json_build_object(
        "type", "FeatureCollection",
        "features", func.coalesce(
            func.json_agg(aggregate_order_by(feature, ranked.c.id)).filter(ranked.c.rn <= limit),
            text("'[]'::json"),
        ),
        "truncated", func.count() > limit,
        *extra,
    )  # fmt: skip
    return str(session.execute(select(collection.cast(Text)).select_from(ranked)).scalar_one())


def map_outfalls(session: Session, f: OutfallFilter, bbox: BBox | None, *, scope: Scope, limit: int) -> dict[str, Any]:
    """:func:`map_outfalls_geojson` parsed into a dict (for callers that inspect the features)."""
    result: dict[str, Any] = json.loads(map_outfalls_geojson(session, f, bbox, scope=scope, limit=limit))
    return result


REFERENCE_LAYERS = ("basins", "sub_basins", "rivers", "provinces", "cities", "counties")
DEFAULT_TOLERANCE_DEG = 0.002  # what the maps draw; rivers are simplified to half of it
_SHAPES = text("SELECT id, properties, geometry FROM reference_layer_shapes WHERE layer = :layer ORDER BY code")


def reference_layer(session: Session, layer: str, *, tolerance_deg: float | None = None) -> dict[str, Any]:
    """A reference layer (``basins``, ``sub_basins``, ``rivers``, ``provinces``, ``cities``, ``counties``)
    as GeoJSON, simplified for display: at the default tolerance as kept with the reference data (the materialized
    view ``reference_layer_shapes``, migration 0021), at another one worked out now.

    Raises:
        NotFound: an unknown layer name.
    """
    if layer not in REFERENCE_LAYERS:
        raise NotFound(f"no reference layer named {layer!r}", entity="layer", id=layer)
    if tolerance_deg is None:
        kept = session.execute(_SHAPES, {"layer": layer})
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": i, "geometry": json.loads(g) if g else None, "properties": props}
            for i, props, g in kept]}  # fmt: skip
    if layer in ("basins", "sub_basins"):
        level = BasinLevel.BASIN if layer == "basins" else BasinLevel.SUB_BASIN
        sql = (
            "SELECT b.id, b.code, b.name, b.name_en, p.code AS parent, "
            "ST_AsGeoJSON(ST_SimplifyPreserveTopology(b.geom, :tol), 5, 0)::json AS g "
            "FROM basins b LEFT JOIN basins p ON p.id = b.parent_id WHERE b.level = :level"
        )
        params: dict[str, Any] = {"tol": tolerance_deg, "level": level.value}
        keys = ["code", "name", "name_en", "parent"]
    elif layer == "rivers":
        sql = (
            "SELECT r.id, r.code, r.name, r.length_km, b.code AS basin, "
            "ST_AsGeoJSON(ST_SimplifyPreserveTopology(r.geom, :tol), 5, 0)::json AS g FROM rivers r "
            "LEFT JOIN basins b ON b.id = r.basin_id"
        )
        params = {"tol": tolerance_deg / 2}
        keys = ["code", "name", "length_km", "basin"]
    elif layer in ("provinces", "cities", "counties"):
        level_map = {"provinces": AdminLevel.PROVINCE, "cities": AdminLevel.CITY, "counties": AdminLevel.COUNTY}
        sql = (
            "SELECT a.id, a.code, a.name, p.code AS parent, "
            "ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, :tol), 5, 0)::json AS g "
            "FROM admin_areas a LEFT JOIN admin_areas p ON p.id = a.parent_id "
            "WHERE a.level = :level AND a.geom IS NOT NULL"
        )
        params = {"tol": tolerance_deg, "level": level_map[layer].value}
        keys = ["code", "name", "parent"]
    else:
        raise NotFound(f"no reference layer named {layer!r}", entity="layer", id=layer)
    features = []
    for r in session.execute(text(sql + " ORDER BY 2"), params).mappings():
        features.append({"type": "Feature", "id": r["id"], "geometry": r["g"], "properties": {k: r[k] for k in keys}})
    return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True, slots=True)
class Facets:
    """Choices for the filter controls."""

    basins: list[tuple[str, str, str]]  # (code, name, level)
    areas: list[tuple[str, str, str]]  # (code, name, level)
    types: list[tuple[str, str, str, int]]  # (code, zh, en, level)
    statuses: list[str]


def facets(session: Session, *, scope: Scope) -> Facets:
    """The values the filters offer: basins, areas, types and statuses in use."""
    used = set(session.scalars(select(Outfall.sub_basin_id).where(*scope.conditions()).distinct()))
    basins = [
        (b.code, b.name, b.level.value)
        for b in session.scalars(select(Basin).order_by(Basin.level, Basin.code))
        if b.level is BasinLevel.BASIN or b.id in used
    ]
    areas = [
        (a.code, a.name, a.level.value)
        for a in session.scalars(select(AdminArea).order_by(AdminArea.code))
        if scope.covers_area(a.code)
    ]
    types = [
        (e.code, e.label_zh, e.label_en, e.level)
        for e in session.scalars(
            select(CodeListEntry).where(CodeListEntry.scheme == TYPE_SCHEME).order_by(CodeListEntry.sort_order)
        )
    ]
    return Facets(basins=basins, areas=areas, types=types, statuses=[s.value for s in OutfallStatus])


def status_counts(session: Session, f: OutfallFilter, *, scope: Scope) -> dict[str, int]:
    """How many outfalls are in each lifecycle state (matching ``f``)."""
    rows = session.execute(
        select(Outfall.status, func.count()).where(*filter_conditions(session, f, scope)).group_by(Outfall.status)
    ).all()
    return {(s.value if hasattr(s, "value") else str(s)): n for s, n in rows}


def scope_extent(session: Session, scope: Scope) -> BBox | None:
    """The bounding box of a scope's administrative areas (None for national scope or no geometry)."""
    if scope.is_national or not scope.area_codes:
        return None
    prefixes = [area_prefix(c) + "%" for c in scope.area_codes]
    box = session.execute(
        select(
            func.ST_XMin(func.ST_Extent(AdminArea.geom)),
            func.ST_YMin(func.ST_Extent(AdminArea.geom)),
            func.ST_XMax(func.ST_Extent(AdminArea.geom)),
            func.ST_YMax(func.ST_Extent(AdminArea.geom)),
        ).where(or_(*(AdminArea.code.like(p) for p in prefixes)))
    ).one()
    if box[0] is None:
        return None
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
