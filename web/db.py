"""The request's database session: one per request, closed at teardown; and the widest id a path may name.

Reads and writes are routed here, in one place: a GET of a read-only route (``REPLICA_BLUEPRINTS``,
``REPLICA_ENDPOINTS``) is served by a healthy replica when one is configured, unless the user's own last commit
has not reached it; everything else, and the identity check of every request, uses the primary. A read that
fails because its replica went away runs again on the primary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from outfalls.config import Settings
from outfalls.db.routing import LastCommits, ReplicaRouter, current_lsn
from outfalls.errors import NotFound

# The largest PostgreSQL ``integer``: the key of every table a path or a form names by id (outfalls, attachments,
# users, jobs, cells …). A number beyond it names nothing, and sent to the database it fails as out of range.
MAX_ID = 2**31 - 1


# A path id wider than MAX_ID still matches its route (so every method answers as for any unknown id) and is
# refused as "not found" before the view runs, never sent to the database.
def _refuse_wide_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    for name, value in (values or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID:
            raise NotFound(f"there is no {name.removesuffix('_id')} {value}", entity=name.removesuffix("_id"),
                           id=value)  # fmt: skip


# Read-only work a replica may serve, on GET and HEAD only: whole blueprints, and the read routes of the others.
REPLICA_BLUEPRINTS = frozenset({"tiles", "ogcapi", "progress_api"})
REPLICA_ENDPOINTS = frozenset({
    "dashboard.page", "dashboard.print_view", "dashboard.report_pdf", "dashboard.map_file",
    "catalogue.map_page", "catalogue.list_page", "catalogue.list_csv",
    "api.outfalls", "api.map_outfalls", "api.layer", "api.facets", "api.summary",
    "registers.page", "registers.dossier_page", "registers.dossier_pdf",
    # the public pages a sign board's QR code opens (a receipt stays on the primary: it follows its own write)
    "public.index", "public.geojson", "public.outfall", "public.photo",
})  # fmt: skip
READ_METHODS = frozenset({"GET", "HEAD"})


def is_replica_route(endpoint: str | None, method: str) -> bool:
    """Whether a request is read-only work a replica may serve."""
    if endpoint is None or method not in READ_METHODS:
        return False
    return endpoint in REPLICA_ENDPOINTS or endpoint.partition(".")[0] in REPLICA_BLUEPRINTS


def init_db(app: Flask, sessions: sessionmaker[Session], router: ReplicaRouter | None = None) -> None:
    """Register the session factory, the teardown that closes the request's session, and the check of path ids.

    With a ``router`` (replicas configured), read-only routes may be served by a replica; call ``route_reads``
    once every blueprint is registered.
    """
    app.extensions["outfalls.sessions"] = sessions
    app.extensions["outfalls.replicas"] = router
    app.teardown_appcontext(close_db)
    app.url_value_preprocessor(_refuse_wide_ids)
    if router is None:
        return
    app.extensions["outfalls.replica_sessions"] = {
        engine: sessionmaker(bind=engine, expire_on_commit=False) for engine in router.replicas
    }
    keep_s = router.max_lag_s + 2 * router.check_every_s  # by then every usable replica has replayed it
    app.extensions["outfalls.last_commits"] = LastCommits(keep_s)

    @event.listens_for(sessions, "after_flush")
    def _wrote(session: Session, _context: Any) -> None:
        session.info["wrote"] = True

    @event.listens_for(sessions, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop("wrote", False):
            session.info["committed_write"] = True

    @event.listens_for(sessions, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop("wrote", None)

    app.after_request(_remember_commit)


def route_reads(app: Flask) -> None:
    """Let every replica route's read run again on the primary when its replica fails under it."""
    if app.extensions.get("outfalls.replicas") is None:
        return
    for endpoint, view in list(app.view_functions.items()):
        if endpoint in REPLICA_ENDPOINTS or endpoint.partition(".")[0] in REPLICA_BLUEPRINTS:
            app.view_functions[endpoint] = _falls_back_to_primary(view)


def _falls_back_to_primary(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)  # keeps the route's declared access
    def read(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DBAPIError as err:
            engine = g.get("db_replica")
            if engine is None:
                raise
            current_app.extensions["outfalls.replicas"].mark_down(engine, str(err.orig or err))
            session = g.pop("db", None)
            g.db_replica = None
            if session is not None:
                try:
                    session.close()
                except DBAPIError:
                    pass  # the replica's connection is gone already
            g.db = primary_db()
            return view(*args, **kwargs)

    return read


def _remember_commit(response: Response) -> Response:
    """After a request that committed a write, remember the primary's WAL position for its user."""
    session: Session | None = g.get("primary_db")
    identity = g.get("identity")
    if session is not None and identity is not None and session.info.pop("committed_write", False):
        try:
            lsn = current_lsn(session.connection())
            session.rollback()
        except DBAPIError:
            return response  # the write is done; the next read of this user simply goes to the primary
        current_app.extensions["outfalls.last_commits"].remember(identity.user_id, lsn)
    return response


def primary_db() -> Session:
    """The request's session on the primary: for identity checks and anything that may write."""
    if "primary_db" not in g:
        g.primary_db = current_app.extensions["outfalls.sessions"]()
    session: Session = g.primary_db
    return session


def primary_bind() -> Engine | Connection:
    """What the primary's sessions are bound to (an engine; one connection in tests that roll back)."""
    bind: Engine | Connection = current_app.extensions["outfalls.sessions"].kw["bind"]
    return bind


def db() -> Session:
    """The session of the current request: on a replica for read-only routes when one can serve, else the primary."""
    if "db" not in g:
        g.db = _replica_session() or primary_db()
    session: Session = g.db
    return session


def _replica_session() -> Session | None:
    router: ReplicaRouter | None = current_app.extensions.get("outfalls.replicas")
    if router is None or not is_replica_route(request.endpoint, request.method):
        return None
    identity = g.get("identity")
    after = current_app.extensions["outfalls.last_commits"].last(identity.user_id) if identity is not None else None
    engine = router.replica_for(after)
    g.db_replica = engine
    if engine is None:
        return None
    session: Session = current_app.extensions["outfalls.replica_sessions"][engine]()
    return session


def served_by_replica() -> bool:
    """Whether the current request's reads are served by a replica."""
    return g.get("db_replica") is not None


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's sessions (rolling back anything not committed)."""
    for name in ("db", "primary_db"):
        session = g.pop(name, None)
        if session is not None:
            try:
                session.close()
            except DBAPIError:
                if name == "primary_db":
                    raise  # a replica that went away has nothing to roll back


def settings() -> Settings:
    """The product settings of the running app."""
    value: Settings = current_app.extensions["outfalls.settings"]
    return value
