"""OGC API – Features (Part 1 Core, Part 2 CRS by reference): the collections served (outfalls, drone
candidates, basins, rivers, administrative areas), their query parameters, and their items as GeoJSON built in
PostGIS. Outfall collections follow the caller's scope; the reference layers are the same for everyone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, Text, and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import JSON as JSON_TYPE

from outfalls import clock
from outfalls.catalogue.queries import OutfallFilter
from outfalls.catalogue.queries import filter_conditions as outfall_conditions
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import AdminArea, Basin, CodeListEntry, Outfall, River
from outfalls.scope import Scope
from outfalls.types import CGCS2000, AdminLevel, BasinLevel, BBox, OutfallStatus, RemediationCategory, SurveyLevel

# -- coordinate reference systems ------------------------------------------------------------------------
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490: Final = "http://www.opengis.net/def/crs/EPSG/0/4490"  # CGCS2000, the storage CRS
EPSG_4326: Final = "http://www.opengis.net/def/crs/EPSG/0/4326"  # WGS 84
SUPPORTED_CRS: Final = (CRS84, EPSG_4490, EPSG_4326)
STORAGE_CRS: Final = EPSG_4490
# The EPSG definitions of 4490 and 4326 order their axes latitude, longitude, and Part 2 requires that order
# for them; CRS84 is longitude, latitude (the GeoJSON default).
LAT_LON_CRS: Final = frozenset({EPSG_4490, EPSG_4326})
# Other spellings clients use for the same CRSs.
_CRS_ALIASES: Final = {
    "EPSG:4490": EPSG_4490, "[EPSG:4490]": EPSG_4490, "urn:ogc:def:crs:EPSG::4490": EPSG_4490,
    "EPSG:4326": EPSG_4326, "[EPSG:4326]": EPSG_4326, "urn:ogc:def:crs:EPSG::4326": EPSG_4326,
    "OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84, "urn:ogc:def:crs:OGC:1.3:CRS84": CRS84,
    "https://www.opengis.net/def/crs/OGC/1.3/CRS84": CRS84,
    "https://www.opengis.net/def/crs/EPSG/0/4490": EPSG_4490,
    "https://www.opengis.net/def/crs/EPSG/0/4326": EPSG_4326,
}  # fmt: skip
# Coordinates are stored in CGCS2000 and served as stored for every CRS offered: CGCS2000 and WGS 84 agree to
# a few centimetres, and PROJ's transformation between them is the null one (PostGIS ST_Transform(4490 → 4326)
# returns the same numbers), so only the axis order differs.

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 10_000
TRS: Final = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
# Query parameters of every items request (the web layer handles ``f``).
STANDARD_PARAMETERS: Final = frozenset({"bbox", "bbox-crs", "datetime", "limit", "offset", "crs"})


@dataclass(frozen=True, slots=True)
class Property:
    """A property of a collection's features, as JSON Schema sees it."""

    name: str
    type: str  # JSON Schema type: string, integer, number, boolean
    format: str | None = None  # "date" for ISO dates
    is_filter: bool = False  # usable as ``name=value`` on the items
    choices: tuple[str, ...] = ()  # the values allowed, when the property is a code


@dataclass(frozen=True, slots=True)
class Collection:
    """A feature collection: its id, geometry type, properties and what its items may be filtered on."""

    id: str
    geometry_type: str  # GeoJSON geometry type of its features
    properties: tuple[Property, ...]
    temporal: str | None = None  # the date property ``datetime`` filters on
    is_scoped: bool = False  # filtered by the caller's scope (the outfall collections)

    @property
    def filters(self) -> tuple[Property, ...]:
        """The properties usable as filters."""
        return tuple(p for p in self.properties if p.is_filter)

    @property
    def parameters(self) -> frozenset[str]:
        """Every query parameter an items request of this collection accepts (but ``f``)."""
        return STANDARD_PARAMETERS | {p.name for p in self.filters}


