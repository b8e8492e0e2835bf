"""COPY of rows in text format: every kind of value reaches the table as it was."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.orm import Session

from outfalls.db.bulk import copy_lines, copy_rows, json_cell, text_cell
from outfalls.types import SurveyLevel


def _table(session: Session) -> None:
    session.execute(text(
        "CREATE TEMPORARY TABLE bulk_probe (t text, n bigint, f float8, b boolean, d date, ts timestamptz, "
        "j jsonb, a integer[], m numeric) ON COMMIT DROP"
    ))  # fmt: skip


def test_text_values_with_special_characters_arrive_unchanged(session: Session) -> None:
    _table(session)
    tricky = "tab\there\\back\nnew\rret 渭河 \\N"
    moment = datetime(2023, 5, 1, 4, 30, tzinfo=UTC)
    copy_rows(session, "bulk_probe", [
        {"t": tricky, "n": 12, "f": 0.1, "b": True, "d": date(2023, 5, 1), "ts": moment,
         "j": Jsonb({"k": "line\nbreak\t\\", "zh": "排口", "x": [1, None]}), "a": [3, 1], "m": Decimal("1.50")},
        {"t": SurveyLevel.FOOT, "b": False, "j": {"plain": "dict"}},
        {"t": None},
    ])  # fmt: skip
    rows = session.execute(text("SELECT t, n, f, b, d, ts, j, a, m FROM bulk_probe")).all()
    assert rows[0] == (tricky, 12, 0.1, True, date(2023, 5, 1), moment,
                       {"k": "line\nbreak\t\\", "zh": "排口", "x": [1, None]}, [3, 1], Decimal("1.50"))  # fmt: skip
    assert rows[1][0] == "foot" and rows[1][3] is False and rows[1][6] == {"plain": "dict"}
    assert rows[2] == (None,) * 9


def test_values_the_formatter_does_not_know_go_through_psycopg(session: Session) -> None:
    _table(session)
    copy_rows(session, "bulk_probe", [{"a": [1, 2]}, {"t": "x", "j": Jsonb(["a"]), "a": [None, 4]}])
    assert session.execute(text("SELECT t, j, a FROM bulk_probe ORDER BY t NULLS FIRST")).all() == [
        (None, None, [1, 2]),
        ("x", ["a"], [None, 4]),
    ]


def test_lines_formatted_cell_by_cell_arrive_unchanged(session: Session) -> None:
    _table(session)
    tricky = "tab\there\\back\nnew\rret 渭河 \\N"
    payload = {"k": "line\nbreak\t\\", "zh": "排口", "x": [1, None]}
    cells = [text_cell(tricky), text_cell(SurveyLevel.DRONE), text_cell(None), text_cell(date(2023, 5, 1)),
             json_cell(payload)]  # fmt: skip
    copy_lines(session, "bulk_probe", ("t", "n", "b", "d", "j"), [
        f"{cells[0]}\t7\t{cells[2]}\t{cells[3]}\t{cells[4]}\n", f"{cells[1]}\t{cells[2]}\tt\t{cells[2]}\t[]\n",
    ])  # fmt: skip
    rows = session.execute(text("SELECT t, n, b, d, j FROM bulk_probe ORDER BY n NULLS LAST")).all()
    assert rows == [(tricky, 7, None, date(2023, 5, 1), payload), ("drone", None, True, None, [])]


def test_a_value_without_text_format_is_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        text_cell(object())
