"""Identity as served: the app on its own pooled engine (not a test's connection held in a transaction), so the
identity SELECT really runs outside the request's transaction; a logout, a disabled user or a revoked token made in
another session and committed is refused on the very next request all the same."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.config import load_settings
from outfalls.db.engine import make_engine, make_sessionmaker, prepared_body
from outfalls.db.notify import CATALOGUE, IDENTITY, listener_for
from outfalls.models import User, WebSession
from web.auth import SESSION_COOKIE


@dataclass
class Served:
    app: Flask
    engine: sa.Engine
    statements: list[tuple[str, psycopg.pq.TransactionStatus]]


@pytest.fixture
def served(clone_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    from web import create_app

    url = clone_db("identity_pooled")
    engine = make_engine(url)
    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(tmp_path / "data")})
    app = create_app(settings, sessions=make_sessionmaker(engine), testing=True)
    statements: list[tuple[str, psycopg.pq.TransactionStatus]] = []

    def after(conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        status = conn.connection.driver_connection.info.transaction_status  # type: ignore[union-attr]
        statements.append((" ".join(statement.split()), psycopg.pq.TransactionStatus(status)))

    driver_execute = psycopg.Connection.execute

    def by_driver(self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return driver_execute(self, query, *args, **kwargs)
        finally:  # a statement sent straight to the driver (read_row: the identity SELECT, prepared)
            text = query.as_string(self) if isinstance(query, psycopg.sql.Composable) else str(query)
            text = prepared_body(text) or text
            if not text.startswith("PREPARE "):
                statements.append((" ".join(text.split()), psycopg.pq.TransactionStatus(self.info.transaction_status)))

    sa.event.listen(engine, "after_cursor_execute", after)
    monkeypatch.setattr(psycopg.Connection, "execute", by_driver)
    yield Served(app, engine, statements)
    engine.dispose()


def _identity_reads(served: Served) -> list[psycopg.pq.TransactionStatus]:
    return [status for sql, status in served.statements
            if sql.startswith("SELECT") and ("FROM web_sessions" in sql or "FROM api_tokens" in sql)]  # fmt: skip


def test_identity_on_a_pooled_connection_opens_no_transaction_and_sees_committed_revocations(served: Served) -> None:
    with Session(served.engine) as session:
        user = accounts.create_user(session, "pooled", roles=("leader",), is_national=True, actor="tests")
        other = accounts.create_user(session, "pooled2", roles=("leader",), is_national=True, actor="tests")
        cookie, _ = accounts.start_session(session, user)
        kept, _ = accounts.start_session(session, other)
        token, plain = accounts.create_token(session, "pooled2", name="QGIS", actor="tests")
        session.commit()
        other_id, token_id = other.id, token.id
    served.statements.clear()
    browser, kept_browser, qgis = (served.app.test_client() for _ in range(3))
    browser.set_cookie(SESSION_COOKIE, cookie)
    kept_browser.set_cookie(SESSION_COOKIE, kept)
    bearer = {"Authorization": f"Bearer {plain}"}
    for client, headers in ((browser, {}), (kept_browser, {}), (qgis, bearer)):
        assert client.get("/api/outfalls", headers=headers).status_code == 200
    assert _identity_reads(served) == [psycopg.pq.TransactionStatus.IDLE] * 3  # no BEGIN before, nothing after

    with Session(served.engine) as session:  # logged out in another tab, served by another process
        accounts.end_session(session, cookie)
        session.commit()
    assert browser.get("/api/outfalls").status_code == 401
    assert kept_browser.get("/api/outfalls").status_code == 200

    with Session(served.engine) as session:
        accounts.revoke_token(session, token_id, actor="tests", owner_id=other_id)
        session.commit()
    assert qgis.get("/api/outfalls", headers=bearer).status_code == 401

    with Session(served.engine) as session:
        disabled = session.get(User, other_id)
        assert disabled is not None
        accounts.update_user(session, other_id, expected_version=disabled.version, actor="tests", is_active=False)
        session.commit()
    assert kept_browser.get("/api/outfalls").status_code == 401


def test_marking_a_session_seen_after_the_identity_read_is_committed(served: Served) -> None:
    with Session(served.engine) as session:
        user = accounts.create_user(session, "seen", roles=("leader",), is_national=True, actor="tests")
        cookie, web_session = accounts.start_session(session, user)
        web_session.last_seen_at = datetime.now(UTC) - timedelta(minutes=5)
        session.commit()
        session_id, before = web_session.id, web_session.last_seen_at
    served.statements.clear()
    client = served.app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie)
    assert client.get("/api/outfalls").status_code == 200
    [update] = [status for sql, status in served.statements if sql.startswith("UPDATE web_sessions")]
    assert update == psycopg.pq.TransactionStatus.INTRANS  # the write is a transaction of its own, committed
    with Session(served.engine) as session:
        seen = session.get(WebSession, session_id)
        assert seen is not None and seen.last_seen_at > before


def _login(served: Served, login: str) -> tuple[str, int]:
    """A new user logged in, once the notice of that commit (its roles) has come back to this process."""
    listener = listener_for(served.engine.url.render_as_string(hide_password=False))
    _wait(lambda: listener.token(IDENTITY) is not None)
    heard = listener.token(IDENTITY)[1]  # type: ignore[index]
    with Session(served.engine) as session:
        user = accounts.create_user(session, login, roles=("leader",), is_national=True, actor="tests")
        cookie, _ = accounts.start_session(session, user)
        session.commit()
        user_id = user.id
    _wait(lambda: listener.token(IDENTITY)[1] != heard)  # type: ignore[index]
    return cookie, user_id


def _browser(served: Served, login: str) -> tuple[FlaskClient, str, int]:
    """A browser logged in as a new user, after its first request (its identity now kept)."""
    cookie, user_id = _login(served, login)
    client = served.app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie)
    assert client.get("/api/outfalls").status_code == 200
    return client, cookie, user_id


def _wait(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_known_identity_is_kept_until_another_process_revokes_it(served: Served) -> None:
    client, cookie, user_id = _browser(served, "kept")
    served.statements.clear()
    for _ in range(3):
        assert client.get("/api/outfalls").status_code == 200
    assert _identity_reads(served) == []  # kept: no SQL to know who it is

    listener = listener_for(served.engine.url.render_as_string(hide_password=False))
    before = listener.token(IDENTITY)
    libpq = served.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as other:  # another process disables the user
        other.execute("UPDATE users SET is_active = false WHERE id = %s", (user_id,))
    _wait(lambda: listener.token(IDENTITY) != before)
    assert client.get("/api/outfalls").status_code == 401


def test_a_kept_tile_for_a_kept_identity_opens_no_database_session(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _cookie, _ = _browser(served, "tiles")
    tile = "/tiles/outfalls/14/13149/6522.mvt"
    first = client.get(tile)
    assert first.status_code == 200
    opened: list[Session] = []

    class Counted(Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(served.app.extensions["outfalls.sessions"], "class_", Counted)
    again = client.get(tile)
    assert again.status_code == 200 and again.data == first.data
    assert served.app.extensions["outfalls.tile_cache"].hits >= 1
    assert opened == []  # who is asking and the tile both kept: no session opened, none to close
    assert client.get("/api/outfalls").status_code == 200 and len(opened) == 1  # a list reads the database


def test_a_kept_session_still_expires_on_time(served: Served) -> None:
    client, cookie, _ = _browser(served, "expiring")
    with Session(served.engine) as session:
        web_session = session.get(WebSession, accounts.sha256_hex(cookie))
        expires_at = web_session.expires_at if web_session is not None else None
    assert expires_at is not None
    with time_machine.travel(expires_at + timedelta(seconds=1), tick=False):
        assert client.get("/api/outfalls").status_code == 401


def test_a_kept_session_is_marked_seen_once_a_minute_not_on_every_request(served: Served) -> None:
    client, cookie, _ = _browser(served, "seen_once")
    with time_machine.travel(datetime.now(UTC) + accounts.SEEN_EVERY + timedelta(seconds=5), tick=True):
        served.statements.clear()
        for _ in range(3):
            assert client.get("/api/outfalls").status_code == 200
        assert [sql for sql, _ in served.statements if sql.startswith("UPDATE web_sessions")] != []
        assert len([sql for sql, _ in served.statements if sql.startswith("UPDATE web_sessions")]) == 1
        assert _identity_reads(served) == []  # marking it seen is no change of who it is


def test_a_commit_that_changes_neither_topic_keeps_both_caches(served: Served) -> None:
    listener = listener_for(served.engine.url.render_as_string(hide_password=False))
    _wait(lambda: listener.token(IDENTITY) is not None)
    before = (listener.token(IDENTITY), listener.token(CATALOGUE))
    with Session(served.engine) as session:
        session.execute(sa.text("UPDATE web_sessions SET last_seen_at = now() WHERE false"))
        session.execute(sa.text("INSERT INTO audit_log (action, actor, success) VALUES ('login', 'tests', true)"))
        session.commit()
    time.sleep(0.2)
    assert (listener.token(IDENTITY), listener.token(CATALOGUE)) == before
    with Session(served.engine) as session:  # one that changes a role counts at its commit, in this process
        session.execute(sa.text("DELETE FROM user_roles WHERE false"))
        session.commit()
        assert listener.token(IDENTITY) != before[0] and listener.token(CATALOGUE) == before[1]
