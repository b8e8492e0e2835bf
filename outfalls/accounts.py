"""Accounts: users, passwords (scrypt), roles, regional scope, API tokens, web sessions and the audit log.

A ``Scope`` is passed to every query and write of outfalls, so an out-of-scope record is never returned and
reads as "not found" (its existence does not leak).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from outfalls.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, StaleEdit
from outfalls.models import AdminArea, ApiToken, AuditEntry, Basin, User, UserRole, UserScope, WebSession
from outfalls.scope import Scope
from outfalls.types import AuditAction, Role

MIN_PASSWORD_LENGTH = 10
# A login name that failed this often within the window is refused for the rest of the window, whether
# or not the user exists (so the lockout does not reveal which names exist).
MAX_FAILED_LOGINS = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
# Marking a session as seen, or a token as used, is a write and a commit: done at most this often, so that most
# requests only read. Revocation, expiry and a disabled user still take effect on the very next request.
SEEN_EVERY = timedelta(minutes=1)
TOKEN_PREFIX = "ofp_"
BAD_LOGIN = "wrong user name or password"

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is acting: the user, their roles and their scope."""

    user_id: int
    login: str
    display_name: str
    roles: frozenset[Role]
    scope: Scope
    via_token: bool = False

    def has_any(self, roles: Iterable[Role]) -> bool:
        """True when the user holds one of ``roles``."""
        return bool(self.roles & set(roles))


# -- passwords ----------------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
            maxmem=64 * 1024 * 1024, dklen=len(digest) // 2,
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


