"""The request's database session: one per request, closed at teardown; and the widest id a path may name."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter, Map

from outfalls.config import Settings

# The largest PostgreSQL ``integer``: the key of every table a path or a form names by id (outfalls, attachments,
# users, jobs, cells …). A number beyond it names nothing, and sent to the database it fails as out of range.
MAX_ID = 2**31 - 1


class RowId(IntegerConverter):
    """``<int:…>`` in routes: a whole number up to :data:`MAX_ID`, so a wider one is an unknown address (404),
    not a database error. A route on a ``bigint`` key says so: ``<int(max=9223372036854775807):…>``.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_db(app: Flask, sessions: sessionmaker[Session]) -> None:
    """Register the session factory, the teardown that closes the request's session, and the id converter
    (before any blueprint adds its routes).
    """
    app.extensions["outfalls.sessions"] = sessions
    app.teardown_appcontext(close_db)
    app.url_map.converters["int"] = RowId


def db() -> Session:
    """The session of the current request."""
    if "db" not in g:
        g.db = current_app.extensions["outfalls.sessions"]()
    session: Session = g.db
    return session


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's session (rolling back anything not committed)."""
    session = g.pop("db", None)
    if session is not None:
        session.close()


def settings() -> Settings:
    """The product settings of the running app."""
    value: Settings = current_app.extensions["outfalls.settings"]
    return value
