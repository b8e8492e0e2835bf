"""Reading the values of survey cells: coordinates (decimal or degrees-minutes-seconds), survey times, text,
photo names, and values made JSON-safe for storing.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from outfalls import clock

_DMS = re.compile(
    r"^\s*([NSEW东西南北])?\s*(-?\d+(?:\.\d+)?)\s*(?:°|度|d|\s)\s*(?:(\d+(?:\.\d+)?)\s*(?:'|′|分|m|\s)\s*)?"
    r"(?:(\d+(?:\.\d+)?)\s*(?:\"|″|''|秒|s)?\s*)?([NSEW东西南北])?\s*$",
    re.IGNORECASE,
)
_HEMI_NEG = {"S", "W", "南", "西"}


def parse_coordinate(value: Any) -> float | None:
    """A coordinate number from a cell: a number, decimal text (a decimal comma is accepted), or degrees-minutes-
    seconds (``108°57'30.5"E``, ``东经108度57分30秒``, ``N34 24.6``). None when empty; ValueError when unreadable.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(str(value))
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("东经", "E").replace("北纬", "N").replace("西经", "W").replace("南纬", "S")
    if not text:
        return None
    plain = text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    try:
        return float(plain)
    except ValueError:
        pass
    match = _DMS.match(text)
    if not match:
        raise ValueError(text)
    hemi_a, deg, minutes, seconds, hemi_b = match.groups()
    result = abs(float(deg)) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    if (minutes and float(minutes) >= 60) or (seconds and float(seconds) >= 60):
        raise ValueError(text)
    hemi = (hemi_a or hemi_b or "").upper()
    return -result if deg.startswith("-") or hemi in _HEMI_NEG else result


_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日%H:%M", "%Y年%m月%d日", "%d/%m/%Y", "%m/%d/%Y",
)  # fmt: skip


def parse_when(value: Any, *, zone: tzinfo | None = None) -> datetime | None:
    """A survey time from a cell (timezone-aware; a time without zone is in ``zone``, by default the programme's,
    China time). None when empty; ValueError when it is not a real date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone or clock.zone())
    if isinstance(value, date):
        return datetime.combine(value, time(12, 0), tzinfo=clock.zone())
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 < value < 80000:  # an Excel serial day number that lost its date format
            return datetime(1899, 12, 30, 12, tzinfo=clock.zone()) + timedelta(days=float(value))
        raise ValueError(str(value))
    text = str(value).strip()
    day = day_only(text)
    if day is not None:  # a day without a time, as every other way of writing one: noon, so no zone moves its day
        return datetime.combine(day, time(12, 0), tzinfo=zone or clock.zone())
    iso = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(iso)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone or clock.zone())
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if "%H" not in fmt:
            parsed = parsed.replace(hour=12)
        return parsed.replace(tzinfo=zone or clock.zone())
    raise ValueError(text)


def day_only(value: Any) -> date | None:
    """The day a cell names when it holds a date without a time (``2015-01-15``, a ``date``), else None."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value.strip()) != 10:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def cell_text(value: Any) -> str | None:
    """A cell as text: spaces stripped, a whole float without its ``.0``; None when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def json_safe(value: Any) -> Any:
    """A cell as JSON keeps it: dates and times in ISO form, a number that is not finite as None."""
    if value is None or value.__class__ is str:  # nearly every cell of a table: nothing to do
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_PHOTO_SPLIT = re.compile(r"[;,，；、\s]+")


def photo_names(value: Any) -> tuple[str, ...]:
    """The photo file names in a cell (several may be listed); directories are dropped."""
    text = cell_text(value)
    if not text:
        return ()
    return tuple(part.replace("\\", "/").rsplit("/", 1)[-1] for part in _PHOTO_SPLIT.split(text) if part)
