"""The milestones and the counts per area and day after a bulk ``create_outfalls`` (several blocks, one statement
of events) are those a recomputation from scratch gives, and those the functions of revisions 0017/0018 kept,
through later edits, moves and deletions too.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import date
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from outfalls.catalogue import lifecycle
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, record_event
from outfalls.catalogue.transitions import milestone_trigger_sql
from outfalls.db.engine import MIGRATIONS_DIR
from outfalls.models import Outfall
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, SurveyLevel
from tests.db.test_milestone_days import random_catalogue
from tests.progress_catalogue import P1, P2, build_catalogue

pytestmark = pytest.mark.usefixtures("clock_edge")
ALL = Scope.national()
LOCATION = "admin_area_id, basin_id, sub_basin_id, river_id"
COUNTS = {  # the days as text: Python has no infinite date; rows that add up to nothing say nothing
    "area_state_days": f"SELECT day::text, state, {LOCATION}, n FROM area_state_days WHERE n <> 0",
    "area_milestone_days": f"SELECT day::text, metric, {LOCATION}, n FROM area_milestone_days WHERE n <> 0",
    "area_milestone_months": f"SELECT month::text, metric, {LOCATION}, n FROM area_milestone_months WHERE n <> 0",
    "area_milestone_years": f"SELECT year::text, metric, {LOCATION}, n FROM area_milestone_years WHERE n <> 0",
}
MILESTONES = "SELECT * FROM outfall_milestones"


def _revision(name: str) -> ModuleType:
    (path,) = (MIGRATIONS_DIR / "versions").glob(f"*_{name}.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STATE_DAYS_0017 = _revision("0017_area_state_days")
MILESTONE_DAYS_0018 = _revision("0018_area_milestone_days")
MILESTONE_YEARS_0025 = _revision("0025_milestone_years")


def _rows(session: Session, query: str) -> list[tuple[Any, ...]]:
    return sorted(map(tuple, session.execute(text(query))))


def counts(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    return {table: _rows(session, query) for table, query in COUNTS.items()}


def recomputed(session: Session, *, from_events: bool = True) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """The milestones from every event by the milestone rule (unless not ``from_events``: those kept), and the
    counts from those milestones by the statements of revisions 0017/0018 (the years summed from those months, as
    revision 0025 fills them); rolled back, so the tables are left as they were.
    """
    session.flush()
    with session.begin_nested() as scratch:
        session.execute(text(f"TRUNCATE {', '.join(COUNTS)}"))
        if from_events:
            session.execute(text("TRUNCATE outfall_milestones"))
            session.execute(text("CREATE TEMPORARY VIEW new_events AS SELECT * FROM events"))
            upsert = milestone_trigger_sql().removeprefix(" BEGIN ").split("; ")[0]
            session.execute(text(upsert))  # (its statement triggers count too; the counts are recomputed below)
            session.execute(text(f"TRUNCATE {', '.join(COUNTS)}"))
        session.execute(text(STATE_DAYS_0017.BACKFILL))
        session.execute(text(MILESTONE_DAYS_0018.BACKFILL))
        session.execute(text(MILESTONE_YEARS_0025.BACKFILL))
        result = _rows(session, MILESTONES), counts(session)
        scratch.rollback()
    return result


def _history_items(n: int) -> list[NewOutfall]:
    """Outfalls of the same few places and days, so that most counts gather several outfalls."""
    k = EventKind
    out = []
    for i in range(n):
        found = date(2023, 1 + i % 6, 1 + i % 3)
        ladder = [k.TRACED, k.REMEDIATION_PLANNED, k.REMEDIATED, k.CLOSED][: i % 5]
        history = [HistoryItem(kind, date(2023, 7 + j, 1 + i % 2)) for j, kind in enumerate(ladder)]
        if i % 7 == 3 and len(ladder) < 4:
            history.append(HistoryItem(k.MERGED, date(2024, 1, 10)))
        if i % 4 == 1:
            history.append(HistoryItem(k.SAMPLED, found))
        out.append(NewOutfall(lonlat=(P1, P2)[i % 2], name=f"批量测试{i}", type_code="4.8", found_by=SurveyLevel.FOOT,
                              found_on=found, history=tuple(history)))  # fmt: skip
    return out


def _catalogue(session: Session) -> None:
    build_catalogue(session)
    random_catalogue(session, 80, seed=23)
    create_outfalls(session, _history_items(60), actor="tester", batch_size=7)


def _nth(every: int, rest: int = 0) -> str:
    """The ids of every ``every``-th outfall in the order created (the same outfalls whatever ids they drew)."""
    return (f"(SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM outfalls) AS o "
            f"WHERE k % {every} = {rest})")  # fmt: skip


def _edits(session: Session) -> None:
    """Events on outfalls already counted, milestone dates edited over many rows, moves and a deletion."""
    candidates = session.scalars(select(Outfall).where(Outfall.status == OutfallStatus.CANDIDATE).order_by(Outfall.id))
    for outfall in list(candidates)[:3]:
        record_event(session, outfall.id, EventKind.REJECTED, actor="t", scope=ALL, expected_version=outfall.version,
                     on=date(2024, 8, 1))  # fmt: skip
    session.execute(text(f"UPDATE outfall_milestones SET traced_on = traced_on + 40 WHERE outfall_id IN {_nth(3)}"))
    session.execute(text(f"UPDATE outfall_milestones SET surveyed_on = found_on - 5 WHERE outfall_id IN {_nth(4, 1)}"))
    session.execute(text("UPDATE outfalls SET admin_area_id = (SELECT id FROM admin_areas WHERE code = '610112') "
                         f"WHERE id IN {_nth(5)}"))  # fmt: skip
    session.execute(
        text(f"UPDATE outfalls SET basin_id = NULL, sub_basin_id = NULL, river_id = NULL WHERE id IN {_nth(11)}")
    )
    session.execute(text("DELETE FROM outfall_milestones WHERE outfall_id = (SELECT min(id) FROM outfalls)"))
    session.flush()


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locations derived 25 outfalls at a time, so a bulk create spans several blocks."""
    monkeypatch.setattr(lifecycle, "_BLOCK", 25)


