"""The app's background job runner (one per process): long uploads and exports run on it."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from outfalls.jobs import JobRunner


def init_jobs(app: Flask, sessions: sessionmaker[Session], *, inline: bool) -> None:
    """Give the app its job runner (``inline``: run each job in the request, as tests need)."""
    app.extensions["outfalls.jobs"] = JobRunner(sessions, inline=inline)


def runner() -> JobRunner:
    """The app's job runner."""
    value: JobRunner = current_app.extensions["outfalls.jobs"]
    return value
