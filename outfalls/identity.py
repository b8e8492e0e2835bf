"""The identity of a request, from a session cookie or an API token, in one SELECT: the session (or token), its
user, their roles and their scope codes come back in one row, so the scope is computed once per request.

Nothing is written on most requests: a session is marked as seen, and a token as used (and audited), at most
once every ``SEEN_EVERY``; a refused token is audited every time. The SELECT is sent on its own, outside the
request's transaction (no BEGIN and ROLLBACK around it), and what it found is kept per process and database
(``outfalls.db.notify.ChangeCache``, topic ``identity``) until a commit anywhere ends or moves a session, revokes a
token, or changes a user, their roles or their scope: PostgreSQL's notice of that commit (revision 0024), or the
commit itself when made by this process, drops everything kept. So an expired or deleted session, a revoked or
expired token and a disabled user are still refused on the very next request, and most requests send no SQL to
know who they are. Expiry is checked on every request against the clock; unknown credentials are never kept.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Dialect, TextClause, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from outfalls.accounts import SEEN_EVERY, Identity, audit, refuse_token, sha256_hex, token_problem
from outfalls.db.engine import DriverStatement, driver_statement, read_row
from outfalls.db.notify import IDENTITY, ChangeCache, listener_for
from outfalls.models import ApiToken, WebSession
from outfalls.scope import Scope
from outfalls.types import AuditAction, Role

_USER_COLUMNS = """
    u.id AS user_id, u.login, u.display_name, u.is_active, u.is_national,
    ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id) AS roles,
    ARRAY(SELECT a.code FROM user_scopes us JOIN admin_areas a ON a.id = us.admin_area_id
          WHERE us.user_id = u.id) AS areas,
    ARRAY(SELECT b.code FROM user_scopes us JOIN basins b ON b.id = us.basin_id WHERE us.user_id = u.id) AS basins
