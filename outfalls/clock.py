"""The programme's one clock: "now", "today", the calendar day of a moment and the moment of a day.

Field work, deadlines and targets are counted in local calendar days of the programme's time zone
(``[programme] timezone``, default ``Asia/Shanghai``), whatever zone the server runs in. Every date and
time the product reads or writes goes through here, so a page, an export and the database agree at 23:30
UTC as at noon. The zone is process-wide: ``configure`` is called once with the settings at start (CLI,
web app, tests).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outfalls.errors import ConfigError, InvalidInput

DEFAULT_ZONE = "Asia/Shanghai"
_EVENT_HOUR = time(12, 0)  # an event of a local day is stored at local noon: far from either midnight

_MAX_OFFSET = timedelta(hours=12)
_zone: ZoneInfo = ZoneInfo(DEFAULT_ZONE)
# Only the ISO calendar date with dashes: Python also reads ``20240630`` and ``2024-W26-7``, which a user
# typing a date never means.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        ConfigError: no such zone, or one 12 hours or more from UTC.
    """
    try:
        found = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"configuration key 'programme.timezone': unknown time zone {name!r}",
                          key="programme.timezone") from err
    for month in (1, 7):  # winter and summer time
        offset = datetime(2026, month, 1, 12, tzinfo=found).utcoffset() or timedelta(0)
        if abs(offset) >= _MAX_OFFSET:
            # an event of a day is stored at local noon, and SQL reads its day as the UTC date of that moment
            raise ConfigError(f"configuration key 'programme.timezone': {name!r} is {offset} from UTC; "
                              "the programme's zone must be within 11 hours of UTC", key="programme.timezone")
    return found


def configure(name: str) -> None:
    """Set the programme's time zone for this process."""
    global _zone
    _zone = zone_named(name)


def zone() -> tzinfo:
    """The programme's time zone."""
    return _zone


def zone_name() -> str:
    """The programme's time zone's IANA name, as PostgreSQL's ``AT TIME ZONE`` takes it."""
    return _zone.key


def now() -> datetime:
    """The current moment (timezone-aware, UTC)."""
    return datetime.now(UTC)


def moment_problem(moment: datetime, what: str) -> tuple[str, str] | None:
    """What is wrong with a moment a person entered (``what``: "the visit time"): no zone, or in the future;
    as (message, reason), or None when it is fine.
    """
    if moment.tzinfo is None:
        return f"{what} needs a time zone", "time_zone"
    if moment > now():
        return f"{what} is in the future", "future"
    return None


def today() -> date:
    """The programme's calendar day now."""
    return datetime.now(_zone).date()


def local(moment: datetime) -> datetime:
    """``moment`` in the programme's time zone (a naive moment is taken as local already)."""
    return moment.replace(tzinfo=_zone) if moment.tzinfo is None else moment.astimezone(_zone)


def day_of(moment: datetime) -> date:
    """The programme's calendar day of ``moment`` (a naive moment is taken as local)."""
    return local(moment).date()


def event_time(day: date) -> datetime:
    """The moment recorded for an event of the local day ``day``: local noon, in UTC."""
    return datetime.combine(day, _EVENT_HOUR, tzinfo=_zone).astimezone(UTC)


def start_of_day(day: date) -> datetime:
    """The first moment of the local day ``day`` (UTC)."""
    return datetime.combine(day, time(0, 0), tzinfo=_zone).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The first moment after the local day ``day`` (UTC): "as of ``day``" means before it."""
    return start_of_day(day + timedelta(days=1))


def parse_day(text: str, *, field: str) -> date:
    """The calendar day written ``YYYY-MM-DD`` (surrounding spaces ignored).

    Args:
        text: What the user typed.
        field: The name of the field, option or parameter, for the message.

    Raises:
        InvalidInput: not a date of that form, or no such day (2023-02-30).
    """
    raw = text.strip()
    if _ISO_DAY.fullmatch(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise InvalidInput(f"{field} must be a date like 2024-06-30, not {text!r}", field=field, value=text)
