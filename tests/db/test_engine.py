"""The engine's pool: a connection idle for a while is checked before it is handed out and replaced when the server
dropped it; one used a moment ago is handed out as it is, without a round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from outfalls.db import engine as engines

PID = sa.text("SELECT pg_backend_pid()")


def _drop(url: str, pid: int) -> None:
    other = engines.make_engine(url)
    try:
        with other.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        other.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced(
    clone_db: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.2)
    url = clone_db("engine_idle")
    engine = engines.make_engine(url)
    try:
        with engine.connect() as conn:
            pid = conn.execute(PID).scalar()
        with engine.connect() as conn:
            assert conn.execute(PID).scalar() == pid  # the pool hands the same one out again
        _drop(url, pid)
        time.sleep(0.3)
        with engine.connect() as conn:
            assert conn.execute(PID).scalar() != pid
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(
    clone_db: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 60.0)
    url = clone_db("engine_busy")
    engine = engines.make_engine(url)
    try:
        with engine.connect() as conn:
            pid = conn.execute(PID).scalar()
        _drop(url, pid)
        # no ping: the statement meets the dropped connection, and the pool starts afresh after it
        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.execute(PID)
        with engine.connect() as conn:
            assert conn.execute(PID).scalar() != pid
    finally:
        engine.dispose()
