"""Progress counts per metric, location and day (``area_milestone_days``): kept by the milestones' triggers in
step with the milestones through new outfalls, edited milestone dates, rejects, merges, moves and deletions, and
the figures progress, the trend and the first day read from it are exactly those of the scan of the milestones.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, record_event
from outfalls.db.engine import MIGRATIONS_DIR
from outfalls.models import Outfall
from outfalls.progress import first_day, progress, progress_trend
from outfalls.progress.hierarchy import MILESTONES
from outfalls.progress.milestonedays import backfill_sql, days_conditions, milestone_days_trigger_sql
from outfalls.scope import Scope
from outfalls.types import EventKind, SurveyLevel
from tests.progress_catalogue import (
    P1,
    P2,
    P3,
    P4,
    STRAY,
    add_provincial_targets,
    add_stray_on_the_wei,
    build_catalogue,
)

pytestmark = pytest.mark.usefixtures("clock_edge")
ALL = Scope.national()
SCOPES = [ALL, Scope(area_codes=("610000",)), Scope(area_codes=("610100",)), Scope(area_codes=("610700", "610112")),
          Scope(area_codes=("610000",), basin_codes=("HH-08",)), Scope(area_codes=("610000",), basin_codes=("CJ",)),
          Scope(area_codes=())]  # fmt: skip
DAYS = [date(2022, 12, 31), date(2023, 3, 1), date(2023, 5, 1), date(2023, 6, 30), date(2023, 12, 20),
        date(2024, 2, 1), date(2024, 12, 31)]  # fmt: skip
TREND_SCOPES = [("all", None), ("basin", "HH"), ("sub_basin", "HH-08"), ("sub_basin", "HH-07"), ("basin", "CJ"),
                ("river", "HYD4M-463"), ("province", "610000"), ("city", "610100"), ("county", "610112")]  # fmt: skip
LADDER = (EventKind.TRACED, EventKind.REMEDIATION_PLANNED, EventKind.REMEDIATED, EventKind.CLOSED)


@pytest.fixture
def scanning(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A switch: inside ``with scanning():`` progress, the trend and the first day scan the milestones."""
    from contextlib import contextmanager

    @contextmanager
    def scan() -> Iterator[None]:
        with monkeypatch.context() as m:
            for name in ("report", "trend", "outlines"):
                module = importlib.import_module(f"outfalls.progress.{name}")
                m.setattr(module, "days_conditions", lambda _session, _conditions: None)
            yield

    yield scan


def random_catalogue(session: Session, n: int, seed: int) -> list[int]:
    """``n`` outfalls on the test sites with random lifecycles: found 2022-2024, a prefix of the ladder on later
    days, sometimes sampled, some rejected or merged at the end.
    """
    rng = random.Random(seed)
    items = []
    for i in range(n):
        found = date(2022, 11, 1) + timedelta(days=rng.randrange(700))
        by = rng.choice([SurveyLevel.FOOT, SurveyLevel.DRONE])  # a drone finds candidates, to be surveyed
        day, history = found, []
        if rng.random() < 0.3:
            day += timedelta(days=rng.randrange(0, 30))
            history.append(HistoryItem(EventKind.SAMPLED, day))
        steps = LADDER[: rng.randrange(len(LADDER) + 1)]
        if by == SurveyLevel.DRONE and (steps or rng.random() < 0.5):
            steps = (EventKind.SURVEYED, *steps)
        for kind in steps:
            day += timedelta(days=rng.randrange(0, 90))  # the same day as the step before, sometimes
            history.append(HistoryItem(kind, day))
        end = rng.random()
        if end < 0.1 and EventKind.CLOSED not in steps:
            history.append(HistoryItem(EventKind.MERGED, day + timedelta(days=rng.randrange(0, 60))))
        elif end < 0.25 and by == SurveyLevel.DRONE and not steps:  # a candidate found not to be an outfall
            history.append(HistoryItem(EventKind.REJECTED, day + timedelta(days=rng.randrange(0, 60))))
        items.append(NewOutfall(lonlat=rng.choice([P1, P2, P3, P4, STRAY]), name=f"聚合测试{i}", type_code="4.8",
                                found_by=by, found_on=found, history=tuple(history)))  # fmt: skip
    return create_outfalls(session, items, actor="tester")


