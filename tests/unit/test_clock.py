"""Unit tests for the programme clock's date parser (no database)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from outfalls import clock
from outfalls.config import PROJECT_DIR
from outfalls.errors import InvalidInput


@pytest.mark.parametrize(("text", "expected"), [("2024-06-30", date(2024, 6, 30)), (" 2024-02-29 ", date(2024, 2, 29))])
def test_parse_day_reads_iso_dates(text: str, expected: date) -> None:
    assert clock.parse_day(text, field="as-of") == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2023-02-30", "2023-13-01", "20240630", "2024-W26-7", "2024/06/30",
                                  "2024-06-30T10:00"])  # fmt: skip
def test_parse_day_refuses_anything_else_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        clock.parse_day(text, field="--as-of")
    assert info.value.params["field"] == "--as-of"
    assert str(info.value) == f"--as-of must be a date like 2024-06-30, not {text!r}"


# A moment's own calendar date (``visited_at.date()``, ``datetime.now(UTC).date()``) is the UTC day for the
# moments the product keeps; the programme's day is ``clock.day_of(moment)`` / ``clock.today()``. From 16:00 UTC
# the two differ (a visit at 01:30 in Xi'an was dated the day before, and today's date was "in the future").
_MOMENT_DATE = re.compile(r"(?:now\([^)]*\)|_at|_on|\bat|\bmoment)\.date\(\)")


def test_no_product_code_takes_the_utc_date_of_a_moment() -> None:
    found = [
        f"{path.relative_to(PROJECT_DIR)}:{n}: {line.strip()}"
        for package in ("outfalls", "web", "imagery")
        for path in sorted((PROJECT_DIR / package).rglob("*.py"))
        if path.name != "clock.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _MOMENT_DATE.search(line)
    ]
    assert found == []
