"""The query parameters of OGC API – Features: ``crs`` and ``bbox-crs`` (as URIs), ``bbox``, ``datetime``,
``limit``, ``offset`` and the collections' property filters, read into plain values for the domain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from outfalls import clock, geo
from outfalls.catalogue.features import DayRange
from outfalls.errors import InvalidInput
from outfalls.types import BBox
from web.api.ogc.collections import Collection

CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490: Final = "http://www.opengis.net/def/crs/EPSG/0/4490"  # CGCS2000, the storage CRS
EPSG_4326: Final = "http://www.opengis.net/def/crs/EPSG/0/4326"  # WGS 84
SUPPORTED_CRS: Final = (CRS84, EPSG_4490, EPSG_4326)
STORAGE_CRS: Final = EPSG_4490
# Coordinates are stored in CGCS2000 and served as stored for every CRS offered: CGCS2000 and WGS 84 agree to
# a few centimetres, and PROJ's transformation between them is the null one (PostGIS ST_Transform(4490 → 4326)
# returns the same numbers), so only the axis order differs.
_URI_OF: Final = {geo.CRS84: CRS84, "EPSG:4490": EPSG_4490, "EPSG:4326": EPSG_4326}
# The EPSG definitions of 4490 and 4326 order their axes latitude, longitude, and Part 2 requires that order
# for them; CRS84 is longitude, latitude (the GeoJSON default).
LAT_LON_CRS: Final = frozenset({EPSG_4490, EPSG_4326})

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 10_000
TRS: Final = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


def parse_crs(value: str | None, *, name: str = "crs") -> str:
    """The URI of a CRS parameter (CRS84 when absent), from any spelling :func:`outfalls.geo.parse_crs` reads.

    Raises:
        InvalidInput: a CRS this service does not offer.
    """
    if value is None or not value.strip():
        return CRS84
    try:
        uri = _URI_OF.get(geo.parse_crs(value, field=name))
    except InvalidInput:
        uri = None
    if uri is None:
        offered = ", ".join(SUPPORTED_CRS)
        raise InvalidInput(f"{name}: unsupported CRS {value!r}; use one of {offered}", field=name, value=value)
    return uri


_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def _moment_day(raw: str) -> date:
    """The programme's local day of an RFC 3339 date or date-time."""
    # a '+' of an offset that was not percent-encoded in the URL arrives as a space
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw.strip())
    if _DATE.fullmatch(text):
        return clock.parse_day(text, field="datetime")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as err:
        raise InvalidInput(
            f"datetime: {raw!r} is not an RFC 3339 date or date-time", field="datetime", value=raw
        ) from err
    if moment.tzinfo is None:
        raise InvalidInput(f"datetime: {raw!r} needs a time zone (Z or +08:00)", field="datetime", value=raw)
    return clock.day_of(moment)


def parse_datetime(value: str | None) -> DayRange | None:
    """``datetime``: an instant or an interval ``start/end`` (``..`` or empty = open) as the programme's local
    days; a day matches when it overlaps the instant or interval.

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
    bbox: BBox | None = None  # (west, south, east, north) in degrees, longitude first
    bbox_crs: str = CRS84
    days: DayRange | None = None
    crs: str = CRS84
    filters: Mapping[str, str] = field(default_factory=dict)

    @property
    def lat_first(self) -> bool:
        """True when the coordinates are to be written latitude first."""
        return self.crs in LAT_LON_CRS


def parse_item_query(collection: Collection, params: Mapping[str, str]) -> ItemQuery:
    """Validate the query parameters of an items request (but ``f``).

    Raises:
        InvalidInput: an unknown parameter, or a bad value of bbox, datetime, limit, offset, crs or bbox-crs.
    """
    unknown = sorted(set(params) - collection.parameters)
    if unknown:
        known = ", ".join(sorted(collection.parameters))
        raise InvalidInput(f"unknown parameter {unknown[0]!r}; this collection takes {known}", field=unknown[0])
    for name, value in params.items():  # PostgreSQL text cannot hold NUL: a filter value with one matches nothing
        if "\x00" in value:
            raise InvalidInput(f"{name}: a value cannot contain a NUL character", field=name)
    bbox_crs = parse_crs(params.get("bbox-crs"), name="bbox-crs")
    days = parse_datetime(params.get("datetime"))
    if days is not None and collection.temporal is None:
        raise InvalidInput(f"datetime: collection {collection.id!r} has no time to filter on", field="datetime")
    # the domain checks the values (code lists, basins, areas)
    filters = {p.name: params[p.name] for p in collection.filters if p.name in params}
    raw_bbox = params.get("bbox")
    bbox = None
    if raw_bbox is not None and raw_bbox.strip():
        bbox = geo.parse_bbox(raw_bbox, lat_first=bbox_crs in LAT_LON_CRS)
    return ItemQuery(
        limit=_parse_int(params.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_parse_int(params.get("offset"), "offset", 0, 0, 2**31 - 1),
        bbox=bbox,
        bbox_crs=bbox_crs,
        days=days,
        crs=parse_crs(params.get("crs")),
        filters=filters,
    )