def figures(session: Session) -> dict[str, Any]:
    """Everything the dashboard reads, for every scope, axis, day and trend scope."""
    out: dict[str, Any] = {}
    for i, scope in enumerate(SCOPES):
        out[f"first {i}"] = first_day(session, scope)
        for by in ("basin", "area"):
            for day in DAYS:
                r = progress(session, scope=scope, by=by, as_of=day)
                out[f"progress {i} {by} {day}"] = (r.rows, r.unplaced)
        r = progress(session, scope=scope, by="area")  # today: the current rows alone
        out[f"progress {i} today"] = (r.rows, r.unplaced)
        for kind, code in TREND_SCOPES if i in (0, 2, 4) else TREND_SCOPES[:1]:
            for day in (DAYS[3], DAYS[-1]):
                t = progress_trend(session, scope=scope, scope_kind=kind, scope_code=code, as_of=day,
                                   metrics=("surveyed", "sampled", "traced", "remediated", "closed"))  # fmt: skip
                out[f"trend {i} {kind}:{code} {day}"] = t.points
    return out


def assert_same(session: Session, scanning: Any) -> dict[str, Any]:
    ours = figures(session)
    with scanning():
        scanned = figures(session)
    assert ours.keys() == scanned.keys()
    for key, value in scanned.items():
        assert ours[key] == value, key
    return ours


def test_the_installed_function_is_the_generated_one(session: Session) -> None:
    installed = session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'area_milestone_days_apply'"))
    assert (installed or "").strip() == milestone_days_trigger_sql().strip()


def test_only_location_conditions_move_onto_the_aggregate(session: Session) -> None:
    m = MILESTONES.c
    assert days_conditions(session, [m.admin_area_id.in_([1, 2]), m.basin_id == 3]) is not None
    assert days_conditions(session, []) == []
    # a scope on another field of the outfall (its type, say) cannot be answered from locations
    assert days_conditions(session, [m.outfall_id.in_(select(Outfall.id).where(Outfall.type_code == "4.8"))]) is None
    assert days_conditions(session, [m.admin_area_id == 1, m.found_on <= date(2024, 1, 1)]) is None


def test_the_aggregate_gives_the_figures_of_the_scan(session: Session, scanning: Any) -> None:
    cat = build_catalogue(session)
    add_stray_on_the_wei(session)
    add_provincial_targets(session)
    ids = random_catalogue(session, 60, seed=11)
    ours = assert_same(session, scanning)
    # the figures are not all empty: the small catalogue's hand-computed counts are among them
    rows, unplaced = ours["progress 0 area 2023-06-30"]
    total = {r.metric: (r.count, r.denominator) for r in rows if r.scope_kind == "all"}
    assert total["traced"][1] > 5 and total["traced"][0] > 1 and unplaced == 0
    assert ours["first 0"] is not None and ours["first 0"] <= date(2023, 2, 1) and ours["first 6"] is None

    # an event dated before the milestone moves it back; a rejected and a merged outfall leave the denominator
    f = session.get_one(Outfall, cat["F"])
    record_event(session, f.id, EventKind.SURVEYED, actor="t", scope=ALL, expected_version=f.version,
                 on=date(2024, 1, 20))  # fmt: skip
    session.refresh(f)
    record_event(session, f.id, EventKind.TRACED, actor="t", scope=ALL, expected_version=f.version,
                 on=date(2024, 2, 10))  # fmt: skip
    (h,) = create_outfalls(session, [NewOutfall(lonlat=P1, name="聚合测试H", type_code="4.8",
                                                found_by=SurveyLevel.DRONE, found_on=date(2024, 3, 1))],
                           actor="tester")  # fmt: skip
    record_event(session, h, EventKind.REJECTED, actor="t", scope=ALL, expected_version=1, on=date(2024, 4, 1))
    g = session.get_one(Outfall, cat["G"])
    record_event(session, g.id, EventKind.MERGED, actor="t", scope=ALL, expected_version=g.version,
                 on=date(2024, 7, 1))  # fmt: skip
    b = session.get_one(Outfall, cat["B"])
    record_event(session, b.id, EventKind.MERGED, actor="t", scope=ALL, expected_version=b.version,
                 on=date(2024, 3, 1))  # fmt: skip
    # milestone dates edited by one statement over many rows, later and earlier than found
    session.execute(text("UPDATE outfall_milestones SET traced_on = traced_on + 40 WHERE outfall_id % 3 = 0"))
    session.execute(text("UPDATE outfall_milestones SET surveyed_on = found_on - 5 WHERE outfall_id % 4 = 1"))
    # outfalls moving between areas and basins, one losing its basin altogether
    session.execute(text("UPDATE outfalls SET admin_area_id = (SELECT id FROM admin_areas WHERE code = '610112') "
                         "WHERE id = ANY(:ids)"), {"ids": ids[:10]})  # fmt: skip
    session.execute(text("UPDATE outfalls SET basin_id = NULL, sub_basin_id = NULL, river_id = NULL "
                         "WHERE id = ANY(:ids)"), {"ids": ids[10:14]})  # fmt: skip
    session.execute(text("UPDATE outfalls SET admin_area_id = NULL WHERE id = :id"), {"id": ids[14]})
    session.execute(text("DELETE FROM outfall_milestones WHERE outfall_id = :id"), {"id": cat["A"]})
    moved = assert_same(session, scanning)
    assert moved != ours
    assert moved["progress 0 basin 2024-12-31"][1] > 0  # the outfalls without a basin are unplaced