# A hash to verify against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def check_password_strength(password: str) -> None:
    """Raises ``InvalidInput`` for a password that is too short or trivially weak."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(set(password)) < 4:
        raise InvalidInput("a password needs more than three different characters", field="password")


# -- audit --------------------------------------------------------------------------------------------------
def audit(
    session: Session,
    action: AuditAction,
    *,
    actor: str | None,
    success: bool = True,
    ip: str | None = None,
    **details: Any,
) -> AuditEntry:
    """Append an audit entry (flushed with the caller's transaction)."""
    entry = AuditEntry(action=action, actor=actor, success=success, ip=ip, details=details)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters for the audit log."""

    actor: str | None = None
    action: AuditAction | None = None
    success: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_audit(
    session: Session, f: AuditFilter, *, page: int = 1, page_size: int = 100
) -> tuple[list[AuditEntry], int]:
    """Audit entries, newest first, and the total matching ``f``."""
    cond = []
    if f.actor:
        cond.append(AuditEntry.actor == f.actor)
    if f.action:
        cond.append(AuditEntry.action == f.action)
    if f.success is not None:
        cond.append(AuditEntry.success.is_(f.success))
    if f.since:
        cond.append(AuditEntry.at >= f.since)
    if f.until:
        cond.append(AuditEntry.at < f.until)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*cond)) or 0
    rows = session.scalars(
        select(AuditEntry).where(*cond).order_by(AuditEntry.id.desc()).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return list(rows), total


# -- users --------------------------------------------------------------------------------------------------
def _resolve_scope(session: Session, areas: Sequence[str], basins: Sequence[str]) -> list[UserScope]:
    scopes = []
    for code in areas:
        area = session.scalar(select(AdminArea).where(AdminArea.code == code))
        if area is None:
            raise InvalidInput(
                f"unknown administrative area code {code!r}", field="area", value=code, reason="unknown_area"
            )
        scopes.append(UserScope(admin_area_id=area.id))
    for code in basins:
        basin = session.scalar(select(Basin).where(Basin.code == code))
        if basin is None:
            raise InvalidInput(f"unknown basin code {code!r}", field="basin", value=code, reason="unknown_basin")
        scopes.append(UserScope(basin_id=basin.id))
    return scopes


def _check_scope_given(is_national: bool, areas: Sequence[str]) -> None:
    if not is_national and not areas:
        raise InvalidInput("a user needs at least one administrative area (or national scope)", field="area",
                           reason="no_area")  # fmt: skip


def _parse_roles(roles: Iterable[str | Role]) -> list[Role]:
    out = []
    for r in roles:
        try:
            out.append(Role(r))
        except ValueError as err:
            names = ", ".join(x.value for x in Role)
            raise InvalidInput(f"unknown role {r!r}; roles are {names}", field="role", value=str(r),
                               reason="choice") from err  # fmt: skip
    if not out:
        raise InvalidInput("a user needs at least one role", field="role", reason="no_role")
    return sorted(set(out))


def create_user(
    session: Session,
    login: str,
    *,
    roles: Iterable[str | Role],
    areas: Sequence[str] = (),
    basins: Sequence[str] = (),
    is_national: bool = False,
    password: str | None = None,
    display_name: str | None = None,
    actor: str,
) -> User:
    """Create a user.

    Raises:
        InvalidInput: a bad login, role, area or basin code, or a weak password.
        Conflict: the login is taken.
    """
    login = login.strip()
    if not login or len(login) > 64 or any(c.isspace() or c in ":/\\" for c in login):
        raise InvalidInput("a login is 1–64 characters without spaces, ':' or slashes", field="login", value=login,
                           reason="login")  # fmt: skip
    if session.scalar(select(User.id).where(func.lower(User.login) == login.lower())):
        raise Conflict(f"the login {login!r} is taken", field="login", value=login)
    role_list = _parse_roles(roles)
    _check_scope_given(is_national, areas)
    if password is not None:
        check_password_strength(password)
    user = User(
        login=login,
        display_name=display_name or login,
        password_hash=hash_password(password) if password is not None else None,
        password_changed_at=datetime.now(UTC) if password is not None else None,
        is_national=is_national,
        is_active=True,
        roles=[UserRole(role=r) for r in role_list],
        scopes=_resolve_scope(session, areas, basins),
    )
    session.add(user)
    session.flush()
    audit(session, AuditAction.USER_CREATED, actor=actor, login=login, roles=[r.value for r in role_list],
          areas=list(areas), basins=list(basins), national=is_national)  # fmt: skip
    return user


def get_user(session: Session, login_or_id: str | int) -> User:
    """A user by login or id.

    Raises:
        NotFound: no such user.
    """
    if isinstance(login_or_id, int):
        user = session.get(User, login_or_id)
    else:
        user = session.scalar(select(User).where(func.lower(User.login) == login_or_id.strip().lower()))
    if user is None:
        raise NotFound(f"no user {login_or_id!r}", entity="user", id=str(login_or_id))
    return user


def list_users(session: Session) -> list[User]:
    """All users by login."""
    return list(session.scalars(select(User).order_by(User.login)))


def display_names(session: Session, logins: Iterable[str]) -> dict[str, str]:
    """The names people are shown by, for some logins (a login without a user stays as it is)."""
    wanted = {login for login in logins if login}
    if not wanted:
        return {}
    rows = session.execute(select(User.login, User.display_name).where(User.login.in_(wanted)))
    return {login: login for login in wanted} | {login: name or login for login, name in rows}


def update_user(
    session: Session,
    user_id: int,
    *,
    expected_version: int,
    actor: str,
    roles: Iterable[str | Role] | None = None,
    areas: Sequence[str] | None = None,
    basins: Sequence[str] | None = None,
    is_national: bool | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
) -> User:
    """Change a user's roles, scope, name or active flag; disabling ends their sessions.

    Raises:
        NotFound: no such user.
        StaleEdit: the user changed since ``expected_version``.
        InvalidInput: bad roles or codes, or no scope left.
    """
    user = get_user(session, user_id)
    if user.version != expected_version:
        raise StaleEdit("the user was changed by someone else; reload and try again", id=user_id)
    changes: dict[str, Any] = {}
    if roles is not None:
        new_roles = _parse_roles(roles)
        user.roles = [UserRole(role=r) for r in new_roles]
        changes["roles"] = [r.value for r in new_roles]
    national = user.is_national if is_national is None else is_national
    if areas is not None or basins is not None or is_national is not None:
        area_list = list(areas) if areas is not None else [s.admin_area.code for s in user.scopes if s.admin_area]
        basin_list = list(basins) if basins is not None else [s.basin.code for s in user.scopes if s.basin]
        _check_scope_given(national, area_list)
        new_scopes = _resolve_scope(session, area_list, basin_list)
        user.scopes.clear()
        session.flush()
        user.scopes.extend(new_scopes)
        user.is_national = national
        changes |= {"areas": area_list, "basins": basin_list, "national": national}
    if display_name is not None:
        user.display_name = display_name.strip() or user.login
        changes["display_name"] = user.display_name
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        changes["active"] = is_active
        if not is_active:
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    if changes:
        flag_modified(user, "display_name")  # bump the version even when only roles or scope rows changed
        session.flush()
        audit(session, AuditAction.USER_UPDATED, actor=actor, login=user.login, **changes)
    return user


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """What a new password did besides: the sessions it ended and the API tokens it kept or revoked."""

    sessions_ended: int
    tokens_kept: int
    tokens_revoked: int


def set_password(
    session: Session,
    login: str,
    new_password: str,
    *,
    actor: str,
    current_password: str | None = None,
    keep_session: str | None = None,
    revoke_tokens: bool = False,
) -> PasswordChange:
    """Set a password; with ``current_password`` (a user changing their own) it must match.

    Every web session of the user ends (whoever knew the old password is logged out), except ``keep_session``
    (the cookie of the user changing their own, so they stay logged in). API tokens are separate credentials:
    they are kept unless ``revoke_tokens``, and the result says how many, so the caller can offer to revoke them.

    Raises:
        NotFound: no such user.
        NotAuthenticated: the current password is wrong.
        InvalidInput: the new password is weak.
    """
    user = get_user(session, login)
    if current_password is not None and not verify_password(current_password, user.password_hash):
        audit(session, AuditAction.PASSWORD_CHANGED, actor=actor, success=False, login=user.login)
        raise NotAuthenticated("the current password is wrong")
    check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = datetime.now(UTC)
    ending = delete(WebSession).where(WebSession.user_id == user.id)
    if keep_session:
        ending = ending.where(WebSession.id != sha256_hex(keep_session))
    ended = session.execute(ending).rowcount  # type: ignore[attr-defined]
    live = (ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    tokens = session.scalar(select(func.count()).select_from(ApiToken).where(*live)) or 0
    revoked = 0
    if revoke_tokens and tokens:
        revoked = session.execute(update(ApiToken).where(*live).values(revoked_at=datetime.now(UTC))).rowcount  # type: ignore[attr-defined]
    session.flush()
    audit(session, AuditAction.PASSWORD_CHANGED, actor=actor, login=user.login, sessions_ended=ended,
          tokens_revoked=revoked)  # fmt: skip
    return PasswordChange(sessions_ended=ended, tokens_kept=tokens - revoked, tokens_revoked=revoked)


def scope_of(user: User) -> Scope:
    """The scope a user's rows describe."""
    if user.is_national:
        return Scope.national()
    areas = tuple(sorted(s.admin_area.code for s in user.scopes if s.admin_area is not None))
    basins = tuple(sorted(s.basin.code for s in user.scopes if s.basin is not None))
    return Scope(area_codes=areas, basin_codes=basins)


def identity_of(user: User, *, via_token: bool = False) -> Identity:
    """The identity a request acts with."""
    return Identity(user.id, user.login, user.display_name, user.role_set, scope_of(user), via_token)


# -- logins -------------------------------------------------------------------------------------------------
def _recent_failures(session: Session, login: str, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == AuditAction.LOGIN_FAILED,
                AuditEntry.actor == login.lower(),  # failed logins are recorded lower-cased, so the index serves
                AuditEntry.at > now - LOCKOUT_WINDOW,
            )
        )
        or 0
    )


