"""Outfalls per state, area and day (``area_state_days``): kept by the milestones' triggers in step with the
milestones, and what national map tiles count from, so they never read every outfall's milestones."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, true
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import record_event
from outfalls.models import Outfall
from outfalls.progress import outfall_tile
from outfalls.progress.hierarchy import MILESTONES
from outfalls.progress.statedays import counts_as_of, state_days_trigger_sql
from outfalls.progress.tiles import _state_as_of
from outfalls.scope import Scope
from outfalls.types import EventKind
from tests.db.test_progress import decode_mvt
from tests.progress_catalogue import build_catalogue

pytestmark = pytest.mark.usefixtures("clock_edge")
ALL = Scope.national()
DAYS = [date(2022, 12, 31), date(2023, 3, 1), date(2023, 6, 30), date(2023, 12, 20), date(2024, 2, 1),
        date(2024, 12, 31), date(2026, 6, 30)]  # fmt: skip


def from_milestones(session: Session, day: date) -> dict[tuple[int, str], int]:
    m = MILESTONES.c
    state = _state_as_of(day)
    rows = session.execute(
        select(func.coalesce(m.admin_area_id, 0), state, func.count())
        .where(m.found_on <= day)
        .group_by(m.admin_area_id, state)
    )
    return {(a, s): n for a, s, n in rows}


def from_state_days(session: Session, day: date) -> dict[tuple[int, str], int]:
    return {(a, s): n for a, s, n in session.execute(counts_as_of(day, [], lambda _s: true()))}


def test_the_installed_function_is_the_generated_one(session: Session) -> None:
    installed = session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'area_state_days_apply'"))
    assert (installed or "").strip() == state_days_trigger_sql().strip()


def test_state_days_follow_the_milestones(session: Session) -> None:
    cat = build_catalogue(session)
    for day in DAYS:
        assert from_state_days(session, day) == from_milestones(session, day), day
    assert sum(from_state_days(session, DAYS[-1]).values()) == len(cat)
    # an event dated earlier than the milestone moves it back; an outfall moving carries its counts along
    f = session.get(Outfall, cat["F"])
    assert f is not None
    record_event(session, f.id, EventKind.SURVEYED, actor="t", scope=ALL, expected_version=f.version,
                 on=date(2024, 2, 1))  # fmt: skip
    session.execute(text("UPDATE outfalls SET admin_area_id = (SELECT id FROM admin_areas WHERE code = '610112') "
                         "WHERE id = :id"), {"id": f.id})  # fmt: skip
    session.execute(text("DELETE FROM outfall_milestones WHERE outfall_id = :id"), {"id": cat["A"]})
    for day in DAYS:
        assert from_state_days(session, day) == from_milestones(session, day), day


def test_national_tiles_count_from_the_state_days(session: Session) -> None:
    build_catalogue(session)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        today = decode_mvt(outfall_tile(session, 6, 51, 25, scope=ALL))["outfalls"]
        then = decode_mvt(outfall_tile(session, 6, 51, 25, scope=ALL, as_of=date(2023, 6, 30)))["outfalls"]
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    tiles = [s for s in statements if "ST_AsMVT" in s]
    assert len(tiles) == 2 and all("area_state_days" in s and "outfall_milestones" not in s for s in tiles)
    assert sum(f["n"] for f in today) == 5  # C rejected and D merged are left out
    expected = sum(n for (_a, s), n in from_milestones(session, date(2023, 6, 30)).items()
                   if s not in ("rejected", "merged"))  # fmt: skip
    assert sum(f["n"] for f in then) == expected
    assert session.scalar(select(func.count()).select_from(Outfall)) >= 5