_STATUS = tuple(s.value for s in OutfallStatus)
_OUTFALL_PROPERTIES = (
    Property("id", "integer"),
    Property("name", "string"),
    Property("national_code", "string", is_filter=True),
    Property("local_code", "string", is_filter=True),
    Property("type_code", "string", is_filter=True),  # matches the type's descendants too
    Property("type_zh", "string"),
    Property("type_en", "string"),
    Property("status", "string", is_filter=True, choices=_STATUS),
    Property("status_since", "string", "date"),
    Property("found_by", "string", is_filter=True, choices=tuple(s.value for s in SurveyLevel)),
    Property("found_on", "string", "date"),
    Property("basin", "string", is_filter=True),  # a basin or sub-basin code: matches either
    Property("basin_name", "string"),
    Property("sub_basin", "string"),
    Property("sub_basin_name", "string"),
    Property("river", "string"),
    Property("area", "string", is_filter=True),  # GB/T 2260 code: matches the areas under it too
    Property("area_name", "string"),
    Property("receiving_water", "string"),
    Property("is_discharging", "boolean"),
    Property("last_sampled_on", "string", "date"),
    Property("exceeds_limit", "boolean"),
    Property("responsible_party", "string"),
    Property("remediation_category", "string", is_filter=True, choices=tuple(c.value for c in RemediationCategory)),
    Property("assigned_to", "string", is_filter=True),
    Property("case_deadline", "string", "date"),
    Property("is_demo", "boolean"),
    Property("version", "integer"),
)

COLLECTIONS: Final = (
    Collection("outfalls", "Point", _OUTFALL_PROPERTIES, temporal="found_on", is_scoped=True),
    # Drone candidates: suspected outfalls not yet verified on the ground (state ``candidate``).
    Collection(
        "candidates",
        "Point",
        tuple(Property("status", "string") if p.name == "status" else p for p in _OUTFALL_PROPERTIES),
        temporal="found_on",
        is_scoped=True,
    ),
    Collection(
        "basins",
        "MultiPolygon",
        (
            Property("id", "integer"),
            Property("code", "string", is_filter=True),
            Property("name", "string"),
            Property("name_en", "string"),
            Property("level", "string", is_filter=True, choices=tuple(v.value for v in BasinLevel)),
            Property("parent", "string", is_filter=True),
            Property("area_km2", "number"),
        ),
    ),
    Collection(
        "rivers",
        "MultiLineString",
        (
            Property("id", "integer"),
            Property("code", "string", is_filter=True),
            Property("name", "string", is_filter=True),
            Property("basin", "string", is_filter=True),  # a basin or sub-basin code: matches either
            Property("sub_basin", "string"),
            Property("length_km", "number"),
        ),
    ),
    Collection(
        "admin_areas",
        "MultiPolygon",
        (
            Property("id", "integer"),
            Property("code", "string", is_filter=True),
            Property("name", "string", is_filter=True),
            Property("level", "string", is_filter=True, choices=tuple(v.value for v in AdminLevel)),
            Property("parent", "string", is_filter=True),
            Property("code_version", "string"),
        ),
    ),
)
_BY_ID: Final = {c.id: c for c in COLLECTIONS}


def get_collection(collection_id: str) -> Collection:
    """The collection named ``collection_id``.

    Raises:
        NotFound: no such collection.
    """
    collection = _BY_ID.get(collection_id)
    if collection is None:
        raise NotFound(f"there is no collection {collection_id!r}", entity="collection", id=collection_id)
    return collection


# -- parsing the query parameters ---------------------------------------------------------------------------
def parse_crs(value: str | None, *, name: str = "crs") -> str:
    """The canonical URI of a CRS parameter (CRS84 when absent).

    Raises:
        InvalidInput: a CRS this service does not offer.
    """
    if value is None or not value.strip():
        return CRS84
    raw = value.strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1]
    uri = raw if raw in SUPPORTED_CRS else _CRS_ALIASES.get(raw)
    if uri is None:
        offered = ", ".join(SUPPORTED_CRS)
        raise InvalidInput(f"{name}: unsupported CRS {value!r}; use one of {offered}", field=name, value=value)
    return uri


