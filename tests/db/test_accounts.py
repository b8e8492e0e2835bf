"""Accounts in the domain: passwords, logins, lockout, tokens, sessions, scope and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.catalogue.lifecycle import record_event
from outfalls.catalogue.queries import OutfallFilter, get_outfall, list_outfalls, map_outfalls, status_counts
from outfalls.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, StaleEdit
from outfalls.models import ApiToken, AuditEntry, Outfall, User, WebSession
from outfalls.scope import Scope
from outfalls.types import AuditAction, EventKind, Role

LINTONG = (109.21, 34.37)  # 临潼区 610115, on the Wei river east of Xi'an
HANBIN = (109.03, 32.69)  # 汉滨区 610902, on the Han river at Ankang
PASSWORD = "correct horse battery"


def audit_actions(session: Session, actor: str | None = None) -> list[tuple[str, bool]]:
    q = sa.select(AuditEntry.action, AuditEntry.success).order_by(AuditEntry.id)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    return [(a.value, ok) for a, ok in session.execute(q)]


def test_password_hash_is_salted_and_verifies():
    a, b = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$") and PASSWORD not in a
    assert accounts.verify_password(PASSWORD, a) and accounts.verify_password(PASSWORD, b)
    assert not accounts.verify_password("wrong horse battery", a)
    assert not accounts.verify_password(PASSWORD, None)
    assert not accounts.verify_password(PASSWORD, "md5$abc")
    assert not accounts.verify_password(PASSWORD, "scrypt$x$y$z$salt$hash")


def test_create_user_validates_everything(session: Session):
    user = accounts.create_user(session, "lintong", roles=["crew", "case_officer"], areas=["610115"],
                                password=PASSWORD, actor="admin")  # fmt: skip
    assert user.role_set == {Role.CREW, Role.CASE_OFFICER}
    assert accounts.scope_of(user) == Scope(area_codes=("610115",))
    assert audit_actions(session, "admin")[-1] == ("user_created", True)
    with pytest.raises(Conflict, match="taken"):
        accounts.create_user(session, "LINTONG", roles=["crew"], areas=["610115"], actor="admin")
    with pytest.raises(InvalidInput, match="unknown role 'boss'"):
        accounts.create_user(session, "x1", roles=["boss"], areas=["610115"], actor="admin")
    with pytest.raises(InvalidInput, match="unknown administrative area code '999999'"):
        accounts.create_user(session, "x2", roles=["crew"], areas=["999999"], actor="admin")
    with pytest.raises(InvalidInput, match="at least one administrative area"):
        accounts.create_user(session, "x3", roles=["crew"], actor="admin")
    with pytest.raises(InvalidInput, match="10 characters"):
        accounts.create_user(session, "x4", roles=["crew"], areas=["610115"], password="short", actor="admin")
    with pytest.raises(InvalidInput, match="login"):
        accounts.create_user(session, "a b", roles=["crew"], areas=["610115"], actor="admin")
    national = accounts.create_user(session, "boss", roles=["admin"], is_national=True, actor="admin")
    assert accounts.scope_of(national).is_national


def test_failures_all_say_the_same_and_are_audited(session: Session, make_user: Callable[..., User]):
    make_user("alice", areas=("610115",), password=PASSWORD)
    disabled = make_user("bob", areas=("610115",), password=PASSWORD)
    accounts.update_user(session, disabled.id, expected_version=disabled.version, actor="admin", is_active=False)
    messages = set()
    for login, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("bob", PASSWORD)):
        with pytest.raises(NotAuthenticated) as info:
            accounts.authenticate(session, login, password, ip="10.0.0.9")
        messages.add(info.value.message)
    assert messages == {accounts.BAD_LOGIN}  # no "no such user" versus "wrong password"
    reasons = session.scalars(
        sa.select(AuditEntry.details["reason"].astext).where(AuditEntry.action == AuditAction.LOGIN_FAILED)
    ).all()
    assert reasons == ["password", "unknown", "disabled"]
    assert accounts.authenticate(session, "ALICE", PASSWORD).login == "alice"


def test_lockout_after_repeated_failures_even_for_unknown_names(session: Session, make_user):
    make_user("carol", areas=("610115",), password=PASSWORD)
    for _ in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(NotAuthenticated, match="wrong user name"):
            accounts.authenticate(session, "carol", "not the password")
    with pytest.raises(NotAuthenticated, match="too many failed logins"):
        accounts.authenticate(session, "carol", PASSWORD)  # even the right password waits
    for _ in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, "ghost", "whatever123")
    with pytest.raises(NotAuthenticated, match="too many failed logins"):
        accounts.authenticate(session, "ghost", "whatever123")  # a name that does not exist behaves the same


def test_sessions_new_id_each_login_expiry_and_logout(session: Session, make_user):
    user = make_user("dave", areas=("610115",))
    token1, ws1 = accounts.start_session(session, user, ip="10.0.0.1")
    token2, ws2 = accounts.start_session(session, user, ip="10.0.0.1")
    assert token1 != token2 and ws1.id != ws2.id and ws1.csrf_token != ws2.csrf_token
    assert ws1.id != token1 and len(ws1.id) == 64  # only the hash is stored
    assert accounts.resolve_session(session, token1) is ws1
    assert accounts.resolve_session(session, token1 + "x") is None  # tampered
    assert accounts.resolve_session(session, None) is None
    ws1.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert accounts.resolve_session(session, token1) is None
    accounts.end_session(session, token2)
    assert accounts.resolve_session(session, token2) is None
    assert session.get(WebSession, ws2.id) is None
    token3, _ = accounts.start_session(session, user)
    accounts.update_user(session, user.id, expected_version=user.version, actor="admin", is_active=False)
    assert accounts.resolve_session(session, token3) is None  # disabling ends sessions


def test_tokens(session: Session, make_user):
    user = make_user("qgis", areas=("610115",))
    token, plain = accounts.create_token(session, "qgis", name="QGIS", actor="qgis", expires_days=30)
    assert plain.startswith(accounts.TOKEN_PREFIX) and token.token_hash != plain and plain not in token.prefix + "x"
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.token_hash == plain)) == 0
    assert accounts.authenticate_token(session, plain).id == user.id
    assert accounts.authenticate_token(session, plain, login="QGIS").id == user.id  # Basic: name + token
    with pytest.raises(NotAuthenticated):
        accounts.authenticate_token(session, plain, login="someone-else")
    with pytest.raises(NotAuthenticated):
        accounts.authenticate_token(session, plain[:-1] + ("A" if plain[-1] != "A" else "B"))
    token.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(NotAuthenticated, match="not valid"):
        accounts.authenticate_token(session, plain)
    token.expires_at = None
    accounts.revoke_token(session, token.id, actor="qgis", owner_id=user.id)
    with pytest.raises(NotAuthenticated):
        accounts.authenticate_token(session, plain)
    with pytest.raises(NotFound):
        accounts.revoke_token(session, token.id, actor="x", owner_id=user.id + 1)  # not the owner's
    with pytest.raises(InvalidInput):
        accounts.create_token(session, "qgis", name=" ", actor="qgis")
    refused = session.scalars(
        sa.select(AuditEntry.details["reason"].astext).where(AuditEntry.action == AuditAction.TOKEN_REFUSED)
    ).all()
    assert refused == ["owner", "unknown", "expired", "revoked"]
    actions = [a for a, _ok in audit_actions(session)]
    assert "token_created" in actions and "token_used" in actions and "token_revoked" in actions


def test_update_user_refuses_stale_edits(session: Session, make_user):
    user = make_user("erin", areas=("610115",))
    version = user.version
    accounts.update_user(session, user.id, expected_version=version, actor="admin", roles=["crew", "leader"])
    assert user.version == version + 1 and user.role_set == {Role.CREW, Role.LEADER}
    with pytest.raises(StaleEdit):
        accounts.update_user(session, user.id, expected_version=version, actor="admin", roles=["crew"])
    accounts.update_user(session, user.id, expected_version=user.version, actor="admin", areas=["610902"],
                         basins=["CJ"])  # fmt: skip
    assert accounts.scope_of(user) == Scope(area_codes=("610902",), basin_codes=("CJ",))
    with pytest.raises(InvalidInput):
        accounts.update_user(session, user.id, expected_version=user.version, actor="admin", areas=[])


def test_password_change_needs_the_current_one(session: Session, make_user):
    make_user("frank", areas=("610115",), password=PASSWORD)
    with pytest.raises(NotAuthenticated):
        accounts.set_password(session, "frank", "a new long password", actor="frank", current_password="nope")
    accounts.set_password(session, "frank", "a new long password", actor="frank", current_password=PASSWORD)
    assert accounts.authenticate(session, "frank", "a new long password").login == "frank"
    with pytest.raises(InvalidInput):
        accounts.set_password(session, "frank", "aaaaaaaaaaaa", actor="frank")


def test_audit_log_is_append_only_and_filterable(session: Session, make_user):
    make_user("gina", areas=("610115",), password=PASSWORD)
    with pytest.raises(NotAuthenticated):
        accounts.authenticate(session, "gina", "wrong password")
    entries, total = accounts.list_audit(session, accounts.AuditFilter(actor="gina", success=False))
    assert total == 1 and entries[0].action is AuditAction.LOGIN_FAILED
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("DELETE FROM audit_log"))
    _entries, none = accounts.list_audit(
        session, accounts.AuditFilter(since=datetime.now(UTC) + timedelta(days=1))
    )
    assert none == 0


# -- scope: two counties ------------------------------------------------------------------------------------
@pytest.fixture
def two_counties(make_outfall) -> tuple[Outfall, Outfall]:
    lintong = make_outfall(lonlat=LINTONG, name="临潼区渭河右岸1#城镇雨洪排口")
    hanbin = make_outfall(lonlat=HANBIN, name="汉滨区汉江左岸1#城镇雨洪排口")
    assert lintong.admin_area.code == "610115" and hanbin.admin_area.code == "610902"
    return lintong, hanbin


def test_scope_keeps_each_county_to_itself(session: Session, two_counties):
    lintong, hanbin = two_counties
    county = Scope(area_codes=("610115",))
    city = Scope(area_codes=("610100",))
    province = Scope(area_codes=("610000",))
    ids = lambda scope: {r.id for r in list_outfalls(session, OutfallFilter(), scope=scope, page_size=500).items}  # noqa: E731
    assert ids(county) == {lintong.id}
    assert ids(city) == {lintong.id}  # Lintong is a district of Xi'an
    assert ids(province) >= {lintong.id, hanbin.id}
    assert ids(Scope(area_codes=("610902",))) == {hanbin.id}
    assert ids(Scope(area_codes=("610000",), basin_codes=("CJ",))) == {hanbin.id}
    assert ids(Scope()) == set()  # bound to nothing sees nothing
    assert get_outfall(session, lintong.id, scope=county).row.id == lintong.id
    with pytest.raises(NotFound, match="does not exist"):  # the same words as a missing outfall
        get_outfall(session, hanbin.id, scope=county)
    features = map_outfalls(session, OutfallFilter(), None, scope=county, limit=100)["features"]
    assert [f["id"] for f in features] == [lintong.id]
    assert sum(status_counts(session, OutfallFilter(), scope=county).values()) == 1


def test_scope_guards_writes(session: Session, two_counties):
    lintong, hanbin = two_counties
    county = Scope(area_codes=("610115",))
    with pytest.raises(NotFound):
        record_event(session, hanbin.id, EventKind.TRACED, actor="lintong", scope=county,
                     expected_version=hanbin.version)  # fmt: skip
    assert hanbin.status.value == "surveyed"
    record_event(session, lintong.id, EventKind.TRACED, actor="lintong", scope=county,
                 expected_version=lintong.version)  # fmt: skip
    assert lintong.status.value == "traced"


def test_a_new_password_ends_the_other_sessions_and_says_what_tokens_remain(session: Session, make_user):
    from outfalls.models import WebSession

    user = make_user("reset_me", password=PASSWORD)
    mine, _ = accounts.start_session(session, user)
    stolen, _ = accounts.start_session(session, user)  # someone who knew the old password
    accounts.create_token(session, user.login, name="qgis", actor="admin")
    done = accounts.set_password(session, user.login, "a much newer password", actor=user.login,
                                 current_password=PASSWORD, keep_session=mine)  # fmt: skip
    assert (done.sessions_ended, done.tokens_kept, done.tokens_revoked) == (1, 1, 0)
    assert accounts.resolve_session(session, stolen) is None
    assert accounts.resolve_session(session, mine) is not None
    done = accounts.set_password(session, user.login, "the newest password yet", actor="admin", revoke_tokens=True)
    assert (done.sessions_ended, done.tokens_kept, done.tokens_revoked) == (1, 0, 1)  # an admin reset ends all
    assert session.query(WebSession).filter_by(user_id=user.id).count() == 0
    assert all(t.revoked_at is not None for t in accounts.list_tokens(session, user.login))


def test_simultaneous_wrong_passwords_are_counted_one_after_another(engine: sa.Engine) -> None:
    """Twenty wrong passwords sent at once: no more than the allowed five are checked against the password."""
    import threading

    from sqlalchemy.orm import Session as OrmSession

    login = f"raced_{threading.get_ident()}"
    with OrmSession(engine) as own:  # committed, so the racing transactions see the user
        accounts.create_user(own, login, roles=[Role.CREW], is_national=True, password="a long enough password",
                             actor="test")  # fmt: skip
        own.commit()
    checked: list[str] = []
    real_verify = accounts.verify_password

    def counting_verify(password: str, hashed: str) -> bool:
        checked.append(password)
        return real_verify(password, hashed)

    barrier = threading.Barrier(20)

    def attempt() -> None:
        with OrmSession(engine) as own:
            barrier.wait()
            try:
                accounts.authenticate(own, login, "wrong password")
            except NotAuthenticated:
                pass
            own.commit()

    accounts.verify_password = counting_verify  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=attempt) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        accounts.verify_password = real_verify  # type: ignore[assignment]
        with OrmSession(engine) as own:
            for table in ("web_sessions", "api_tokens", "user_roles", "user_scopes"):
                own.execute(sa.text(f"DELETE FROM {table} WHERE user_id IN (SELECT id FROM users WHERE login = :l)"),
                            {"l": login})
            own.execute(sa.text("DELETE FROM users WHERE login = :l"), {"l": login})
            own.commit()
    assert len(checked) == accounts.MAX_FAILED_LOGINS
