"""Features for GIS clients: the layers served (outfalls, drone candidates, basins, rivers, administrative
areas) and their features as GeoJSON built in PostGIS, one page at a time, with their extent. Outfall layers
follow the caller's scope; the reference layers are the same for everyone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, Text, and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import JSON as JSON_TYPE

from outfalls.catalogue.queries import OutfallFilter, filter_conditions
from outfalls.errors import InvalidInput, NotFound
from outfalls.geo import split_antimeridian
from outfalls.models import AdminArea, Basin, CodeListEntry, Outfall, River
from outfalls.scope import Scope
from outfalls.types import CGCS2000, AdminLevel, BasinLevel, BBox, OutfallStatus, RemediationCategory, SurveyLevel

_OUTFALL_FILTERS = ("national_code", "local_code", "type_code", "status", "found_by", "basin", "area",
                    "remediation_category", "assigned_to")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Layer:
    """A layer of features: its geometry, the properties it can be filtered on and the day property (if any)."""

    id: str
    geometry_type: str  # GeoJSON geometry type of its features
    filters: tuple[str, ...]  # property names usable as filters (exact match, except where noted in the SQL)
    day_property: str | None = None  # the date property a day range filters on
    is_scoped: bool = False  # filtered by the caller's scope (the outfall layers)


LAYERS: Final = (
    Layer("outfalls", "Point", _OUTFALL_FILTERS, day_property="found_on", is_scoped=True),
    # Drone candidates: suspected outfalls not yet verified on the ground (state ``candidate``).
    Layer("candidates", "Point", tuple(f for f in _OUTFALL_FILTERS if f != "status"), day_property="found_on",
          is_scoped=True),
    Layer("basins", "MultiPolygon", ("code", "level", "parent")),
    Layer("rivers", "MultiLineString", ("code", "name", "basin")),
    Layer("admin_areas", "MultiPolygon", ("code", "name", "level", "parent")),
)  # fmt: skip
_BY_ID: Final = {layer.id: layer for layer in LAYERS}

# The code lists of the filters that take one.
_CHOICES: Final[Mapping[str, Mapping[str, type[StrEnum]]]] = {
    "outfalls": {"status": OutfallStatus, "found_by": SurveyLevel, "remediation_category": RemediationCategory},
    "candidates": {"found_by": SurveyLevel, "remediation_category": RemediationCategory},
    "basins": {"level": BasinLevel},
    "admin_areas": {"level": AdminLevel},
}


def choices(layer_id: str, name: str) -> tuple[str, ...]:
    """The values the filter ``name`` of a layer takes; () when it takes any text."""
    enum = _CHOICES.get(layer_id, {}).get(name)
    return tuple(v.value for v in enum) if enum else ()


def get_layer(layer_id: str) -> Layer:
    """The layer named ``layer_id``.

    Raises:
        NotFound: no such layer.
    """
    layer = _BY_ID.get(layer_id)
    if layer is None:
        raise NotFound(f"there is no collection {layer_id!r}", entity="collection", id=layer_id)
    return layer


@dataclass(frozen=True, slots=True)
class DayRange:
    """The local days a filter covers, both included; None = open."""

    first: date | None
    last: date | None


def _clean_filters(layer: Layer, filters: Mapping[str, str]) -> dict[str, str]:
    """The filters with a value, each checked against the layer's filters and code lists."""
    clean: dict[str, str] = {}
    for name, raw in filters.items():
        if name not in layer.filters:
            known = ", ".join(layer.filters)
            raise InvalidInput(f"{name}: {layer.id!r} cannot be filtered on it; use {known}", field=name)
        value = raw.strip()
        if not value:
            continue
        values = choices(layer.id, name)
        if values and value not in values:
            raise InvalidInput(f"{name}: unknown value {raw!r}; use one of {', '.join(values)}", field=name, value=raw)
        clean[name] = value
    return clean


# -- the SQL of each layer -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Source:
    """Where a layer's features come from: the main table's id and geometry, the properties (with the joins
    they need, applied to one page of ids), and the conditions on the main table.
    """

    id: Any
    geom: Any
    main: FromClause
    joined: Callable[[FromClause], FromClause]  # adds the joins the properties need
    properties: list[tuple[str, Any]]
    conditions: list[ColumnElement[bool]]
    precision: int  # decimals of the coordinates served
    day: Any = None  # the date column a day range filters on