def parse_bbox(value: str | None, *, crs: str = CRS84) -> list[BBox]:
    """``bbox`` as lon/lat envelopes (two when it crosses the antimeridian), its numbers read in the axis
    order of ``crs`` (latitude first for EPSG:4490 and EPSG:4326); 6 numbers (with heights) are accepted.

    Raises:
        InvalidInput: not 4 or 6 numbers, out of range, or the south edge above the north edge.
    """
    if value is None or not value.strip():
        return []
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError as err:
        raise InvalidInput("bbox must be 4 or 6 comma-separated numbers", field="bbox", value=value) from err
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InvalidInput("bbox must be 4 or 6 comma-separated numbers", field="bbox", value=value)
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a, b, c, d = numbers
    x0, y0, x1, y1 = (b, a, d, c) if crs in LAT_LON_CRS else (a, b, c, d)
    order = "min_lat,min_lon,max_lat,max_lon" if crs in LAT_LON_CRS else "min_lon,min_lat,max_lon,max_lat"
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(f"bbox must be {order} within -180..180 and -90..90", field="bbox", value=value)
    if x0 > x1:  # crosses the antimeridian
        return [(x0, y0, 180.0, y1), (-180.0, y0, x1, y1)]
    return [(x0, y0, x1, y1)]


@dataclass(frozen=True, slots=True)
class DayRange:
    """The local days (UTC+8) a ``datetime`` parameter covers; None = open."""

    first: date | None
    last: date | None


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _moment_day(raw: str) -> date:
    """The local day of an RFC 3339 date or date-time."""
    # a '+' of an offset that was not percent-encoded in the URL arrives as a space
    text_ = re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw.strip())
    try:
        if _DATE.match(text_):
            return date.fromisoformat(text_)
        moment = datetime.fromisoformat(text_.replace("z", "Z"))
    except ValueError as err:
        raise InvalidInput(
            f"datetime: {raw!r} is not an RFC 3339 date or date-time", field="datetime", value=raw
        ) from err
    if moment.tzinfo is None:
        raise InvalidInput(f"datetime: {raw!r} needs a time zone (Z or +08:00)", field="datetime", value=raw)
    return clock.day_of(moment)


def parse_datetime(value: str | None) -> DayRange | None:
    """``datetime``: an instant or an interval ``start/end`` (``..`` or empty = open) as local days; a day
    matches when it overlaps the instant or interval.

    Raises:
        InvalidInput: not RFC 3339, or an interval that ends before it starts.
    """
    if value is None or not value.strip():
        return None
    raw = value.strip()
    if "/" not in raw:
        day = _moment_day(raw)
        return DayRange(day, day)
    parts = raw.split("/")
    if len(parts) != 2:
        raise InvalidInput("datetime: an interval is start/end", field="datetime", value=value)
    first = None if parts[0].strip() in ("", "..") else _moment_day(parts[0])
    last = None if parts[1].strip() in ("", "..") else _moment_day(parts[1])
    if first is not None and last is not None and first > last:
        raise InvalidInput("datetime: the interval ends before it starts", field="datetime", value=value)
    return DayRange(first, last)


