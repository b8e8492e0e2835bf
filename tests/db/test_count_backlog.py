"""The backlog of the counts per area and day (revision 0026): a statement of many milestone rows leaves its
changes there instead of upserting the counts; readers count the milestones meanwhile (no figure is ever behind);
folding adds them in short transactions, exactly once, and a commit that filled the backlog folds it in the
background; a bulk import then holds no lock that an event recorded meanwhile would wait for."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls, record_event
from outfalls.db.engine import make_engine
from outfalls.progress import backlog
from outfalls.progress.statedays import backlog_trigger_sql, counts_behind
from outfalls.progress.tiles import area_clusters_extent, outfall_tile
from outfalls.scope import Scope
from outfalls.types import EventKind, SurveyLevel
from tests.db.test_bulk_counts import counts, recomputed
from tests.db.test_milestone_days import assert_same, random_catalogue
from tests.db.test_milestone_days import scanning as scanning  # the fixture
from tests.db.test_progress import decode_mvt
from tests.progress_catalogue import P1, P2

ALL = Scope.national()
N = 40  # outfalls of the random catalogue


def later_from(session: Session, rows: int) -> None:
    """Statements of at least ``rows`` milestone rows leave them to the backlog, for the rest of the transaction."""
    session.execute(text(f"SET LOCAL {backlog.SETTING} = {rows}"))


def tiles(session: Session) -> list[Any]:
    out = []
    for as_of in (None, date(2023, 6, 30)):
        features = decode_mvt(outfall_tile(session, 6, 51, 25, scope=ALL, as_of=as_of)).get("outfalls", [])
        out.append(sorted((f["n"], f["state"]) for f in features))
    return out


def test_the_installed_function_is_the_generated_one(session: Session) -> None:
    installed = session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'milestone_count_backlog_add'"))
    assert (installed or "").strip() == backlog_trigger_sql().strip()


def test_a_statement_of_few_rows_counts_at_once(session: Session) -> None:
    random_catalogue(session, N, seed=3)  # 40 milestone rows: below the default of 10,000
    assert backlog.waiting(session) == 0 and not counts_behind(session)
    assert counts(session) == recomputed(session, from_events=False)[1]


def test_a_bulk_statement_leaves_the_counts_to_the_backlog_and_readers_count_the_milestones(
    session: Session, scanning: Any
) -> None:
    before = counts(session)
    later_from(session, 10)
    random_catalogue(session, N, seed=4)
    assert backlog.waiting(session) == N and counts_behind(session)
    assert counts(session) == before  # nothing upserted in the importing statement
    # progress, the trend, the first day and the tiles read the milestones: the same figures as a scan
    behind = assert_same(session, scanning)
    behind_tiles = tiles(session)
    extent = area_clusters_extent(session, scope=ALL)
    assert extent is not None

    folded: list[int] = []
    assert backlog.fold(session, batch=15, progress=folded.append) == N
    assert folded == [15, 15, 10]
    assert backlog.waiting(session) == 0 and not counts_behind(session)
    assert counts(session) == recomputed(session, from_events=False)[1]
    assert assert_same(session, scanning) == behind  # read from the counts again: the same figures
    assert tiles(session) == behind_tiles
    assert area_clusters_extent(session, scope=ALL) == extent


def test_updates_and_deletes_of_many_rows_are_folded_with_their_signs(session: Session) -> None:
    ids = random_catalogue(session, N, seed=5)
    later_from(session, 10)
    session.execute(text("UPDATE outfall_milestones SET sampled_on = coalesce(sampled_on, found_on + 30) "
                         "WHERE outfall_id = ANY(:ids)"), {"ids": ids})  # fmt: skip
    session.execute(text("DELETE FROM outfall_milestones WHERE outfall_id = ANY(:ids)"), {"ids": ids[:12]})
    signs = dict(map(tuple, session.execute(text("SELECT sign, count(*) FROM milestone_count_backlog GROUP BY 1"))))
    assert signs == {1: N, -1: N + 12}  # each update: the old row out, the new one in; each delete: out
    # an event recorded meanwhile on one outfall counts at once, in any order with the backlog
    record_event(session, ids[20], EventKind.SAMPLED, actor="t", scope=ALL, expected_version=_version(session, ids[20]),
                 on=date(2024, 12, 1))  # fmt: skip
    backlog.fold(session)
    assert counts(session) == recomputed(session, from_events=False)[1]


def _version(session: Session, oid: int) -> int:
    return int(session.scalar(text("SELECT version FROM outfalls WHERE id = :id"), {"id": oid}))


# -- on a database that really commits ------------------------------------------------------------------------


@pytest.fixture
def url(clone_db: Callable[[str], str], request: pytest.FixtureRequest) -> str:
    return clone_db(f"outfalls_backlog_{request.node.name[:20].lower().replace('[', '_').replace(':', '')}")


def _items(n: int, found: date = date(2023, 3, 1)) -> list[NewOutfall]:
    return [NewOutfall(lonlat=(P1, P2)[i % 2], name=f"积压{i}", type_code="4.8", found_by=SurveyLevel.FOOT,
                       found_on=found) for i in range(n)]  # fmt: skip


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _assert_folded(url: str) -> None:
    """Nothing waits, and the counts are those a recomputation from every milestone gives."""
    waiting, kept, expected = _counts_now(url)
    assert waiting == 0 and kept == expected


def _counts_now(url: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    with _engine(url) as engine:
        with Session(engine) as s:
            return backlog.waiting(s), counts(s), recomputed(s, from_events=False)[1]


def test_a_commit_that_filled_the_backlog_folds_it_in_the_background(url: str) -> None:
    with _engine(url) as engine:
        with Session(engine) as s:
            later_from(s, 10)
            create_outfalls(s, _items(30), actor="t")
            assert backlog.waiting(s) == 30
            s.commit()
        backlog.wait(engine)
    _assert_folded(url)


def test_two_folds_at_once_add_each_row_once(url: str) -> None:
    with _engine(url) as engine:
        with Session(engine) as s:
            later_from(s, 10)
            create_outfalls(s, _items(300), actor="t")
            s.commit()
            backlog.wait(engine)  # the background fold of that commit
        # refill the backlog without folding it: the same rows again, signed out and in
        with psycopg.connect(_libpq(url)) as conn:
            conn.execute("ALTER TABLE milestone_count_backlog DISABLE TRIGGER milestone_count_backlog_counts_changed")
            conn.execute(f"SET LOCAL {backlog.SETTING} = 10")
            conn.execute("UPDATE outfall_milestones SET sampled_on = found_on + 7")
            conn.execute("ALTER TABLE milestone_count_backlog ENABLE TRIGGER milestone_count_backlog_counts_changed")
        folded: list[int] = []
        barrier = threading.Barrier(2)

        def fold() -> None:
            with Session(engine) as s:
                barrier.wait()
                folded.append(backlog.fold(s, batch=40))

        threads = [threading.Thread(target=fold) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(folded) == 600  # 300 rows out, 300 in: each taken by one fold
    _assert_folded(url)


def test_an_event_recorded_during_a_bulk_import_does_not_wait_for_it(url: str) -> None:
    with _engine(url) as engine:
        with Session(engine) as s:
            (oid,) = create_outfalls(s, _items(1), actor="t")
            s.commit()

        def record_meanwhile(bulk_later_from: int) -> None:
            """An import left open (not committed) while a case officer records an event in the same place."""
            with Session(engine) as bulk, Session(engine) as officer:
                later_from(bulk, bulk_later_from)
                create_outfalls(bulk, _items(50), actor="import")
                officer.execute(text("SET LOCAL lock_timeout = '2s'"))
                version = _version(officer, oid)
                record_event(officer, oid, EventKind.TRACED, actor="officer", scope=ALL, expected_version=version,
                             on=date(2023, 3, 2))  # fmt: skip
                officer.rollback()  # (run twice)
                bulk.rollback()

        # counted in the import's own transaction, the busy current counts stay locked until it ends
        with pytest.raises(OperationalError, match="lock timeout"):
            record_meanwhile(1_000_000)
        record_meanwhile(10)  # left to the backlog: nothing locked
    _assert_folded(url)


def test_the_importing_transaction_writes_no_count(url: str) -> None:
    with _engine(url) as engine:
        with Session(engine) as s:
            later_from(s, 10)
            create_outfalls(s, _items(20), actor="t")
            touched = s.scalar(text(
                "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_xact_user_tables "
                "WHERE relname LIKE 'area_milestone_%' OR relname = 'area_state_days'"
            ))  # fmt: skip
            assert touched == 0
            s.commit()
        backlog.wait(engine)
    _assert_folded(url)


def test_the_command_line_adds_what_its_import_left_before_it_exits(url: str, tmp_path: Any) -> None:
    import json

    from tests.db.test_survey_import import A, B, C, D, _cli, _csv

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        database = conn.info.dbname
        conn.execute(f"ALTER DATABASE {database} SET {backlog.SETTING} = 2")  # every import of 2 rows or more
    crew = tmp_path / "crew.csv"
    crew.write_bytes(_csv([[f"r{i}", f"渭河{i}号", *p, "4.8", "渭河", f"2024-05-0{i + 1}", ""]
                           for i, p in enumerate((A, B, C, D))]))  # fmt: skip
    out = _cli(url, "survey", "import", str(crew), "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["accepted"] == 4
    status = json.loads(_cli(url, "db", "status", "--json").stdout)
    assert status["count_backlog_rows"] == 0
    waiting, kept, expected = _counts_now(url)
    assert waiting == 0 and kept == expected and kept["area_milestone_days"]


def test_a_downgrade_with_rows_waiting_counts_them_again(url: str) -> None:
    from outfalls.db.engine import downgrade, migrate

    with _engine(url) as engine:
        with engine.connect() as conn:  # no fold: as if the process had stopped before folding
            conn.execute(
                text("ALTER TABLE milestone_count_backlog DISABLE TRIGGER milestone_count_backlog_counts_changed")
            )
            conn.commit()
        with Session(engine) as s:
            later_from(s, 10)
            create_outfalls(s, _items(25), actor="t")
            s.commit()
    assert _counts_now(url)[0] == 25
    downgrade(url, "0025")
    with _engine(url) as engine:
        with Session(engine) as s:
            kept, expected = counts(s), recomputed(s, from_events=False)[1]
    assert kept == expected and kept["area_milestone_days"]
    migrate(url)  # and up again: nothing waits
    assert _counts_now(url)[0] == 0


def test_a_fold_and_a_small_write_of_the_same_counts_wait_for_each_other_without_deadlock(url: str) -> None:
    libpq = _libpq(url)
    with _engine(url) as engine:
        with Session(engine) as s:
            create_outfalls(s, _items(30), actor="t")  # counted at once: the current counts exist
            s.commit()
        with psycopg.connect(libpq) as conn:  # a bulk statement, committed, not folded (no hook on this connection)
            conn.execute(f"SET LOCAL {backlog.SETTING} = 10")
            conn.execute("UPDATE outfall_milestones SET traced_on = found_on + 7")
        errors: list[BaseException] = []
        with psycopg.connect(libpq) as folding:
            folding.execute(backlog._NEW_BATCH)
            folding.execute(backlog._TAKE.replace(":n", "1000"))
            folding.execute(backlog._FOLD[0])  # the fold holds its first table's rows ...

            def small() -> None:  # ... while a small write of the same place and day starts
                try:
                    with psycopg.connect(libpq) as conn:
                        conn.execute("UPDATE outfall_milestones SET traced_on = NULL "
                                     "WHERE outfall_id = (SELECT min(outfall_id) FROM outfall_milestones)")  # fmt: skip
                except psycopg.Error as err:
                    errors.append(err)

            writer = threading.Thread(target=small)
            writer.start()
            writer.join(0.5)
            assert writer.is_alive()  # it waits for the fold
            try:
                folding.execute(backlog._FOLD[1])
                folding.execute(f"DROP TABLE {backlog._BATCH_TABLE}")
                folding.commit()
            except psycopg.Error as err:
                errors.append(err)
            writer.join()
        assert errors == []
    _assert_folded(url)


def test_a_background_fold_that_fails_tries_again(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = backlog.fold, []

    def failing_once(session: Session, **kw: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("fold", {}, Exception("the server went away"))
        return real(session, **kw)

    monkeypatch.setattr(backlog, "fold", failing_once)
    monkeypatch.setattr(backlog, "RETRY_S", 0.05)
    with _engine(url) as engine:
        with Session(engine) as s:
            later_from(s, 10)
            create_outfalls(s, _items(20), actor="t")
            s.commit()  # starts the background fold, which fails once, then folds
        backlog.wait(engine)
    assert len(calls) >= 2
    _assert_folded(url)


def test_no_block_of_a_bulk_creation_is_small_enough_to_count_in_its_transaction(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outfalls.catalogue import lifecycle

    monkeypatch.setattr(lifecycle, "_BLOCK", 10)  # 12 items: two blocks of 6, not one of 10 and one of 2
    later_from(session, 5)
    before = counts(session)
    create_outfalls(session, _items(12), actor="t")
    assert backlog.waiting(session) == 12 and counts(session) == before