def _outfall_source(session: Session, layer: Layer, filters: Mapping[str, str], scope: Scope) -> _Source:
    status = filters.get("status")
    category = filters.get("remediation_category")
    flt = OutfallFilter(
        basin=filters.get("basin"),
        area=filters.get("area"),
        type_code=filters.get("type_code"),
        status=OutfallStatus.CANDIDATE if layer.id == "candidates" else OutfallStatus(status) if status else None,
        category=RemediationCategory(category) if category else None,
        assigned_to=filters.get("assigned_to"),
    )
    cond = filter_conditions(session, flt, scope)
    if "found_by" in filters:
        cond.append(Outfall.found_by == SurveyLevel(filters["found_by"]))
    for name, column in (("national_code", Outfall.national_code), ("local_code", Outfall.local_code)):
        if name in filters:
            cond.append(column == filters[name])
    top, sub = aliased(Basin), aliased(Basin)

    def joined(page: FromClause) -> FromClause:
        return (
            page.join(Outfall, Outfall.id == page.c.id)
            .outerjoin(
                CodeListEntry,
                and_(CodeListEntry.scheme == Outfall.type_scheme, CodeListEntry.code == Outfall.type_code),
            )
            .outerjoin(top, top.id == Outfall.basin_id)
            .outerjoin(sub, sub.id == Outfall.sub_basin_id)
            .outerjoin(River, River.id == Outfall.river_id)
            .outerjoin(AdminArea, AdminArea.id == Outfall.admin_area_id)
        )

    props: list[tuple[str, Any]] = [
        ("id", Outfall.id), ("name", Outfall.name), ("national_code", Outfall.national_code),
        ("local_code", Outfall.local_code), ("type_code", Outfall.type_code), ("type_zh", CodeListEntry.label_zh),
        ("type_en", CodeListEntry.label_en), ("status", Outfall.status), ("status_since", Outfall.status_since),
        ("found_by", Outfall.found_by), ("found_on", Outfall.found_on), ("basin", top.code),
        ("basin_name", top.name), ("sub_basin", sub.code), ("sub_basin_name", sub.name), ("river", River.name),
        ("area", AdminArea.code), ("area_name", AdminArea.name), ("receiving_water", Outfall.receiving_water),
        ("is_discharging", Outfall.is_discharging), ("last_sampled_on", Outfall.last_sampled_on),
        ("exceeds_limit", Outfall.exceeds_limit), ("responsible_party", Outfall.responsible_party),
        ("remediation_category", Outfall.remediation_category), ("assigned_to", Outfall.assigned_to),
        ("case_deadline", Outfall.case_deadline), ("is_demo", Outfall.is_demo), ("version", Outfall.version),
    ]  # fmt: skip
    return _Source(Outfall.id, Outfall.geom, Outfall.__table__, joined, props, cond, 7, day=Outfall.found_on)


def _basin_id(session: Session, code: str) -> int:
    basin_id = session.scalar(select(Basin.id).where(Basin.code == code))
    if basin_id is None:
        raise InvalidInput(f"unknown basin code {code!r}", field="basin", value=code)
    return basin_id


def _basin_source(session: Session, filters: Mapping[str, str]) -> _Source:
    parent = aliased(Basin)
    cond: list[ColumnElement[bool]] = []
    if "code" in filters:
        cond.append(Basin.code == filters["code"])
    if "level" in filters:
        cond.append(Basin.level == BasinLevel(filters["level"]))
    if "parent" in filters:
        cond.append(Basin.parent_id.in_(select(parent.id).where(parent.code == filters["parent"])))

    def joined(page: FromClause) -> FromClause:
        return page.join(Basin, Basin.id == page.c.id).outerjoin(parent, parent.id == Basin.parent_id)

    props: list[tuple[str, Any]] = [
        ("id", Basin.id), ("code", Basin.code), ("name", Basin.name), ("name_en", Basin.name_en),
        ("level", Basin.level), ("parent", parent.code), ("area_km2", Basin.area_km2),
    ]  # fmt: skip
    return _Source(Basin.id, Basin.geom, Basin.__table__, joined, props, cond, 6)