def _parse_int(value: str | None, name: str, default: int, lowest: int, highest: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError as err:
        raise InvalidInput(f"{name} must be a whole number, not {value!r}", field=name, value=value) from err
    if not lowest <= number <= highest:
        raise InvalidInput(f"{name} must be between {lowest} and {highest}, not {number}", field=name, value=number)
    return number


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """What an items request asks for, validated."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: tuple[BBox, ...] = ()  # lon/lat envelopes
    bbox_crs: str = CRS84
    days: DayRange | None = None
    crs: str = CRS84
    filters: Mapping[str, str] = field(default_factory=dict)


def parse_item_query(collection: Collection, params: Mapping[str, str]) -> ItemQuery:
    """Validate the query parameters of an items request.

    Raises:
        InvalidInput: an unknown parameter, or a bad value of any (bbox, datetime, limit, offset, crs,
            bbox-crs, or a filter with a value the property cannot take).
    """
    unknown = sorted(set(params) - collection.parameters)
    if unknown:
        known = ", ".join(sorted(collection.parameters))
        raise InvalidInput(f"unknown parameter {unknown[0]!r}; this collection takes {known}", field=unknown[0])
    bbox_crs = parse_crs(params.get("bbox-crs"), name="bbox-crs")
    days = parse_datetime(params.get("datetime"))
    if days is not None and collection.temporal is None:
        raise InvalidInput(f"datetime: collection {collection.id!r} has no time to filter on", field="datetime")
    filters: dict[str, str] = {}
    for prop in collection.filters:
        raw = params.get(prop.name)
        if raw is None or not raw.strip():
            continue
        if prop.choices and raw.strip() not in prop.choices:
            choices = ", ".join(prop.choices)
            raise InvalidInput(f"{prop.name}: unknown value {raw!r}; use one of {choices}", field=prop.name, value=raw)
        filters[prop.name] = raw.strip()
    return ItemQuery(
        limit=_parse_int(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_parse_int(params.get("offset"), "offset", 0, 0, 2**31 - 1),
        bbox=tuple(parse_bbox(params.get("bbox"), crs=bbox_crs)),
        bbox_crs=bbox_crs,
        days=days,
        crs=parse_crs(params.get("crs")),
        filters=filters,
    )


# -- the SQL of each collection -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Source:
    """Where a collection's features come from: the main table's id and geometry, the properties (with the
    joins they need, applied to one page of ids), and the conditions on the main table.
    """

    id: Any
    geom: Any
    main: FromClause
    joined: Callable[[FromClause], FromClause]  # adds the joins the properties need
    properties: list[tuple[str, Any]]
    conditions: list[ColumnElement[bool]]
    precision: int  # decimals of the coordinates served


def _outfall_source(session: Session, collection: Collection, filters: Mapping[str, str], scope: Scope) -> _Source:
    status = filters.get("status")
    category = filters.get("remediation_category")
    flt = OutfallFilter(
        basin=filters.get("basin"),
        area=filters.get("area"),
        type_code=filters.get("type_code"),
        status=OutfallStatus.CANDIDATE if collection.id == "candidates" else OutfallStatus(status) if status else None,
        category=RemediationCategory(category) if category else None,
        assigned_to=filters.get("assigned_to"),
    )
    cond = outfall_conditions(session, flt, scope)
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
    return _Source(Outfall.id, Outfall.geom, Outfall.__table__, joined, props, cond, 7)


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


def _source(session: Session, collection: Collection, filters: Mapping[str, str], scope: Scope) -> _Source:
    if collection.is_scoped:
        return _outfall_source(session, collection, filters, scope)
    if collection.id == "basins":
        return _basin_source(session, filters)
    if collection.id == "rivers":
        return _river_source(session, filters)
    return _area_source(session, filters)


def _found_on(collection: Collection) -> Any:
    return Outfall.found_on if collection.temporal == "found_on" else None


def _query_conditions(collection: Collection, source: _Source, query: ItemQuery) -> list[ColumnElement[bool]]:
    cond = list(source.conditions)
    if query.bbox:
        envelopes = [func.ST_MakeEnvelope(x0, y0, x1, y1, CGCS2000) for x0, y0, x1, y1 in query.bbox]
        if collection.geometry_type == "Point":
            # for points the bounding-box operator is exact and uses the index without a recheck
            tests = [source.geom.op("&&")(e) for e in envelopes]
        else:
            tests = [func.ST_Intersects(source.geom, e) for e in envelopes]
        cond.append(or_(*tests))
    day_column = _found_on(collection)
    if query.days is not None and day_column is not None:
        if query.days.first is not None:
            cond.append(day_column >= query.days.first)
        if query.days.last is not None:
            cond.append(day_column <= query.days.last)
    return cond


def _feature(source: _Source, crs: str) -> ColumnElement[Any]:
    geom = func.ST_FlipCoordinates(source.geom) if crs in LAT_LON_CRS else source.geom
    properties = func.json_build_object(*[part for name, column in source.properties for part in (name, column)])
    return func.json_build_object(
        "type", "Feature", "id", source.id,
        "geometry", func.ST_AsGeoJSON(geom, source.precision, 0).cast(JSON_TYPE),
        "properties", properties,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemsPage:
    """One page of a collection's items: the features as a JSON array (text, passed through as built by
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


def get_items(session: Session, collection: Collection, query: ItemQuery, *, scope: Scope) -> ItemsPage:
    """One page of items, ordered by id, with their total.

    Raises:
        InvalidInput: an unknown basin or a malformed area code in the filters.
    """
    source = _source(session, collection, query.filters, scope)
    cond = _query_conditions(collection, source, query)
    matched = session.scalar(select(func.count()).select_from(source.main).where(*cond)) or 0
    page = (
        select(source.id.label("id"))
        .select_from(source.main)
        .where(*cond)
        .order_by(source.id)
        .limit(query.limit)
        .offset(query.offset)
        .subquery("page")
    )
    rows = select(page.c.id, _feature(source, query.crs).label("f")).select_from(source.joined(page)).subquery()
    aggregate = select(
        func.coalesce(func.json_agg(aggregate_order_by(rows.c.f, rows.c.id)), text("'[]'::json")).cast(Text),
        func.count(),
    ).select_from(rows)
    features, returned = session.execute(aggregate).one()
    return ItemsPage(str(features), matched, int(returned), query.limit, query.offset)


def get_item(session: Session, collection: Collection, feature_id: str, *, crs: str, scope: Scope) -> dict[str, Any]:
    """One feature of a collection (GeoJSON, coordinates in ``crs``).

    Raises:
        NotFound: no such feature in the collection (or outside the caller's scope).
    """
    if not feature_id.isdigit() or len(feature_id) > 18:
        raise NotFound(f"there is no feature {feature_id!r} in {collection.id!r}", entity="feature", id=feature_id)
    source = _source(session, collection, {}, scope)
    page = (
        select(source.id.label("id"))
        .select_from(source.main)
        .where(*source.conditions, source.id == int(feature_id))
        .subquery("page")
    )
    found = session.scalar(select(_feature(source, crs).cast(Text)).select_from(source.joined(page)))
    if found is None:
        raise NotFound(f"there is no feature {feature_id!r} in {collection.id!r}", entity="feature", id=feature_id)
    feature: dict[str, Any] = json.loads(found)
    return feature


@dataclass(frozen=True, slots=True)
class Extent:
    """A collection's extent: lon/lat bounding box (None when empty) and first and last day (temporal ones)."""

    bbox: BBox | None
    first_day: date | None = None
    last_day: date | None = None


def collection_extent(session: Session, collection: Collection, *, scope: Scope) -> Extent:
    """The extent of what the caller sees of a collection."""
    source = _source(session, collection, {}, scope)
    box = func.ST_Extent(source.geom)
    columns: list[Any] = [func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box)]
    day_column = _found_on(collection)
    if day_column is not None:
        columns += [func.min(day_column), func.max(day_column)]
    row = session.execute(select(*columns).select_from(source.main).where(*source.conditions)).one()
    bbox = None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    if day_column is None:
        return Extent(bbox)
    return Extent(bbox, row[4], row[5])


def day_start(day: date) -> str:
    """The RFC 3339 moment a local day starts (for temporal extents)."""
    return datetime.combine(day, datetime.min.time(), tzinfo=clock.zone()).isoformat()


def day_end(day: date) -> str:
    """The RFC 3339 moment a local day ends (the last second of it)."""
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=clock.zone()) - timedelta(seconds=1)
    return end.isoformat()