def authenticate(session: Session, login: str, password: str, *, ip: str | None = None) -> User:
    """Check a login and password; every failure is audited and gives the same message.

    Raises:
        NotAuthenticated: wrong name or password, disabled user, or too many recent failures.
    """
    now = datetime.now(UTC)
    login = login.strip()[:64]
    # Attempts on one name take turns (a lock held until the transaction ends, when the failure is committed),
    # so simultaneous wrong passwords cannot all be checked against the same count of earlier failures.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('login:' || :name))"), {"name": login.lower()})
    if _recent_failures(session, login, now) >= MAX_FAILED_LOGINS:
        audit(session, AuditAction.LOGIN_FAILED, actor=login.lower(), success=False, ip=ip, reason="locked")
        raise NotAuthenticated(
            f"too many failed logins for this name; try again in {int(LOCKOUT_WINDOW.total_seconds() // 60)} minutes"
        )
    user = session.scalar(select(User).where(func.lower(User.login) == login.lower()))
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not ok or not user.is_active:
        reason = "unknown" if user is None else ("disabled" if ok else "password")
        audit(session, AuditAction.LOGIN_FAILED, actor=login.lower(), success=False, ip=ip, reason=reason)
        raise NotAuthenticated(BAD_LOGIN)
    user.last_login_at = now
    session.flush()
    return user


def start_session(
    session: Session, user: User, *, ip: str | None = None, user_agent: str | None = None
) -> tuple[str, WebSession]:
    """Open a web session for a user who just authenticated; returns the cookie value (shown once)."""
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        id=sha256_hex(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=datetime.now(UTC) + SESSION_LIFETIME,
        ip=ip,
        user_agent=(user_agent or "")[:500],
    )
    session.add(web_session)
    session.flush()
    audit(session, AuditAction.LOGIN, actor=user.login, ip=ip)
    return token, web_session