def _river_source(session: Session, filters: Mapping[str, str]) -> _Source:
    top, sub = aliased(Basin), aliased(Basin)
    cond: list[ColumnElement[bool]] = []
    if "code" in filters:
        cond.append(River.code == filters["code"])
    if "name" in filters:
        cond.append(River.name == filters["name"])
    if "basin" in filters:
        basin_id = _basin_id(session, filters["basin"])
        cond.append(or_(River.basin_id == basin_id, River.sub_basin_id == basin_id))

    def joined(page: FromClause) -> FromClause:
        return (
            page.join(River, River.id == page.c.id)
            .outerjoin(top, top.id == River.basin_id)
            .outerjoin(sub, sub.id == River.sub_basin_id)
        )

    props: list[tuple[str, Any]] = [
        ("id", River.id), ("code", River.code), ("name", River.name), ("basin", top.code),
        ("sub_basin", sub.code), ("length_km", River.length_km),
    ]  # fmt: skip
    return _Source(River.id, River.geom, River.__table__, joined, props, cond, 6)


def _area_source(session: Session, filters: Mapping[str, str]) -> _Source:
    parent = aliased(AdminArea)
    cond: list[ColumnElement[bool]] = []
    if "code" in filters:
        cond.append(AdminArea.code == filters["code"])
    if "name" in filters:
        cond.append(AdminArea.name == filters["name"])
    if "level" in filters:
        cond.append(AdminArea.level == AdminLevel(filters["level"]))
    if "parent" in filters:
        cond.append(AdminArea.parent_id.in_(select(parent.id).where(parent.code == filters["parent"])))

    def joined(page: FromClause) -> FromClause:
        return page.join(AdminArea, AdminArea.id == page.c.id).outerjoin(parent, parent.id == AdminArea.parent_id)

    props: list[tuple[str, Any]] = [
        ("id", AdminArea.id), ("code", AdminArea.code), ("name", AdminArea.name), ("level", AdminArea.level),
        ("parent", parent.code), ("code_version", AdminArea.code_version),
    ]  # fmt: skip
    return _Source(AdminArea.id, AdminArea.geom, AdminArea.__table__, joined, props, cond, 6)


def _source(session: Session, layer: Layer, filters: Mapping[str, str], scope: Scope) -> _Source:
    if layer.is_scoped:
        return _outfall_source(session, layer, filters, scope)
    if layer.id == "basins":
        return _basin_source(session, filters)
    if layer.id == "rivers":
        return _river_source(session, filters)
    return _area_source(session, filters)


def _conditions(layer: Layer, source: _Source, bbox: BBox | None, days: DayRange | None) -> list[ColumnElement[bool]]:
    cond = list(source.conditions)
    if bbox is not None:
        envelopes = [func.ST_MakeEnvelope(x0, y0, x1, y1, CGCS2000) for x0, y0, x1, y1 in split_antimeridian(bbox)]
        if layer.geometry_type == "Point":
            # for points the bounding-box operator is exact and uses the index without a recheck
            tests = [source.geom.op("&&")(e) for e in envelopes]
        else:
            tests = [func.ST_Intersects(source.geom, e) for e in envelopes]
        cond.append(or_(*tests))
    if days is not None:
        if source.day is None:
            raise InvalidInput(f"{layer.id} have no day to filter on", field="days")
        if days.first is not None:
            cond.append(source.day >= days.first)
        if days.last is not None:
            cond.append(source.day <= days.last)
    return cond


