"""The generated demo catalogue on PostGIS: where the outfalls land, their mix, their histories, and that
a seed reproduces the same catalogue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from outfalls.catalogue.transitions import apply_transition
from outfalls.db.engine import make_engine
from outfalls.demo import DemoReport, seed_demo
from outfalls.errors import InvalidInput
from outfalls.models import Event, Outfall
from outfalls.types import EventKind, OutfallStatus, SurveyLevel

YELLOW, HANDAN, SEED = 400, 300, 7
STORM_TYPES = ("4.8", "1.2.1", "1.2.2", "1.2.3", "1.4")
# the state each event kind leads to, for replaying histories
LEADS_TO = {
    EventKind.SURVEYED: OutfallStatus.SURVEYED,
    EventKind.TRACED: OutfallStatus.TRACED,
    EventKind.REMEDIATION_PLANNED: OutfallStatus.REMEDIATING,
    EventKind.REMEDIATED: OutfallStatus.REMEDIATED,
    EventKind.CLOSED: OutfallStatus.CLOSED,
}

_ROWS = text(
    """
    SELECT o.id, o.name, ST_X(o.geom) AS lon, ST_Y(o.geom) AS lat, o.type_code, o.found_by, o.found_on,
           o.status, o.status_since, o.is_demo, o.national_code, o.local_code, o.receiving_water,
           b.code AS basin, sb.code AS sub_basin, a.code AS area, r.name AS river
    FROM outfalls o
    LEFT JOIN basins b ON b.id = o.basin_id
    LEFT JOIN basins sb ON sb.id = o.sub_basin_id
    LEFT JOIN admin_areas a ON a.id = o.admin_area_id
    LEFT JOIN rivers r ON r.id = o.river_id
    WHERE o.is_demo
    ORDER BY o.id
    """
)


@pytest.fixture(scope="module")
def demo_db(clone_db: Callable[[str], str]) -> Iterator[tuple[sa.Engine, DemoReport]]:
    """One committed demo catalogue for the module (seeding takes a second or two)."""
    engine = make_engine(clone_db("outfalls_db_demo"))
    with Session(engine) as session:
        report = seed_demo(session, yellow=YELLOW, handan=HANDAN, seed=SEED)
        session.commit()
    yield engine, report
    engine.dispose()


@pytest.fixture
def demo_session(demo_db: tuple[sa.Engine, DemoReport]) -> Iterator[Session]:
    """A session on the demo database whose changes are rolled back."""
    with demo_db[0].connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()


@pytest.fixture
def demo(demo_db: tuple[sa.Engine, DemoReport], demo_session: Session) -> tuple[DemoReport, list[Row[Any]]]:
    return demo_db[1], list(demo_session.execute(_ROWS))


def test_report_and_count(demo_session: Session, demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    report, rows = demo
    assert report == DemoReport(created=700, existing=0, yellow=400, handan=300)
    assert len(rows) == 700
    assert all(r.is_demo for r in rows)
    assert demo_session.scalar(select(func.count()).select_from(Outfall).where(~Outfall.is_demo)) == 0


def test_places(demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    _report, rows = demo
    # items are created Yellow River first, then Han-Dan, and ids follow the order of the items
    yellow, handan = rows[:YELLOW], rows[YELLOW:]
    assert {r.basin for r in yellow} == {"HH"}
    assert {r.sub_basin for r in yellow} <= {f"HH-{i:02d}" for i in range(11)}
    assert Counter(r.sub_basin for r in yellow).most_common(1)[0][0] == "HH-08"  # the Wei carries most
    assert {r.sub_basin for r in handan} <= {"CJ-10", "CJ-11"}
    assert {r.basin for r in handan} == {"CJ"}
    assert all(r.area is not None and r.area.startswith("61") and r.area != "610000" for r in rows)
    assert all(r.river is not None for r in rows)
    assert {r.river for r in handan} <= {"汉江(汉水)", "沮水"}
    assert all(105.4 < r.lon < 111.3 and 31.6 < r.lat < 39.6 for r in rows)
    # the name says which river; the receiving water is that river
    for r in rows:
        assert r.receiving_water is not None and r.receiving_water in r.name
        assert r.river.split("(")[0] == r.receiving_water or r.river == "未命名河段"


def test_inside_shaanxi(demo_session: Session, demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    outside = demo_session.scalar(
        text(
            "SELECT count(*) FROM outfalls o WHERE o.is_demo AND NOT EXISTS ("
            "SELECT 1 FROM admin_areas a WHERE a.code = '610000' AND ST_Intersects(a.geom, o.geom))"
        )
    )
    assert outside == 0


def test_mix_of_types_and_discovery(demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    _report, rows = demo
    storm = sum(r.type_code in STORM_TYPES for r in rows) / len(rows)
    assert 0.35 <= storm <= 0.55
    found_by = Counter(r.found_by for r in rows)
    assert found_by[SurveyLevel.DRONE.value] > len(rows) / 2
    assert set(found_by) == {"drone", "foot", "expert"}
    assert len({r.type_code for r in rows}) >= 10
    assert all(date(2020, 5, 1) <= r.found_on <= date(2023, 12, 31) for r in rows)
    codes = [r.national_code for r in rows if r.national_code]
    assert 0.25 < len(codes) / len(rows) < 0.55 and len(set(codes)) == len(codes)
    assert all(c.startswith("DEMO61") for c in codes)
    locals_ = [r.local_code for r in rows if r.local_code]
    assert len(set(locals_)) == len(locals_)


def test_histories_match_statuses(demo_session: Session, demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    _report, rows = demo
    events: dict[int, list[Event]] = {}
    for e in demo_session.scalars(
        select(Event).join(Outfall).where(Outfall.is_demo).order_by(Event.outfall_id, Event.effective_at, Event.id)
    ):
        events.setdefault(e.outfall_id, []).append(e)
    assert set(events) == {r.id for r in rows}
    statuses = Counter(r.status for r in rows)
    assert statuses["closed"] > 0 and statuses["remediating"] > 0 and statuses["candidate"] > 0

    for r in rows:
        history = events[r.id]
        kinds = [e.kind for e in history]
        days = [e.effective_at.astimezone(UTC).date() for e in history]
        assert kinds[0] is EventKind.CREATED and kinds.count(EventKind.CREATED) == 1
        assert days[0] == r.found_on
        assert days == sorted(days), r.id
        # replaying the events gives the stored status and the date it started
        status = OutfallStatus.CANDIDATE if r.found_by == "drone" else OutfallStatus.SURVEYED
        since = r.found_on
        for kind, day in zip(kinds[1:], days[1:], strict=True):
            after = apply_transition(status, kind)
            if after is not status:
                status, since = after, day
        assert (status.value, since) == (r.status, r.status_since), r.id
        if r.status == "closed":
            milestones = [k for k in kinds if k in LEADS_TO and k is not EventKind.SURVEYED]
            assert milestones == [
                EventKind.TRACED,
                EventKind.REMEDIATION_PLANNED,
                EventKind.REMEDIATED,
                EventKind.CLOSED,
            ], r.id
        if r.found_by == "drone" and r.status != "candidate":
            assert EventKind.SURVEYED in kinds


def test_national_schedule(demo_session: Session, demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    """About 80 % traced by the end of 2023 among the outfalls found by then (the national target)."""
    found, traced = demo_session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM events e WHERE e.outfall_id = o.id "
            "AND e.kind = 'traced' AND e.effective_at < '2024-01-01T00:00:00+08:00')) "
            "FROM outfalls o WHERE o.is_demo AND o.found_on <= '2023-12-31'"
        )
    ).one()
    assert found > 600
    assert 0.60 <= traced / found <= 0.95
    remediated = demo_session.scalar(
        text(
            "SELECT count(DISTINCT outfall_id) FROM events e JOIN outfalls o ON o.id = e.outfall_id "
            "WHERE o.is_demo AND e.kind = 'remediated' AND e.effective_at < '2024-01-01T00:00:00+08:00'"
        )
    )
    assert 0.15 <= remediated / found <= 0.5  # target: 30 % remediated by end-2023


def test_second_call_creates_nothing(demo_session: Session, demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    events = demo_session.scalar(select(func.count()).select_from(Event))
    again = seed_demo(demo_session, yellow=YELLOW, handan=HANDAN, seed=SEED + 1)
    assert again == DemoReport(created=0, existing=700, yellow=0, handan=0)
    assert demo_session.scalar(select(func.count()).select_from(Outfall)) == 700
    assert demo_session.scalar(select(func.count()).select_from(Event)) == events


def _key(r: Row[Any]) -> tuple[Any, ...]:
    return (r.name, r.lon, r.lat, r.type_code, r.found_by, r.found_on, r.status, r.status_since, r.national_code)


def test_same_seed_same_catalogue(session: Session, demo: tuple[DemoReport, list[Row[Any]]]) -> None:
    """A fresh run in another database gives the committed catalogue again; another seed does not."""

    def run(seed: int, yellow: int, handan: int) -> list[tuple[Any, ...]]:
        with session.begin_nested() as savepoint:
            seed_demo(session, yellow=yellow, handan=handan, seed=seed)
            rows = [_key(r) for r in session.execute(_ROWS)]
            savepoint.rollback()
        assert session.scalar(select(func.count()).select_from(Outfall)) == 0
        return rows

    _report, committed = demo
    assert run(SEED, YELLOW, HANDAN) == [_key(r) for r in committed]
    small = run(SEED, 30, 20)
    assert len(small) == 50
    assert run(SEED, 30, 20) == small
    assert run(SEED + 1, 30, 20) != small


def test_negative_counts_are_invalid_input(session: Session) -> None:
    with pytest.raises(InvalidInput):
        seed_demo(session, yellow=-1, handan=0)


def test_without_reference_data_is_invalid_input(session: Session) -> None:
    session.execute(text("DELETE FROM area_parts"))
    session.execute(text("UPDATE admin_areas SET parent_id = NULL"))
    session.execute(text("DELETE FROM admin_areas"))
    with pytest.raises(InvalidInput) as info:
        seed_demo(session, yellow=1, handan=1)
    assert "reference" in str(info.value)


def test_demo_officers_get_the_open_cases_of_their_area(demo_session: Session) -> None:
    from outfalls.demo import seed_demo_users
    from outfalls.scope import Scope

    created = seed_demo_users(demo_session)
    assert {"officer_xian", "lintong", "hanbin"} <= set(created)
    rows = demo_session.execute(select(Outfall.assigned_to, func.count()).group_by(Outfall.assigned_to))
    by_officer = {who: n for who, n in rows}
    assert by_officer.get("officer_xian", 0) > 0
    # county officers first: a Lintong case goes to lintong, not to the Xi'an officer above them
    lintong = Scope(area_codes=("610115",)).conditions()
    assert set(demo_session.scalars(select(Outfall.assigned_to).where(*lintong, Outfall.assigned_to.is_not(None)))) <= {
        "lintong"
    }
    finished = (OutfallStatus.CLOSED, OutfallStatus.REJECTED, OutfallStatus.MERGED, OutfallStatus.CANDIDATE)
    assert not demo_session.scalar(
        select(func.count()).where(Outfall.status.in_(finished), Outfall.assigned_to.is_not(None))
    )
    # every assignment is an event with the demo actor
    assigned = demo_session.scalar(select(func.count()).where(Event.kind == EventKind.ASSIGNED))
    assert assigned == sum(n for who, n in by_officer.items() if who is not None)


# -- demo imagery: every role has work ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_imagery(demo_db: tuple[sa.Engine, DemoReport], tmp_path_factory: pytest.TempPathFactory) -> Any:
    from imagery.demo import seed_demo_imagery

    with Session(demo_db[0]) as session:
        made = seed_demo_imagery(session, store_dir=tmp_path_factory.mktemp("imagery"), landward_m=2000.0,
                                 waterward_m=200.0, cell_m=500.0)  # fmt: skip
        session.commit()
    return made


def test_demo_imagery_gives_the_analyst_reviewer_and_crew_work(demo_imagery: Any, demo_session: Session,
                                                               tmp_path: Any) -> None:  # fmt: skip
    from imagery.candidates import list_tasks, task_stops
    from imagery.cells import cell_progress, next_cell
    from imagery.demo import seed_demo_imagery
    from imagery.interpretation import cells_to_review
    from imagery.models import Orthophoto, Sortie
    from outfalls.scope import Scope

    national = Scope.national()
    made = demo_imagery
    assert made.orthophotos == 6 and made.sorties == 2 and made.cells >= 6 and made.marks >= 4
    photos = demo_session.scalars(select(Orthophoto)).all()
    assert len(photos) == 6 and all(p.file_name.startswith("演示") for p in photos)
    assert all(p.sortie is not None and p.sortie.code.startswith("演示") for p in photos)
    sorties = demo_session.scalars(select(Sortie)).all()
    assert all(s.flown_on and s.aircraft_type and s.photo_count and s.operator for s in sorties)
    # the footprints lie on the Wei in Xi'an
    on_wei = demo_session.scalar(text(
        "SELECT count(*) FROM orthophotos o JOIN rivers r ON r.name = '渭河' AND ST_Intersects(r.geom, o.footprint) "
        "JOIN admin_areas a ON a.code = '610100' AND ST_Intersects(a.geom, o.footprint)"))  # fmt: skip
    assert on_wei == 6
    counts = cell_progress(demo_session, scope=national)
    assert counts.reviewed == 2 and counts.done == 1 and counts.todo >= 1
    assert len(cells_to_review(demo_session, reviewer="reviewer", scope=national)) == 1
    assert next_cell(demo_session, analyst="analyst", scope=national) is not None  # the analyst works at once
    # accepted marks are demo candidates found by drone; the crew has them as a route
    from imagery.models import ImageryMark

    candidates = demo_session.scalars(select(Outfall).join(ImageryMark, ImageryMark.outfall_id == Outfall.id)).all()
    assert len(candidates) == made.candidates >= 2 and all(o.is_demo for o in candidates)
    assert {(o.found_by, o.status) for o in candidates} == {(SurveyLevel.DRONE, OutfallStatus.CANDIDATE)}
    tasks = list_tasks(demo_session, scope=national, crew="crew_xian")
    assert len(tasks) == 1 and tasks[0][0].name.startswith("演示")
    stops = task_stops(demo_session, tasks[0][0].id)
    assert [s.seq for s in stops] == list(range(1, made.task_stops + 1)) and made.task_stops >= made.candidates
    # a second run changes nothing
    again = seed_demo_imagery(demo_session, store_dir=tmp_path, landward_m=2000.0, waterward_m=200.0, cell_m=500.0)
    assert again.existing == 6 and again.orthophotos == 0