def resolve_session(session: Session, cookie: str | None) -> WebSession | None:
    """The live session of a cookie, or None (unknown, expired, tampered or a disabled user)."""
    if not cookie or len(cookie) > 200:
        return None
    web_session = session.get(WebSession, sha256_hex(cookie))
    now = datetime.now(UTC)
    if web_session is None or web_session.expires_at <= now or not web_session.user.is_active:
        return None
    if now - web_session.last_seen_at > SEEN_EVERY:
        web_session.last_seen_at = now
    return web_session


def end_session(session: Session, cookie: str | None, *, ip: str | None = None) -> None:
    """Log out: delete the session of this cookie."""
    web_session = resolve_session(session, cookie)
    if web_session is not None:
        audit(session, AuditAction.LOGOUT, actor=web_session.user.login, ip=ip)
        session.delete(web_session)
        session.flush()


# -- tokens -------------------------------------------------------------------------------------------------
def sha256_hex(text: str) -> str:
    """The SHA-256 of a secret as stored (a session id, a token hash)."""
    return hashlib.sha256(text.encode()).hexdigest()


def create_token(
    session: Session, login: str, *, name: str, actor: str, expires_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a personal API token; returns it with the plain token, which is not stored.

    Raises:
        NotFound: no such user.
        InvalidInput: an empty name or a non-positive lifetime.
    """
    user = get_user(session, login)
    if not name.strip():
        raise InvalidInput("give the token a name (what it is for)", field="name")
    if expires_days is not None and expires_days < 1:
        raise InvalidInput("a token lives at least one day", field="expires_days", value=expires_days)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip()[:128],
        token_hash=sha256_hex(plain),
        prefix=plain[:10],
        expires_at=datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    session.flush()
    audit(session, AuditAction.TOKEN_CREATED, actor=actor, login=user.login, token_id=token.id, name=token.name)
    return token, plain


def list_tokens(session: Session, login: str | None = None) -> list[ApiToken]:
    """Tokens (of one user, or all), newest first."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if login:
        query = query.where(ApiToken.user_id == get_user(session, login).id)
    return list(session.scalars(query))


def revoke_token(session: Session, token_id: int, *, actor: str, owner_id: int | None = None) -> ApiToken:
    """Revoke a token (``owner_id``: only if it belongs to that user).

    Raises:
        NotFound: no such token (or not the owner's).
    """
    token = session.get(ApiToken, token_id)
    if token is None or (owner_id is not None and token.user_id != owner_id):
        raise NotFound("no such token", entity="token", id=token_id)
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        session.flush()
        audit(session, AuditAction.TOKEN_REVOKED, actor=actor, token_id=token.id, login=token.user.login)
    return token


def authenticate_token(session: Session, plain: str, *, login: str | None = None, ip: str | None = None) -> User:
    """The user of a token (``login``: the name given with HTTP Basic must be the token's owner).

    Raises:
        NotAuthenticated: unknown, expired or revoked token, wrong owner, or a disabled user.
    """
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(plain.strip())))
    now = datetime.now(UTC)
    if token is None:
        refuse_token(session, plain, "unknown", login=login, ip=ip)
    problem = token_problem(token.revoked_at, token.expires_at, token.user.is_active, token.user.login, login, now)
    if problem is not None:
        refuse_token(session, plain, problem, login=login, ip=ip)
    if token.last_used_at is None or now - token.last_used_at > SEEN_EVERY:
        token.last_used_at = now
        audit(session, AuditAction.TOKEN_USED, actor=token.user.login, ip=ip, token_id=token.id)
    session.flush()
    return token.user


def token_problem(
    revoked_at: datetime | None, expires_at: datetime | None, is_active: bool, owner: str, login: str | None,
    now: datetime,
) -> str | None:
    """Why a known token is refused (revoked, expired, a disabled user, or not ``login``'s), or None."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    if not is_active:
        return "disabled"
    if login is not None and owner.lower() != login.strip().lower():
        return "owner"
    return None


def refuse_token(session: Session, plain: str, problem: str | None, *, login: str | None, ip: str | None) -> NoReturn:
    """Audit a refused token (the caller commits) and refuse it.

    Raises:
        NotAuthenticated: always, with the same message whatever the problem.
    """
    audit(session, AuditAction.TOKEN_REFUSED, actor=login, success=False, ip=ip, reason=problem, prefix=plain[:10])
    raise NotAuthenticated("the API token is not valid (unknown, expired or revoked)")