def _feature(source: _Source, lat_first: bool) -> ColumnElement[Any]:
    geom = func.ST_FlipCoordinates(source.geom) if lat_first else source.geom
    properties = func.json_build_object(*[part for name, column in source.properties for part in (name, column)])
    return func.json_build_object(
        "type", "Feature", "id", source.id,
        "geometry", func.ST_AsGeoJSON(geom, source.precision, 0).cast(JSON_TYPE),
        "properties", properties,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemsPage:
    """One page of a layer's features: the features as a JSON array (text, passed through as built by
    PostGIS), how many match, and how many are on this page.
    """

    features_json: str
    number_matched: int
    number_returned: int
    limit: int
    offset: int

    @property
    def has_next(self) -> bool:
        """True when more matching features follow this page."""
        return self.offset + self.number_returned < self.number_matched

    def features(self) -> list[dict[str, Any]]:
        """The features parsed (for pages that show them)."""
        parsed: list[dict[str, Any]] = json.loads(self.features_json)
        return parsed


def get_items(
    session: Session,
    layer_id: str,
    *,
    scope: Scope,
    limit: int,
    offset: int = 0,
    bbox: BBox | None = None,
    days: DayRange | None = None,
    filters: Mapping[str, str] | None = None,
    lat_first: bool = False,
) -> ItemsPage:
    """One page of a layer's features, ordered by id, with their total.

    Args:
        session: The database session.
        layer_id: The layer (:data:`LAYERS`).
        scope: What the caller may see (outfall layers).
        limit: The most features on the page.
        offset: How many matching features come before the page.
        bbox: Only features meeting this ``(west, south, east, north)`` box in degrees (west > east: across
            the antimeridian).
        days: Only features whose day property falls in these local days.
        filters: ``property name → value`` (empty values ignored).
        lat_first: Write coordinates latitude first (EPSG axis order of 4490 and 4326).

    Raises:
        NotFound: no such layer.
        InvalidInput: a filter the layer does not take, a value its code list does not hold, an unknown basin,
            a malformed area code, or a day range on a layer without days.
    """
    layer = get_layer(layer_id)
    source = _source(session, layer, _clean_filters(layer, filters or {}), scope)
    cond = _conditions(layer, source, bbox, days)
    matched = session.scalar(select(func.count()).select_from(source.main).where(*cond)) or 0
    page = (
        select(source.id.label("id"))
        .select_from(source.main)
        .where(*cond)
        .order_by(source.id)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    rows = select(page.c.id, _feature(source, lat_first).label("f")).select_from(source.joined(page)).subquery()
    aggregate = select(
        func.coalesce(func.json_agg(aggregate_order_by(rows.c.f, rows.c.id)), text("'[]'::json")).cast(Text),
        func.count(),
    ).select_from(rows)
    features, returned = session.execute(aggregate).one()
    return ItemsPage(str(features), matched, int(returned), limit, offset)


def get_item(
    session: Session, layer_id: str, feature_id: int, *, scope: Scope, lat_first: bool = False
) -> dict[str, Any]:
    """One feature of a layer (GeoJSON).

    Raises:
        NotFound: no such layer, or no such feature in it (or outside the caller's scope).
    """
    layer = get_layer(layer_id)
    source = _source(session, layer, {}, scope)
    page = (
        select(source.id.label("id"))
        .select_from(source.main)
        .where(*source.conditions, source.id == feature_id)
        .subquery("page")
    )
    found = session.scalar(select(_feature(source, lat_first).cast(Text)).select_from(source.joined(page)))
    if found is None:
        raise NotFound(f"there is no feature {feature_id} in {layer.id!r}", entity="feature", id=feature_id)
    feature: dict[str, Any] = json.loads(found)
    return feature


@dataclass(frozen=True, slots=True)
class Extent:
    """A layer's extent: lon/lat bounding box (None when empty) and first and last day (layers with days)."""

    bbox: BBox | None
    first_day: date | None = None
    last_day: date | None = None


def layer_extent(session: Session, layer_id: str, *, scope: Scope) -> Extent:
    """The extent of what the caller sees of a layer.

    Raises:
        NotFound: no such layer.
    """
    source = _source(session, get_layer(layer_id), {}, scope)
    box = func.ST_Extent(source.geom)
    columns: list[Any] = [func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box)]
    if source.day is not None:
        columns += [func.min(source.day), func.max(source.day)]
    row = session.execute(select(*columns).select_from(source.main).where(*source.conditions)).one()
    bbox = None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    if source.day is None:
        return Extent(bbox)
    return Extent(bbox, row[4], row[5])
