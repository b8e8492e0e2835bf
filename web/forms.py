"""Parsing of query strings and forms into domain values; a bad value raises ``InvalidInput`` naming the
parameter, which the error table turns into a 422.
"""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from outfalls.config import Settings
from outfalls.errors import InvalidInput
from outfalls.queries import OutfallFilter
from outfalls.types import BBox, OutfallStatus


def _clean(args: MultiDict[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    return value or None


def parse_filter(args: MultiDict[str, str]) -> OutfallFilter:
    """Filters from ``basin``, ``area``, ``type``, ``status`` and ``q``."""
    status = _clean(args, "status")
    if status is not None and status not in OutfallStatus.__members__.values():
        choices = ", ".join(s.value for s in OutfallStatus)
        raise InvalidInput(f"unknown status {status!r}; use one of {choices}", field="status", value=status)
    return OutfallFilter(
        basin=_clean(args, "basin"),
        area=_clean(args, "area"),
        type_code=_clean(args, "type"),
        status=OutfallStatus(status) if status else None,
        q=_clean(args, "q"),
    )


def parse_int(
    args: MultiDict[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None
) -> int:
    """An integer parameter within bounds."""
    raw = _clean(args, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}", field=name, value=raw) from err
    if value < minimum or (maximum is not None and value > maximum):
        limit = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidInput(f"{name} must be {limit}, not {value}", field=name, value=value)
    return value


def parse_paging(args: MultiDict[str, str], settings: Settings) -> tuple[int, int]:
    """``page`` and ``page_size`` with the configured default and maximum."""
    page = parse_int(args, "page", 1)
    size = parse_int(args, "page_size", settings.list.page_size, maximum=settings.list.max_page_size)
    return page, size


def parse_bbox(args: MultiDict[str, str]) -> BBox | None:
    """``bbox=min_lon,min_lat,max_lon,max_lat`` (CGCS2000 degrees)."""
    raw = _clean(args, "bbox")
    if raw is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in raw.split(","))
    except ValueError as err:
        raise InvalidInput(
            "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat", field="bbox", value=raw
        ) from err
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(
            "bbox must be min_lon,min_lat,max_lon,max_lat within -180..180, -90..90", field="bbox", value=raw
        )
    return (x0, y0, x1, y1)