def test_progress_reads_the_aggregate_not_the_milestones(session: Session) -> None:
    build_catalogue(session)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        report = progress(session, scope=Scope(area_codes=("610000",)), by="area", as_of=date(2024, 2, 1))
        trend = progress_trend(session, scope=ALL, scope_kind="city", scope_code="610100", as_of=date(2024, 2, 1))
        first = first_day(session, ALL)
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    assert not [s for s in statements if "outfall_milestones" in s]
    assert sum(1 for s in statements if "area_milestone_days" in s) == 3
    traced = report.row("all", None, "traced")
    assert traced is not None and (traced.count, traced.denominator) == (2, 4)  # A and B traced of A, B, E, F
    assert trend.points[-1].counts["traced"] == 2 and trend.points[-1].denominator == 2  # Xi'an: A, B (C rejected)
    assert first == date(2023, 2, 1)


def test_the_backfill_gives_the_rows_the_triggers_keep(session: Session) -> None:
    """Revision 0018 fills the tables from the milestones already there: the same rows the triggers keep."""
    build_catalogue(session)
    random_catalogue(session, 30, seed=5)
    session.execute(text("UPDATE outfall_milestones SET traced_on = traced_on + 10 WHERE outfall_id % 2 = 0"))
    queries = {  # the days as text: Python has no infinite date
        "days": "SELECT day::text, metric, admin_area_id, basin_id, sub_basin_id, river_id, n "
                "FROM area_milestone_days WHERE n <> 0",
        "months": "SELECT month::text, metric, admin_area_id, basin_id, sub_basin_id, river_id, n "
                  "FROM area_milestone_months WHERE n <> 0",
        "years": "SELECT year::text, metric, admin_area_id, basin_id, sub_basin_id, river_id, n "
                 "FROM area_milestone_years WHERE n <> 0",
    }  # fmt: skip
    kept = {k: sorted(map(tuple, session.execute(text(q)))) for k, q in queries.items()}
    assert all(kept.values()) and any(r[0] == "infinity" for r in kept["days"])
    session.execute(text("TRUNCATE area_milestone_days, area_milestone_months, area_milestone_years"))
    session.execute(text(backfill_sql()))
    assert {k: sorted(map(tuple, session.execute(text(q)))) for k, q in queries.items()} == kept
    # revision 0025 filled the years from the months already kept: the same rows
    session.execute(text("TRUNCATE area_milestone_years"))
    (path,) = (MIGRATIONS_DIR / "versions").glob("*_0025_milestone_years.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    frozen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(frozen)
    session.execute(text(frozen.BACKFILL))
    assert sorted(map(tuple, session.execute(text(queries["years"])))) == kept["years"]


def test_a_past_day_reads_years_then_months_then_days(session: Session, scanning: Any) -> None:
    """Days across several years, on the edges of years and months: the sums read from the years, the months and
    the days give the figures of the scan."""
    build_catalogue(session)
    random_catalogue(session, 40, seed=11)
    for day in (date(2021, 12, 31), date(2022, 1, 1), date(2022, 11, 30), date(2022, 12, 1), date(2023, 1, 31),
                date(2023, 7, 15), date(2024, 1, 1), date(2024, 12, 30)):  # fmt: skip
        ours = progress(session, scope=ALL, by="area", as_of=day)
        with scanning():
            scanned = progress(session, scope=ALL, by="area", as_of=day)
        assert ours.rows == scanned.rows, day
