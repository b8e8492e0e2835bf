"""Engines, sessions and migrations, for the embedded cluster or an external PostGIS server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from outfalls.config import PROJECT_DIR, Settings
from outfalls.db.cluster import Cluster
from outfalls.errors import DatabaseUnavailable

MIGRATIONS_DIR = PROJECT_DIR / "migrations"


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


# A pooled connection idle for longer than this is pinged before it is handed out: one that has just been used is
# known to be alive, and a ping on every checkout would cost each request a round trip.
PING_AFTER_IDLE_S = 10.0


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Check a pooled connection at checkout once it has been idle ``idle_s`` (a restarted or failed-over server
    leaves dead connections in the pool): a dead one is replaced before the request sees it.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    driver_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkout")
    def _handed_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_s:
            return  # a new connection, or one used a moment ago
        try:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_conn.rollback()
        except driver_error as err:  # the pool drops it and hands out another
            raise DisconnectionError(str(err)) from err


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url`` (psycopg 3); a connection idle for a while is checked before it is used."""
    # No server-side prepared statements: after a few executions PostgreSQL may switch a prepared query to a
    # generic plan, and for the map's "first 20,000 in this box" that plan sorts the whole table (seconds at
    # national scale) instead of walking the primary key (milliseconds).
    connect_args = {"prepare_threshold": None, **kw.pop("connect_args", {})}
    try:
        engine = sa.create_engine(url, connect_args=connect_args, **kw)
    except (ArgumentError, ImportError) as err:
        raise DatabaseUnavailable(f"invalid database URL {redact(url)}: {err}") from err
    _ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


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
