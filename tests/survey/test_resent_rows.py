"""A record sent again is compared as sent: the same text is already received at once, a value that differs only
in how a table app writes it (``1`` and ``"1"``) is the same record, and ``True`` is not ``1``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.survey.intake import import_table
from outfalls.survey.readers import RawTable


def _table(flags: list[Any]) -> RawTable:
    rows = [{"id": f"r{i}", "lon": f"{108.90 + i * 0.01:.5f}", "lat": "34.40", "flag": flag} for i, flag in
            enumerate(flags)]  # fmt: skip
    return RawTable(source="crew.xlsx", columns=list(rows[0]), rows=rows, row_numbers=list(range(2, len(rows) + 2)))


def _import(session: Session, settings: Settings, flags: list[Any]):
    return import_table(session, _table(flags), settings=settings, actor="crew1", crs="wgs84",
                        mapping={"client_id": "id"})  # fmt: skip


def test_a_record_sent_again_is_compared_as_sent(session: Session, settings: Settings) -> None:
    first = _import(session, settings, [1, "yes", None])
    assert first.accepted == 3
    same = _import(session, settings, ["1", "yes", None])
    assert (same.accepted, same.already_received, same.rejected) == (0, 3, [])
    changed = _import(session, settings, [True, "yes ", "no"])
    assert (changed.accepted, changed.already_received) == (0, 1)
    assert [(p.row, p.code) for p in changed.rejected] == [(2, "conflicting_resend"), (4, "conflicting_resend")]
