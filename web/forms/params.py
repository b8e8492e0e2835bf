"""Query-string parameters (filters, paging, dates, boxes) read into domain values; a bad one raises
``InvalidInput`` naming it.
"""

from __future__ import annotations

import math
from datetime import date

from werkzeug.datastructures import MultiDict

from outfalls import clock, geo
from outfalls.catalogue.queries import OutfallFilter
from outfalls.config import Settings
from outfalls.errors import InvalidInput
from outfalls.types import (
    BBox,
    OutfallStatus,
    RemediationCategory,
)
from web.db import MAX_ID

# The longest file name file systems take (ext4, NTFS, APFS: 255 bytes, or UTF-16 units); a longer one could not
# be saved under its own name by whoever downloads it.
MAX_FILE_NAME_BYTES = 255


def _clean(args: MultiDict[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    _refuse_nul(value, name)
    return value or None


def _refuse_nul(value: str, name: str) -> None:
    """PostgreSQL text cannot hold a NUL character, and nobody types one: refuse it as the field's mistake."""
    if "\x00" in value:
        raise InvalidInput(f"{name} contains a NUL character", field=name, value=value.replace("\x00", "\\0"))


def _finite(value: float, name: str, raw: str) -> float:
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, not {raw!r}", field=name, value=raw, reason="number")
    return value


def parse_filter(args: MultiDict[str, str], *, me: str | None = None) -> OutfallFilter:
    """Filters from ``basin``, ``area``, ``type``, ``status``, ``q``, ``assigned`` (a login, ``me`` or ``none``),
    ``category`` and ``keep``.
    """
    status = _clean(args, "status")
    if status is not None and status not in OutfallStatus.__members__.values():
        choices = ", ".join(s.value for s in OutfallStatus)
        raise InvalidInput(f"unknown status {status!r}; use one of {choices}", field="status", value=status)
    category = _clean(args, "category")
    if category is not None and category not in RemediationCategory.__members__.values():
        choices = ", ".join(c.value for c in RemediationCategory)
        raise InvalidInput(f"unknown category {category!r}; use one of {choices}", field="category", value=category)
    assigned = _clean(args, "assigned")
    return OutfallFilter(
        basin=_clean(args, "basin"),
        area=_clean(args, "area"),
        type_code=_clean(args, "type"),
        status=OutfallStatus(status) if status else None,
        q=_clean(args, "q"),
        assigned_to=(me if assigned == "me" else assigned) if assigned not in (None, "none") else None,
        unassigned=assigned == "none",
        category=RemediationCategory(category) if category else None,
        keep=_clean(args, "keep") in ("1", "on", "true"),
    )


def parse_int(
    args: MultiDict[str, str], name: str, default: int, *, minimum: int = 1, maximum: int = MAX_ID
) -> int:
    """An integer parameter within bounds (at most a database integer: page numbers, ids, versions)."""
    raw = _clean(args, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}", field=name, value=raw) from err
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{name} must be between {minimum} and {maximum}, not {value}", field=name, value=raw)
    return value


def parse_paging(args: MultiDict[str, str], settings: Settings) -> tuple[int, int]:
    """``page`` and ``page_size`` with the configured default and maximum."""
    page = parse_int(args, "page", 1)
    size = parse_int(args, "page_size", settings.list.page_size, maximum=settings.list.max_page_size)
    return page, size


def parse_date(args: MultiDict[str, str], name: str) -> date | None:
    """An optional ``YYYY-MM-DD`` parameter."""
    raw = _clean(args, name)
    if raw is None:
        return None
    return clock.parse_day(raw, field=name)


def parse_bbox(args: MultiDict[str, str]) -> BBox | None:
    """``bbox=min_lon,min_lat,max_lon,max_lat`` (CGCS2000 degrees)."""
    raw = _clean(args, "bbox")
    if raw is None:
        return None
    x0, y0, x1, y1 = geo.parse_bbox(raw, field="bbox")
    if x0 > x1:  # the map's own boxes never cross the antimeridian (China lies far from it)
        raise InvalidInput("bbox must be min_lon,min_lat,max_lon,max_lat with min_lon <= max_lon", field="bbox",
                           value=raw)  # fmt: skip
    return (x0, y0, x1, y1)