"""
SESSION_IDENTITY = text(
    f"""SELECT s.csrf_token, s.last_seen_at, s.expires_at, {_USER_COLUMNS}
    FROM web_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = :id AND u.is_active"""
)
IDENTITIES_KEPT = 10_000  # sessions and tokens whose identity a process keeps, per database
TOKEN_IDENTITY = text(
    f"""SELECT t.id AS token_id, t.revoked_at, t.expires_at, t.last_used_at, {_USER_COLUMNS}
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = :hash"""
)


class _User(NamedTuple):
    user_id: int
    login: str
    display_name: str
    is_active: bool
    is_national: bool
    roles: list[str]
    areas: list[str]
    basins: list[str]


class _SessionRow(NamedTuple):
    csrf_token: str
    last_seen_at: datetime
    expires_at: datetime
    user: _User


class _TokenRow(NamedTuple):
    token_id: int
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    user: _User


@functools.lru_cache(maxsize=8)
def _prepared(statement: TextClause, dialect: Dialect) -> DriverStatement:
    """The identity SELECTs, prepared on each pooled connection: every request sends one, and planning its joins
    and subqueries cost as much as reading the row.
    """
    return driver_statement(statement, dialect, prepared=True)


_kept: dict[str, ChangeCache[tuple[str, str], tuple[Any, ...]]] = {}
_kept_by_engine: weakref.WeakKeyDictionary[Engine, ChangeCache[tuple[str, str], tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary()
)  # the same, found without spelling the URL out on every request
_kept_lock = threading.Lock()


def kept_identities(bind: Engine | Connection) -> ChangeCache[tuple[str, str], tuple[Any, ...]] | None:
    """The identities kept for the database of ``bind``; None for one connection (a caller's transaction, which
    commits nothing, so no notice of its changes is ever sent).
    """
    if not isinstance(bind, Engine):
        return None
    cache = _kept_by_engine.get(bind)
    if cache is None:
        url = bind.url.render_as_string(hide_password=False)
        with _kept_lock:
            cache = _kept.get(url)
            if cache is None:
                cache = _kept[url] = ChangeCache(listener_for(url), IDENTITY, IDENTITIES_KEPT)
        _kept_by_engine[bind] = cache
    return cache


SessionOrOpen = Session | Callable[[], Session]  # a session, or how to open one when it is first needed
Bind = Engine | Connection


def _open(session: SessionOrOpen) -> Session:
    return session if isinstance(session, Session) else session()


def _read(session: SessionOrOpen, bind: Bind, statement: TextClause, key: tuple[str, str],
          **params: Any) -> tuple[Any, ...] | None:  # fmt: skip
    """The row of an identity SELECT: kept, or sent on its own (outside the request's transaction: no
    BEGIN/ROLLBACK). A kept row needs no session: one given as how to open it is not opened.
    """
    def select() -> tuple[Any, ...] | None:
        return read_row(_open(session), _prepared(statement, bind.dialect), **params)

    cache = kept_identities(bind)
    return cache.get(key, select) if cache is not None else select()


def _seen(bind: Bind, key: tuple[str, str], row: tuple[Any, ...]) -> None:
    """Keep what this request wrote of a session or token (seen or used now), so the next one does not write it
    again.
    """
    cache = kept_identities(bind)
    if cache is not None:
        cache.replace(key, row)


def _bind(session: SessionOrOpen, bind: Bind | None) -> Bind:
    return bind if bind is not None else _open(session).get_bind()


@dataclass(frozen=True, slots=True)
class RequestIdentity:
    """Who a request's credentials name; the session's CSRF token (None for a token); whether resolving them
    wrote something (the session seen, the token used) for the caller to commit.
    """

    identity: Identity
    csrf_token: str | None = None
    wrote: bool = False


def _identity(row: _User, *, via_token: bool) -> Identity:
    if row.is_national:
        scope = Scope.national()
    else:  # sorted as accounts.scope_of sorts them, so both give equal scopes
        scope = Scope(area_codes=tuple(sorted(row.areas)), basin_codes=tuple(sorted(row.basins)))
    return Identity(row.user_id, row.login, row.display_name, frozenset(Role(r) for r in row.roles), scope,
                    via_token)  # fmt: skip


def session_identity(session: SessionOrOpen, cookie: str | None, *, bind: Bind | None = None) -> RequestIdentity | None:
    """The identity of a session cookie, or None (unknown, expired, tampered, or a disabled user). ``session`` may
    be given as how to open it, with the ``bind`` it opens on: a kept identity then opens none.
    """
    if not cookie or len(cookie) > 200:
        return None
    session_id = sha256_hex(cookie)
    now = datetime.now(UTC)
    key = ("session", session_id)
    bind = _bind(session, bind)
    found = _read(session, bind, SESSION_IDENTITY, key, id=session_id)
    if found is None:
        return None
    row = _SessionRow(found[0], found[1], found[2], _User(*found[3:]))
    if row.expires_at <= now:
        return None
    wrote = now - row.last_seen_at > SEEN_EVERY
    if wrote:
        _open(session).execute(
            update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now),
            execution_options={"synchronize_session": False},
        )
        _seen(bind, key, (found[0], now, *found[2:]))
    return RequestIdentity(_identity(row.user, via_token=False), str(row.csrf_token), wrote)


def token_identity(
    session: SessionOrOpen, plain: str, *, login: str | None = None, ip: str | None = None, bind: Bind | None = None
) -> RequestIdentity:
    """The identity of an API token (``login``: the name given with HTTP Basic must be the token's owner).

    Raises:
        NotAuthenticated: unknown, expired or revoked token, wrong owner, or a disabled user (audited; the
            caller commits the refusal).
    """
    now = datetime.now(UTC)
    token_hash = sha256_hex(plain.strip())
    key = ("token", token_hash)
    bind = _bind(session, bind)
    found = _read(session, bind, TOKEN_IDENTITY, key, hash=token_hash)
    if found is None:
        refuse_token(_open(session), plain, "unknown", login=login, ip=ip)
    row = _TokenRow(found[0], found[1], found[2], found[3], _User(*found[4:]))
    problem = token_problem(row.revoked_at, row.expires_at, row.user.is_active, row.user.login, login, now)
    if problem is not None:
        refuse_token(_open(session), plain, problem, login=login, ip=ip)
    wrote = row.last_used_at is None or now - row.last_used_at > SEEN_EVERY
    if wrote:
        opened = _open(session)
        opened.execute(
            update(ApiToken).where(ApiToken.id == row.token_id).values(last_used_at=now),
            execution_options={"synchronize_session": False},
        )
        _seen(bind, key, (*found[:3], now, *found[4:]))
        audit(opened, AuditAction.TOKEN_USED, actor=row.user.login, ip=ip, token_id=row.token_id)
    return RequestIdentity(_identity(row.user, via_token=True), None, wrote)
