"""The engine's pool pings a connection only after it sat idle, replaces one the server dropped, and lets a single
read run outside the session's transaction (no BEGIN, no ROLLBACK) without ever committing a write on its own."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls.db.engine import driver_statement, make_engine, outside_transaction, read_row
from outfalls.models import User

PID = sa.text("SELECT pg_backend_pid()")


@pytest.fixture(scope="module")
def pool_url(clone_db: Callable[[str], str]) -> str:
    return clone_db("pool_ping")


@pytest.fixture
def idle_engine(pool_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(pool_url, ping_after_idle_s=0.3)
    yield engine
    engine.dispose()


def _terminate(url: str, pid: int) -> None:
    """End a backend from another connection and wait until it is gone."""
    killer = make_engine(url)
    try:
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})  # waits for it to end
            for _ in range(250):
                alive = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
                if not alive.scalar_one():
                    return
                conn.commit()  # pg_stat_activity is read once per transaction: look again in a new one
                time.sleep(0.02)
    finally:
        killer.dispose()
    raise AssertionError(f"backend {pid} did not end")


def test_a_connection_in_steady_use_is_not_pinged_and_an_idle_one_is(
    idle_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    real_ping = idle_engine.dialect.do_ping

    def counting_ping(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return real_ping(dbapi_conn)

    monkeypatch.setattr(idle_engine.dialect, "do_ping", counting_ping)
    for _ in range(5):
        with idle_engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    assert pings == []  # a fresh connection, then the same one given back and taken again at once
    time.sleep(0.4)
    with idle_engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert len(pings) == 1


def test_an_idle_connection_the_server_dropped_is_replaced_unseen(idle_engine: sa.Engine, pool_url: str) -> None:
    with idle_engine.connect() as conn:
        pid = conn.execute(PID).scalar_one()
    _terminate(pool_url, pid)
    time.sleep(0.4)
    with idle_engine.connect() as conn:
        assert conn.execute(PID).scalar_one() != pid


def test_a_busy_connection_the_server_dropped_fails_one_statement_then_the_pool_recovers(pool_url: str) -> None:
    engine = make_engine(pool_url, ping_after_idle_s=60)
    try:
        with engine.connect() as conn:
            pid = conn.execute(PID).scalar_one()
        _terminate(pool_url, pid)
        with pytest.raises(sa.exc.OperationalError) as lost, engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert lost.value.connection_invalidated  # the web layer answers it with a 503
        with engine.connect() as conn:
            assert conn.execute(PID).scalar_one() != pid
    finally:
        engine.dispose()


def _status(session: Session) -> psycopg.pq.TransactionStatus:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return psycopg.pq.TransactionStatus(driver.info.transaction_status)


def test_a_read_outside_the_transaction_opens_none_and_later_writes_are_one_transaction(idle_engine: sa.Engine) -> None:
    idle = psycopg.pq.TransactionStatus.IDLE
    with Session(idle_engine) as session:
        with outside_transaction(session):
            assert session.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert _status(session) == idle  # nothing to roll back
        session.execute(sa.text("CREATE TEMPORARY TABLE t (x int)"))
        assert _status(session) == psycopg.pq.TransactionStatus.INTRANS  # back to transactions
        session.rollback()
        with outside_transaction(session):
            assert session.execute(sa.text("SELECT to_regclass('pg_temp.t')")).scalar() is None  # rolled back


def test_pending_changes_are_flushed_in_the_transaction_never_committed_by_a_read(idle_engine: sa.Engine) -> None:
    login = f"pending_{time.monotonic_ns()}"
    with Session(idle_engine) as session:
        session.add(User(login=login, display_name=login, password_hash=None))
        with outside_transaction(session):
            assert session.execute(sa.select(User.id).where(User.login == login)).scalar() is not None
        assert _status(session) == psycopg.pq.TransactionStatus.INTRANS  # the flush opened the transaction
        session.rollback()
    with Session(idle_engine) as other:
        assert other.execute(sa.select(User.id).where(User.login == login)).scalar() is None


def _pooled_autocommit(engine: sa.Engine) -> list[bool]:
    """The autocommit flag of every connection resting in the pool."""
    queue = engine.pool._pool.queue  # type: ignore[attr-defined]
    return [record.dbapi_connection.autocommit for record in queue]


def test_read_row_borrows_a_connection_for_a_session_without_a_transaction(idle_engine: sa.Engine) -> None:
    logins = sa.select(User.id).where(User.login.in_(["a", "b"]), User.id > sa.bindparam("n"))
    statement = driver_statement(logins, idle_engine.dialect)
    assert "POSTCOMPILE" not in statement.sql and statement.params["login_1_1"] == "a"  # lists expanded, values kept
    one = driver_statement(sa.select(sa.literal_column("1")).where(sa.bindparam("x", type_=sa.Integer) > 0),
                           idle_engine.dialect)  # fmt: skip
    with Session(idle_engine) as session:
        assert read_row(session, one, x=1) == (1,) and read_row(session, one, x=0) is None
        assert not session.in_transaction()  # nothing opened, nothing to roll back
    assert _pooled_autocommit(idle_engine) and not any(_pooled_autocommit(idle_engine))  # given back as it was
    with Session(idle_engine) as session:
        session.execute(sa.text("CREATE TEMPORARY TABLE r (x int)"))
        session.execute(sa.text("INSERT INTO r VALUES (7)"))
        seven = driver_statement(sa.select(sa.literal_column("x")).select_from(sa.table("r")), idle_engine.dialect)
        assert read_row(session, seven) == (7,)  # inside the open transaction: sees its uncommitted rows
        assert _status(session) == psycopg.pq.TransactionStatus.INTRANS
        session.rollback()


def test_read_row_flushes_pending_changes_in_the_transaction(idle_engine: sa.Engine) -> None:
    login = f"pending_row_{time.monotonic_ns()}"
    by_login = driver_statement(sa.select(User.id).where(User.login == sa.bindparam("login")), idle_engine.dialect)
    with Session(idle_engine) as session:
        session.add(User(login=login, display_name=login, password_hash=None))
        assert read_row(session, by_login, login=login) is not None
        assert _status(session) == psycopg.pq.TransactionStatus.INTRANS
        session.rollback()
    with Session(idle_engine) as other:
        assert read_row(other, by_login, login=login) is None  # never committed by the read


def test_a_prepared_statement_is_planned_once_per_connection_and_outlives_its_transactions(pool_url: str) -> None:
    engine = make_engine(pool_url, pool_size=1, max_overflow=0)
    by_login = sa.select(User.id).where(User.login == sa.bindparam("login"), User.login.like("prep%"))
    prepared = driver_statement(by_login, engine.dialect, prepared=True)
    plain = driver_statement(by_login, engine.dialect)
    assert prepared.prepared is not None and plain.prepared is None
    assert prepared.prepared.prepare.endswith("WHERE users.login = $1::VARCHAR AND users.login LIKE $2::VARCHAR")
    held = sa.text("SELECT name FROM pg_prepared_statements")
    login = f"prepared_{time.monotonic_ns()}"
    try:
        with Session(engine) as session:
            session.add(User(login=login, display_name=login, password_hash=None))
            session.commit()
        for _ in range(4):
            with Session(engine) as session:  # alone, then inside a transaction the request rolls back
                assert read_row(session, prepared, login=login) == read_row(session, plain, login=login) is not None
                session.execute(sa.text("SELECT 1"))
                for _ in range(4):  # past the five custom plans PostgreSQL makes before it may keep a generic one
                    assert read_row(session, prepared, login="nobody") is None
                    assert read_row(session, prepared, login=login) is not None
                session.rollback()
        with Session(engine) as session:  # the one pooled connection holds it, once
            assert session.scalars(held).all() == [prepared.prepared.name]
            session.execute(sa.text("DEALLOCATE ALL"))  # gone behind the pool's back
            session.commit()
        with pytest.raises(sa.exc.DBAPIError) as stale, Session(engine) as session:
            read_row(session, prepared, login=login)
        assert stale.value.connection_invalidated  # replaced; the next call prepares it again
        with Session(engine) as session:
            assert read_row(session, prepared, login=login) is not None
    finally:
        engine.dispose()


def test_a_serial_statement_runs_without_parallel_workers_and_leaves_the_connection_as_it_was(pool_url: str) -> None:
    engine = make_engine(pool_url, pool_size=1, max_overflow=0)
    setting = sa.select(sa.func.current_setting("max_parallel_workers_per_gather"))
    serial, plain = driver_statement(setting, engine.dialect, serial=True), driver_statement(setting, engine.dialect)
    serial_prepared = driver_statement(setting, engine.dialect, serial=True, prepared=True)
    try:
        with Session(engine) as session:
            default = read_row(session, plain)
            assert default is not None and default != ("0",)
            assert read_row(session, serial) == read_row(session, serial_prepared) == ("0",)  # alone
            assert read_row(session, plain) == default
            session.execute(sa.text("SELECT 1"))  # inside the session's transaction
            assert read_row(session, serial) == ("0",) and read_row(session, plain) == default
            session.rollback()
        failing = driver_statement(sa.select(sa.literal_column("1 / 0")), engine.dialect, serial=True)
        with pytest.raises(sa.exc.DataError), Session(engine) as session:
            read_row(session, failing)
        with Session(engine) as session:  # the same pooled connection, its setting restored
            assert read_row(session, plain) == default
    finally:
        engine.dispose()


def test_read_row_raises_a_lost_connection_as_sqlalchemy_does_and_the_pool_recovers(pool_url: str) -> None:
    engine = make_engine(pool_url, ping_after_idle_s=60)
    pid = driver_statement(sa.select(sa.func.pg_backend_pid()), engine.dialect)
    try:
        with Session(engine) as session:
            (first,) = read_row(session, pid) or (None,)
        _terminate(pool_url, first)
        with pytest.raises(sa.exc.OperationalError) as lost, Session(engine) as session:
            read_row(session, pid)
        assert lost.value.connection_invalidated  # the web layer answers it with a 503
        with Session(engine) as session:
            assert (read_row(session, pid) or (first,))[0] != first
        bad = driver_statement(sa.select(sa.literal_column("1 / 0")), engine.dialect)
        with pytest.raises(sa.exc.DataError), Session(engine) as session:
            read_row(session, bad)  # a statement's own error: the connection stays in the pool, usable
        with Session(engine) as session:
            assert read_row(session, driver_statement(sa.select(sa.literal_column("2")), engine.dialect)) == (2,)
    finally:
        engine.dispose()


def test_the_product_s_connections_do_not_compile_with_jit(pool_url: str) -> None:
    """PostGIS's high function costs carry spatial statements over jit_above_cost: compiling cost more than running."""
    engine = make_engine(pool_url, connect_args={"options": "-c application_name=jit_probe"})
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_setting('jit')")).scalar_one() == "off"
            assert conn.execute(sa.text("SELECT current_setting('application_name')")).scalar_one() == "jit_probe"
    finally:
        engine.dispose()
