"""The request's database session: one per request, closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from outfalls.config import Settings


def init_db(app: Flask, sessions: sessionmaker[Session]) -> None:
    """Register the session factory and the teardown that closes the request's session."""
    app.extensions["outfalls.sessions"] = sessions
    app.teardown_appcontext(close_db)


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
