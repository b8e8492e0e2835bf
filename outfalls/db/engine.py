"""Engines, sessions and migrations, for the embedded cluster or an external PostGIS server."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import BindParameter, ClauseElement

from outfalls.config import PROJECT_DIR, Settings
from outfalls.db.cluster import Cluster
from outfalls.errors import DatabaseUnavailable

MIGRATIONS_DIR = PROJECT_DIR / "migrations"
# A pooled connection that sat idle longer than this is pinged before use (and replaced when the server is gone:
# restarted, failed over, or a firewall dropped the idle link). One in steady use is not: a ping on every checkout
# was a round trip on every request.
PING_AFTER_IDLE_S = 5.0


def cluster_for(settings: Settings) -> Cluster:
    """The embedded cluster of these settings (under ``data_dir/pg``)."""
    return Cluster(settings.storage.pg_dir)


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the catalogue: the external one, or the embedded cluster's."""
    if settings.database.is_embedded:
        return cluster_for(settings).url(settings.database.name)
    return settings.database.url


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def ensure_database(settings: Settings, *, progress: Callable[[str], None] | None = None) -> str:
    """Make the catalogue database reachable and return its URL.

    Embedded: initialise and start the cluster when needed and create the database with PostGIS.
    External: check that the server answers.

    Raises:
        DatabaseUnavailable: the server cannot be started or reached; the message says why.
    """
    if not settings.database.is_embedded:
        check_connection(settings.database.url)
        return settings.database.url
    cluster = cluster_for(settings)
    if not cluster.is_initialised and progress:
        progress(f"creating the embedded PostgreSQL cluster in {cluster.pgdata}")
    if not cluster.is_running:
        if progress:
            progress("starting the embedded PostgreSQL server")
        cluster.start(timeout_s=settings.database.start_timeout_s)
    if not cluster.has_database(settings.database.name):
        cluster.create_database(settings.database.name, extensions=("postgis",))
    return cluster.url(settings.database.name)


def make_engine(url: str, *, ping_after_idle_s: float = PING_AFTER_IDLE_S, **kw: Any) -> Engine:
    """An engine for ``url`` (psycopg 3) whose pool pings a connection only after it sat idle ``ping_after_idle_s``."""
    # No statements prepared by the driver: after a few executions PostgreSQL may switch a prepared query to a
    # generic plan, and for the map's "first 20,000 in this box" that plan sorts the whole table (seconds at
    # national scale) instead of walking the primary key (milliseconds).
    # (The few lookups by key that gain from it are prepared in SQL: ``driver_statement(..., prepared=True)``.)
    connect_args = {"prepare_threshold": None, **kw.pop("connect_args", {})}
    # No JIT compilation: PostGIS gives its functions high costs, so spatial statements that run in milliseconds
    # cross jit_above_cost and spent 20–100 ms compiling (a z10 vector tile at 10⁶ outfalls: 100 of 156 ms).
    # The catalogue's statements are short or spatial; none gains from it.
    connect_args["options"] = " ".join(filter(None, (connect_args.get("options"), "-c jit=off")))
    # Last in, first out: the connection just given back serves the next request, so under steady traffic the
    # pooled connections in use are never idle long enough to need a ping, and the spare ones age out quietly.
    kw.setdefault("pool_use_lifo", True)
    try:
        engine = sa.create_engine(url, connect_args=connect_args, **kw)
    except (ArgumentError, ImportError) as err:
        raise DatabaseUnavailable(f"invalid database URL {redact(url)}: {err}") from err
    _ping_after_idle(engine, ping_after_idle_s)
    return engine


def _ping_after_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only when it was idle over ``idle_s``; a dead one is replaced.

    A connection that dies between two close requests fails the first statement of the next: SQLAlchemy then
    invalidates it and every pooled connection older than it, so one request sees the outage (as a 503), not one
    per connection.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since <= idle_s:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_conn, None):
                raise DisconnectionError(f"the pooled connection is gone: {err}") from err  # the pool reconnects
            raise