@pytest.mark.usefixtures("small_blocks")
def test_a_bulk_create_keeps_what_a_recomputation_gives(session: Session) -> None:
    _catalogue(session)
    kept = _rows(session, MILESTONES), counts(session)
    assert all(kept[1].values()) and len(kept[0]) >= 140
    assert kept == recomputed(session)
    _edits(session)
    assert counts(session) == recomputed(session, from_events=False)[1]


def _with_functions(session: Session, state_days: str, milestone_days: str, work: Callable[[], None]) -> Any:
    """The counts after ``work`` with the given bodies of the two count functions (all rolled back)."""
    with session.begin_nested() as scratch:
        for name, body in (("area_state_days_apply", state_days), ("area_milestone_days_apply", milestone_days)):
            session.execute(text(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$"))
        work()
        result = counts(session)
        scratch.rollback()
    return result


@pytest.mark.usefixtures("small_blocks")
def test_the_counts_are_those_the_previous_functions_kept(session: Session) -> None:
    installed = {
        name: session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name})
        for name in ("area_state_days_apply", "area_milestone_days_apply")
    }

    def work() -> None:
        _catalogue(session)
        _edits(session)

    before = _with_functions(session, STATE_DAYS_0017.TRIGGER_BODY, MILESTONE_DAYS_0018.TRIGGER_BODY, work)
    now = _with_functions(session, installed["area_state_days_apply"], installed["area_milestone_days_apply"], work)
    before.pop("area_milestone_years"), now.pop("area_milestone_years")  # kept since revision 0025 only
    assert all(now.values()) and now == before
