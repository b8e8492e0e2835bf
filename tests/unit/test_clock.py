"""Unit tests for the programme clock's date parser (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from outfalls import clock
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