@contextmanager
def outside_transaction(session: Session) -> Iterator[None]:
    """Send the block's statements each in its own implicit transaction when the session's connection has no
    transaction open on the server yet: no ``BEGIN`` before them and no ``ROLLBACK`` after, two round trips fewer.

    For single read-only statements (the identity of a request). Once a transaction is open (a write, or a test
    holding its connection in one), the statements simply join it. Pending changes are flushed first, in the
    session's transaction, and nothing is flushed inside the block, so no write is ever committed on its own.
    """
    session.flush()
    connection = session.connection()
    driver = connection.connection.driver_connection
    if (
        not isinstance(driver, psycopg.Connection)
        or driver.autocommit
        or driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    ):
        yield
        return
    driver.autocommit = True
    try:
        with session.no_autoflush:
            yield
    finally:
        try:
            driver.autocommit = False
        except psycopg.Error:
            connection.invalidate()  # the link broke under the statement: never hand it out again as it is


def check_connection(url: str) -> None:
    """Connect once and check that PostGIS is there.

    Raises:
        DatabaseUnavailable: unreachable server, refused login, or no PostGIS.
    """
    engine = make_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            has_postgis = conn.execute(
                sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar_one()
    except OperationalError as err:
        reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise DatabaseUnavailable(f"cannot connect to the database at {redact(url)}: {reason}") from err
    finally:
        engine.dispose()
    if not has_postgis:
        raise DatabaseUnavailable(f"the database server at {redact(url)} has no PostGIS extension")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for ``engine``; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def _alembic_config(connection: sa.Connection) -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (Alembic); creates PostGIS when missing."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            command.upgrade(_alembic_config(conn), revision)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision``."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), revision)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at, or None before the first migration."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one()
            if not exists:
                return None
            rev = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            return str(rev) if rev is not None else None
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision in ``migrations/``."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    if head is None:
        raise DatabaseUnavailable("no migrations found")
    return head


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled once into the driver's SQL, with the values of the parameters it carries (a scope's
    area prefixes); ``read_row`` sends it with the values of the call. A prepared one (``prepared`` is set) is
    sent as ``EXECUTE prepared.name(...)`` with the values in the order of ``prepared.order``.
    """

    sql: str
    params: Mapping[str, Any]
    prepared: Prepared | None = None
    serial: bool = False  # planned without parallel workers


@dataclass(frozen=True, slots=True)
class Prepared:
    """The server side of a prepared ``DriverStatement``: its name, its ``PREPARE`` and its parameters in order."""

    name: str
    prepare: str
    order: tuple[str, ...]

    @classmethod
    def of(cls, driver_sql: str) -> Prepared:
        """The ``PREPARE`` of driver SQL (``%(name)s`` placeholders, ``%%`` for a percent sign)."""
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(0) == "%%":
                return "%"
            key = match.group(1)
            if key not in order:
                order.append(key)
            return f"${order.index(key) + 1}"

        body = _PLACEHOLDER.sub(number, driver_sql)
        name = "outfalls_" + hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:16]
        _BODIES[name] = body
        return cls(name, f"PREPARE {name} AS {body}", tuple(order))

    def execute(self, values: list[Any]) -> sql.Composed:
        """The ``EXECUTE`` of ``values`` (in ``order``), written as literals: ``EXECUTE`` is a utility statement,
        which takes no parameters of the protocol; psycopg quotes each value as it would bind it.
        """
        if not values:
            return sql.Composed([sql.SQL("EXECUTE "), sql.Identifier(self.name)])
        listed = sql.SQL(", ").join(sql.Literal(v) for v in values)
        return sql.SQL("EXECUTE {}({})").format(sql.Identifier(self.name), listed)


_BODIES: dict[str, str] = {}  # the statement each prepared name stands for (a few, made once per scope at most)


def prepared_body(execute: str) -> str | None:
    """The statement an ``EXECUTE name(...)`` sent by ``read_row`` runs (for timers and logs), else None."""
    name = execute.removeprefix("EXECUTE ").split("(", 1)[0].strip().strip('"')
    return _BODIES.get(name) if execute.startswith("EXECUTE ") else None


# no such prepared statement, one of that name already, "cached plan must not change result type"
_STALE_PREPARED = frozenset({"26000", "42P05", "0A000"})
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
# The prepared statements a pooled connection holds (its ``info`` lives as long as the connection does).
_HELD = "outfalls.prepared"


def driver_statement(
    statement: ClauseElement, dialect: Dialect, *, prepared: bool = False, serial: bool = False
) -> DriverStatement:
    """``statement`` compiled for ``dialect``, lists expanded into one parameter each.

    ``prepared``: ``read_row`` prepares it on each pooled connection the first time that connection sends it,
    and executes it there from then on, so the server plans it once per connection instead of at every call
    (after five calls PostgreSQL may keep one generic plan for every value). Only for lookups by key, whose best
    plan does not depend on the values. The statement is prepared in SQL (``PREPARE``), not by psycopg: psycopg
    forgets (and deallocates) every statement it prepared at each ``ROLLBACK``, which ends most requests, while a
    server's prepared statement outlives the transaction it was made in.

    ``serial``: planned and run without parallel workers (``max_parallel_workers_per_gather`` is 0 for the one
    statement), for a statement whose rows all go to one aggregate in the leader, where gathering them from
    workers costs more than the workers save.

    Only for statements whose parameters the driver takes as they are (numbers, text, timestamps): the values
    do not pass through SQLAlchemy's type conversions.
    """
    # the parameters left for the call are given a placeholder: expanding the lists at compile time checks them all
    left = {p.key for p in visitors.iterate(statement) if isinstance(p, BindParameter) and p.required}
    if left:
        statement = statement.params(dict.fromkeys(left))
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"not a SQL statement: {type(statement).__name__}")
    expanded = compiled.construct_expanded_state()
    text = expanded.statement
    params = MappingProxyType(dict(expanded.parameters))
    return DriverStatement(text, params, Prepared.of(text) if prepared else None, serial)


def read_row(session: Session, statement: DriverStatement, **params: Any) -> tuple[Any, ...] | None:
    """The first row of one read-only statement, sent straight through the driver.

    For lookups by key on hot paths: SQLAlchemy's execution pipeline (the session's transaction, the compiled
    cache, parameter and result processing) costs a third of such a statement's round trip, and nothing of it is
    needed when the SQL is compiled once and the row is read as it comes. A session holding nothing to flush and
    no transaction borrows a pooled connection for the one statement (no ``BEGIN``, no ``ROLLBACK``); otherwise
    the statement runs on the session's connection, in its transaction when one is open. Driver errors are raised
    as SQLAlchemy's (a lost connection is invalidated, as the pipeline would).
    """
    values = {**statement.params, **params}
    bind = session.get_bind()
    if isinstance(bind, Engine) and not (session.in_transaction() or session.new or session.dirty or session.deleted):
        pooled = bind.raw_connection()
        try:
            return _fetch_one(pooled, statement, values, bind.dialect, alone=True)
        finally:
            pooled.close()
    with outside_transaction(session):
        connection = session.connection()
        return _fetch_one(connection.connection, statement, values, connection.dialect, alone=False)


def _send(
    driver: psycopg.Connection[Any], pooled: PoolProxiedConnection, statement: DriverStatement, values: dict[str, Any]
) -> psycopg.Cursor[Any]:
    prepared = statement.prepared
    if prepared is None:
        return driver.execute(statement.sql, values)
    held: set[str] = pooled.info.setdefault(_HELD, set())
    if prepared.name not in held:
        driver.execute(prepared.prepare)
        held.add(prepared.name)
    return driver.execute(prepared.execute([values[k] for k in prepared.order]))


def _fetch_one(
    pooled: PoolProxiedConnection, statement: DriverStatement, values: dict[str, Any], dialect: Dialect, *, alone: bool
) -> tuple[Any, ...] | None:
    driver = pooled.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("read_row needs a psycopg connection")
    try:
        if alone:
            driver.autocommit = True  # one implicit transaction, as in outside_transaction
        try:
            if not statement.serial:
                return _send(driver, pooled, statement, values).fetchone()
            # (sent one after the other: in one round trip, in psycopg's pipeline mode, a dense z10 tile at 10⁶
            # outfalls took 35–45 ms against 32–36 ms)
            driver.execute("SET max_parallel_workers_per_gather = 0")
            try:
                return _send(driver, pooled, statement, values).fetchone()
            finally:  # (in a transaction that failed, its rollback undoes the SET)
                if driver.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                    driver.execute("RESET max_parallel_workers_per_gather")
        finally:
            if alone:
                driver.autocommit = False
    except psycopg.Error as err:
        lost = dialect.is_disconnect(err, pooled, None)  # type: ignore[arg-type]  # psycopg's own error class
        # A connection whose prepared statements are not what it is known to hold (deallocated behind its back,
        # or made stale by a change of a table's columns) is replaced: the next call prepares them again.
        lost = lost or (statement.prepared is not None and err.sqlstate in _STALE_PREPARED)
        if lost:
            pooled.invalidate(err)
        raise DBAPIError.instance(
            statement.sql, values, err, psycopg.Error, connection_invalidated=lost, dialect=dialect
        ) from err
