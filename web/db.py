"""The request's database session: one per request, closed at teardown; and the widest id a path may name."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from outfalls.config import Settings
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


def init_db(app: Flask, sessions: sessionmaker[Session]) -> None:
    """Register the session factory, the teardown that closes the request's session, and the check of path ids."""
    app.extensions["outfalls.sessions"] = sessions
    app.teardown_appcontext(close_db)
    app.url_value_preprocessor(_refuse_wide_ids)


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
