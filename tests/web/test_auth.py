"""Access control on the web: every route declares what it needs; logins, sessions, CSRF, tokens, scope."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.models import AuditEntry, Outfall, User, WebSession
from outfalls.types import AuditAction, Role
from tests.statements import statements_sent
from web.auth import ANON_CSRF_COOKIE, SESSION_COOKIE, access_of

LINTONG = (109.21, 34.37)  # 临潼区 610115
HANBIN = (109.03, 32.69)  # 汉滨区 610902
PASSWORD = "correct horse battery"
READ_ONLY = {"GET", "HEAD", "OPTIONS"}


@pytest.fixture
def two_counties(make_outfall: Callable[..., Outfall]) -> tuple[Outfall, Outfall]:
    return (
        make_outfall(lonlat=LINTONG, name="临潼区渭河右岸1#城镇雨洪排口"),
        make_outfall(lonlat=HANBIN, name="汉滨区汉江左岸1#城镇雨洪排口"),
    )


def _url(app: Flask, rule, outfall_id: int, user_id: int, token_id: int) -> str:  # noqa: ANN001
    values = {}
    for arg in rule.arguments:
        values[arg] = {"outfall_id": outfall_id, "user_id": user_id, "token_id": token_id, "code": "en",
                       "name": "basins", "filename": "css/app.css"}.get(arg, 1)  # fmt: skip
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_route_declares_its_access(app: Flask):
    missing = [r.rule for r in app.url_map.iter_rules() if access_of(app, r.endpoint) is None]
    assert missing == []
    # the inventory is not empty and knows the important routes
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert {"catalogue.map_page", "api.outfalls", "auth.login", "admin.users", "admin.audit"} <= endpoints


def test_every_protected_route_refuses_strangers(app: Flask, anon_client: FlaskClient, session: Session,
                                                 make_user, two_counties):  # fmt: skip
    lintong, _hanbin = two_counties
    user = make_user("target", areas=("610115",))
    token, _plain = accounts.create_token(session, "target", name="t", actor="t")
    before = session.scalar(sa.select(sa.func.count()).select_from(User))
    checked = 0
    for rule in app.url_map.iter_rules():
        access = access_of(app, rule.endpoint)
        if access is None or access.public:
            continue
        url = _url(app, rule, lintong.id, user.id, token.id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = anon_client.open(url, method=method)
            checked += 1
            if method in READ_ONLY and not url.startswith("/api/"):
                assert response.status_code == 302 and "/login" in response.location, (method, url)
            elif method in READ_ONLY:
                assert response.status_code == 401, (method, url)
                assert response.headers["WWW-Authenticate"].startswith("Basic")
                assert response.json["error"] == "not_authenticated"
            else:  # a forged or anonymous post: refused before anything happens
                assert response.status_code in (401, 403), (method, url)
    assert checked >= 15
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def test_every_role_restricted_route_refuses_other_roles(app: Flask, make_user, login_as, two_counties):
    lintong, _ = two_counties
    clients: dict[frozenset[Role], FlaskClient] = {}
    restricted = 0
    for rule in app.url_map.iter_rules():
        access = access_of(app, rule.endpoint)
        if access is None or access.public or not access.roles:
            continue
        if access.roles not in clients:  # a national user holding every role but the ones the route needs
            others = tuple(r.value for r in Role if r not in access.roles)
            clients[access.roles] = login_as(make_user(f"outsider{len(clients)}", roles=others, national=True))
        client = clients[access.roles]
        url = _url(app, rule, lintong.id, 1, 1)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers={"X-CSRF-Token": client.csrf})
            assert response.status_code == 403, (method, url)
            restricted += 1
    assert restricted >= 8


def test_out_of_scope_outfalls_are_not_found(app: Flask, make_user, login_as, two_counties):
    lintong, hanbin = two_counties
    client = login_as(make_user("lintong", roles=("case_officer", "crew"), areas=("610115",)))
    checked = 0
    for rule in app.url_map.iter_rules():
        if "outfall_id" not in rule.arguments:
            continue
        own = _url(app, rule, lintong.id, 1, 1)
        other = _url(app, rule, hanbin.id, 1, 1)
        if "GET" in rule.methods:
            assert client.get(own).status_code == 200, own
            response = client.get(other)
        else:  # a write: refused as not found before its input is even looked at
            response = client.post(other, data={"csrf_token": client.csrf, "version": hanbin.version})
            if rule.arguments == {"outfall_id"}:  # with other ids (a task …) the own call may rightly be 404
                assert client.post(own, data={"csrf_token": client.csrf}).status_code != 404, own
        checked += 1
        assert response.status_code == 404, other
        assert "汉滨" not in response.get_data(as_text=True)  # existence does not leak
    assert checked >= 5


def test_two_counties_see_only_their_own(make_user, login_as, two_counties):
    lintong, hanbin = two_counties
    for login, area, mine, theirs in (("lintong", "610115", lintong, hanbin), ("hanbin", "610902", hanbin, lintong)):
        client = login_as(make_user(login, roles=("crew",), areas=(area,)))
        listing = client.get("/api/outfalls?page_size=500").json
        assert [i["id"] for i in listing["items"]] == [mine.id] and listing["total"] == 1
        page = client.get("/outfalls").get_data(as_text=True)
        assert mine.name in page and theirs.name not in page
        geo = client.get("/api/map/outfalls").json
        assert [f["id"] for f in geo["features"]] == [mine.id]
        assert client.get("/api/summary").json["total"] == 1
        facets = client.get("/api/facets").json
        assert {a[0] for a in facets["areas"]} == {area}
        map_page = client.get("/").get_data(as_text=True)
        assert theirs.name not in map_page
        me = client.get("/api/me").json
        assert me["scope"] == {"national": False, "areas": [area], "basins": []}


def _form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def test_login_flow_new_session_id_and_logout(anon_client: FlaskClient, session: Session, make_user):
    make_user("hana", areas=("610115",), password=PASSWORD)
    page = anon_client.get("/login?next=/outfalls")
    assert page.status_code == 200 and anon_client.get_cookie(ANON_CSRF_COOKIE) is not None
    token = _form_token(page.get_data(as_text=True))
    anon_client.set_cookie(SESSION_COOKIE, "planted-by-an-attacker")
    bad = anon_client.post("/login", data={"login": "hana", "password": "nope nope", "csrf_token": token})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.get_data(as_text=True)
    ok = anon_client.post("/login", data={"login": "hana", "password": PASSWORD, "csrf_token": token,
                                          "next": "/outfalls"})  # fmt: skip
    assert ok.status_code == 302 and ok.location.endswith("/outfalls")
    cookie = anon_client.get_cookie(SESSION_COOKIE)
    assert cookie is not None and cookie.value != "planted-by-an-attacker"
    assert cookie.http_only and cookie.same_site == "Lax"
    assert anon_client.get("/outfalls").status_code == 200
    logout_token = _form_token(anon_client.get("/outfalls").get_data(as_text=True))
    assert anon_client.post("/logout", data={"csrf_token": logout_token}).status_code == 302
    assert anon_client.get("/outfalls").status_code == 302
    actions = session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor == "hana").order_by(AuditEntry.id))
    assert [a.value for a in actions] == ["login_failed", "login", "logout"]


def test_a_head_request_shows_the_form_pages_and_submits_nothing(session: Session, make_user, login_as,
                                                                   anon_client: FlaskClient) -> None:  # fmt: skip
    """HEAD is a GET without the body (link checkers, monitors): never a login attempt or a form submitted."""
    admin = login_as(make_user("headadmin", roles=("admin",), national=True))
    audited = sa.select(sa.func.count()).select_from(AuditEntry)
    before = session.scalar(audited)
    assert anon_client.head("/login?login=x&password=y").status_code == 200
    assert admin.head("/admin/users/new").status_code == 200
    assert admin.head("/admin/users/1").status_code in (200, 404)
    assert session.scalar(audited) == before  # no failed login, no user written


def test_login_without_csrf_is_refused(anon_client: FlaskClient, make_user):
    make_user("ivan", areas=("610115",), password=PASSWORD)
    response = anon_client.post("/login", data={"login": "ivan", "password": PASSWORD})
    assert response.status_code == 403 and anon_client.get_cookie(SESSION_COOKIE) is None


def test_forms_need_the_session_csrf_token(make_user, login_as):
    client = login_as(make_user("jack", areas=("610115",)))
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/account/tokens", data={"name": "x", "csrf_token": "guess"}).status_code == 403
    created = client.post("/account/tokens", data={"name": "QGIS", "csrf_token": client.csrf})
    assert created.status_code == 200 and 'id="new-token"' in created.get_data(as_text=True)


def test_tampered_cookie_is_anonymous(anon_client: FlaskClient):
    anon_client.set_cookie(SESSION_COOKIE, "x" * 43)
    assert anon_client.get("/outfalls").status_code == 302
    assert anon_client.get("/api/outfalls").status_code == 401


def test_tokens_over_bearer_and_basic(anon_client: FlaskClient, session: Session, make_user, two_counties):
    make_user("kate", areas=("610115",), password=PASSWORD)
    token, plain = accounts.create_token(session, "kate", name="QGIS", actor="kate")
    bearer = anon_client.get("/api/outfalls", headers={"Authorization": f"Bearer {plain}"})
    assert bearer.status_code == 200 and bearer.json["total"] == 1
    basic = base64.b64encode(f"kate:{plain}".encode()).decode()
    assert anon_client.get("/api/outfalls", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    # a login password over Basic is not accepted: only tokens
    with_password = base64.b64encode(f"kate:{PASSWORD}".encode()).decode()
    refused = anon_client.get("/api/outfalls", headers={"Authorization": f"Basic {with_password}"})
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
    garbage = anon_client.get("/api/outfalls", headers={"Authorization": "Basic %%%"})
    assert garbage.status_code == 401
    # token requests need no CSRF token (no cookie is involved)
    assert anon_client.get("/outfalls", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    accounts.revoke_token(session, token.id, actor="kate")
    revoked = anon_client.get("/api/outfalls", headers={"Authorization": f"Bearer {plain}"})
    assert revoked.status_code == 401 and "unknown, expired or revoked" in revoked.json["message"]
    actions = session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor == "kate")).all()
    assert "token_used" in actions and "token_revoked" in actions


def test_admin_manages_users_and_reads_the_audit_log(session: Session, make_user, login_as):
    admin = login_as(make_user("root", roles=("admin",), national=True))
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "root" in page.get_data(as_text=True)
    created = admin.post("/admin/users/new", data={
        "login": "county1", "password": PASSWORD, "display_name": "临潼用户", "role": ["crew", "case_officer"],
        "area": ["610115"], "csrf_token": admin.csrf,
    })  # fmt: skip
    assert created.status_code == 302
    user = accounts.get_user(session, "county1")
    assert user.role_set == {Role.CREW, Role.CASE_OFFICER} and accounts.scope_of(user).area_codes == ("610115",)
    # a stale form is refused, a fresh one applies
    stale = admin.post(f"/admin/users/{user.id}", data={"version": user.version - 1, "role": ["crew"],
                                                        "area": ["610115"], "csrf_token": admin.csrf})  # fmt: skip
    assert stale.status_code == 409
    disabled = admin.post(f"/admin/users/{user.id}", data={"version": user.version, "role": ["crew"],
                                                           "area": ["610115"], "csrf_token": admin.csrf})  # fmt: skip
    session.expire_all()  # the app changed the row through its own session
    assert disabled.status_code == 302 and not user.is_active
    bad = admin.post("/admin/users/new", data={"login": "x", "password": "short", "role": ["crew"],
                                               "area": ["610115"], "csrf_token": admin.csrf})  # fmt: skip
    assert bad.status_code == 422
    audit = admin.get("/admin/audit?action=user_created").get_data(as_text=True)
    assert "county1" in audit and "创建用户" in audit
    assert admin.get("/admin/audit?action=nonsense").status_code == 422
    assert admin.get("/admin/audit?since=yesterday").status_code == 422


def test_basic_is_offered_only_to_data_clients_never_to_a_browser_page(anon_client: FlaskClient) -> None:
    assert "WWW-Authenticate" in anon_client.get("/api/outfalls").headers
    page = anon_client.get("/api/outfalls", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "WWW-Authenticate" not in page.headers
    form = anon_client.post("/outfalls/bulk", headers={"Accept": "text/html"})
    assert form.status_code in (401, 403) and "WWW-Authenticate" not in form.headers


def test_a_cross_site_post_is_refused_whatever_credentials_it_carries(
    anon_client: FlaskClient, session: Session, make_user, two_counties
) -> None:
    outfall, _hanbin = two_counties
    make_user("basil", roles=("case_officer",), areas=("610115",), password=PASSWORD)
    _token, plain = accounts.create_token(session, "basil", name="script", actor="basil")
    basic = {"Authorization": "Basic " + base64.b64encode(f"basil:{plain}".encode()).decode()}
    body = {"ids": str(outfall.id), "action": "deadline", "deadline": "2031-05-05"}
    for hostile in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        refused = anon_client.post("/outfalls/bulk", data=body, headers={**basic, **hostile})
        assert refused.status_code == 403, hostile
        assert refused.get_json(silent=True) is None or refused.json["error"] == "permission_denied"
    session.refresh(outfall)
    assert outfall.case_deadline is None  # nothing changed
    same_site = anon_client.post("/api/outfalls/bulk", json={"ids": [outfall.id], "action": "deadline",
                                                             "deadline": "2031-05-05"},
                                 headers={**basic, "Origin": "http://localhost"})  # fmt: skip
    assert same_site.status_code != 403


def test_logged_in_pages_are_not_cached_and_private_files_are_not_public(make_user, login_as) -> None:
    client = login_as(make_user("cachy", roles=("case_officer",), national=True))
    page = client.get("/outfalls")
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    assert "no-store" in client.get("/api/outfalls").headers["Cache-Control"]
    with client.get("/static/css/app.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")

def test_the_audit_log_filters_on_the_programmes_days(session: Session, make_user, login_as):
    admin = login_as(make_user("root", roles=("admin",), national=True))
    # 20:00 UTC on 1 May is 04:00 on 2 May in the programme's time zone (Asia/Shanghai)
    session.add(AuditEntry(at=datetime(2024, 5, 1, 20, 0, tzinfo=UTC), actor="night_owl", action=AuditAction.LOGIN,
                           success=True))  # fmt: skip
    session.flush()

    def shown(query: str) -> bool:
        return "night_owl" in admin.get(f"/admin/audit?{query}").get_data(as_text=True)

    assert shown("since=2024-05-02&until=2024-05-02")
    assert not shown("until=2024-05-01")
    assert not shown("since=2024-05-03")
    assert admin.get("/admin/audit?until=2024-02-30").status_code == 422


def test_changing_ones_password_keeps_this_browser_and_ends_the_others(make_user, login_as, session: Session) -> None:
    user = make_user("changer", password=PASSWORD)
    here = login_as(user)
    elsewhere = login_as(user)  # the same account logged in on another machine
    accounts.create_token(session, user.login, name="qgis", actor=user.login)
    changed = here.post("/account/password", data={"current_password": PASSWORD, "new_password": "a brand new secret",
                                                   "confirm_password": "a brand new secret", "csrf_token": here.csrf})
    page = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "已结束其他 1 个会话" in page and "仍有 1 个 API 令牌有效" in page
    assert here.get("/account").status_code == 200  # still logged in here
    assert elsewhere.get("/account").status_code == 302  # logged out there


def _beside(html: str, form: str, name: str) -> str | None:
    """The mistake shown right after the input (or select) ``name`` of the form ``form``, if any."""
    found = re.search(rf'<(?:input|select)[^>]*name="{re.escape(name)}"[^>]*>(?:\s*<option[^>]*>[^<]*</option>)*'
                      rf'(?:\s*</select>)?<span class="field-error" id="{form}-{re.escape(name)}-error">([^<]*)</span>',
                      html)  # fmt: skip
    return found.group(1) if found else None


def test_the_account_page_shows_a_refused_form_again_beside_its_fields(make_user, login_as, session: Session) -> None:
    user = make_user("owner", password=PASSWORD)
    me = login_as(user)
    differ = me.post("/account/password", data={"current_password": PASSWORD, "new_password": "a brand new secret",
                                                "confirm_password": "a brand new secrex", "revoke_tokens": "1",
                                                "csrf_token": me.csrf})  # fmt: skip
    html = differ.get_data(as_text=True)
    assert differ.status_code == 422 and 'id="password-form"' in html and "尚未保存" in html
    assert _beside(html, "password-form", "confirm_password") == "两次输入的新密码不一致。"
    assert "a brand new secre" not in html and PASSWORD not in html  # passwords are never shown again
    assert re.search(r'name="revoke_tokens" value="1" checked', html)  # the other values are kept
    wrong = me.post("/account/password", data={"current_password": "not my password", "csrf_token": me.csrf,
                                               "new_password": "a brand new secret",
                                               "confirm_password": "a brand new secret"})  # fmt: skip
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and _beside(html, "password-form", "current_password") == "当前密码错误。"
    assert "not my password" not in html
    failed = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == AuditAction.PASSWORD_CHANGED)).all()
    assert [e.success for e in failed] == [False]  # the wrong guess is audited all the same
    weak = me.post("/account/password", data={"current_password": PASSWORD, "new_password": "aaaaaaaaaaaa",
                                              "confirm_password": "aaaaaaaaaaaa", "csrf_token": me.csrf})  # fmt: skip
    assert weak.status_code == 422
    assert _beside(weak.get_data(as_text=True), "password-form", "new_password") == (
        "密码至少需要 10 个字符，且不同字符多于三个。"
    )
    assert accounts.verify_password(PASSWORD, accounts.get_user(session, "owner").password_hash)
    lifetime = me.post("/account/tokens", data={"name": "QGIS on my laptop", "expires_days": "0",
                                                "csrf_token": me.csrf})  # fmt: skip
    html = lifetime.get_data(as_text=True)
    assert lifetime.status_code == 422 and 'id="token-form"' in html
    assert _beside(html, "token-form", "expires_days") == "请填写 1 到 3650 之间的数。"
    assert 'value="QGIS on my laptop"' in html
    assert 'name="expires_days" type="number" min="1" max="3650" value="0"' in html
    assert _beside(html, "password-form", "current_password") is None  # the other form of the page is untouched
    assert accounts.list_tokens(session, "owner") == []


def test_the_admin_user_form_shows_its_mistakes_beside_the_fields(session: Session, make_user, login_as,
                                                                  two_counties) -> None:  # fmt: skip
    admin = login_as(make_user("root", roles=("admin",), national=True))
    new = {"login": "county 1", "password": PASSWORD, "display_name": "临潼用户", "role": ["crew"],
           "area": ["610115"], "csrf_token": admin.csrf}  # fmt: skip
    cases = [
        ({"password": "short"}, "password", "密码至少需要 10 个字符，且不同字符多于三个。"),
        ({}, "login", "用户名为 1–64 个字符，不能含空格、“:”或斜杠。"),
        ({"login": "county1", "role": []}, "role", "请至少为用户指定一个角色。"),
        ({"login": "county1", "area": ["999999"]}, "area", "未知的行政区。"),
    ]
    for change, field, text in cases:
        refused = admin.post("/admin/users/new", data=new | change)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422 and 'id="user-form"' in html, field
        if field == "role":
            assert f'<span class="field-error" id="user-form-role-error">{text}</span>' in html
        else:
            assert _beside(html, "user-form", field) == text, field
        assert 'value="临潼用户"' in html and PASSWORD not in html and "short" not in html
        assert re.search(r'value="610115" selected', html) or field == "area"  # the areas chosen stay chosen
    assert re.search(r'value="crew" checked', admin.post("/admin/users/new", data=new).get_data(as_text=True))
    assert session.scalar(sa.select(sa.func.count()).select_from(User).where(User.login.like("county%"))) == 0
    taken = admin.post("/admin/users/new", data=new | {"login": "root"})
    assert taken.status_code == 422
    assert _beside(taken.get_data(as_text=True), "user-form", "login") == "该用户名已被占用。"

    user = make_user("crew1", roles=("crew",))
    edit = {"version": user.version, "role": ["crew"], "area": ["610115"], "display_name": "新名字",
            "is_active": "on", "csrf_token": admin.csrf}  # fmt: skip
    no_role = admin.post(f"/admin/users/{user.id}", data=edit | {"role": []})
    html = no_role.get_data(as_text=True)
    assert no_role.status_code == 422 and "<h1>crew1</h1>" in html and 'value="新名字"' in html
    assert '<span class="field-error" id="user-form-role-error">请至少为用户指定一个角色。</span>' in html
    no_area = admin.post(f"/admin/users/{user.id}", data=edit | {"area": []})
    assert no_area.status_code == 422
    assert _beside(no_area.get_data(as_text=True), "user-form", "area") == "请至少选择一个行政区，或选择全国范围。"
    stale = admin.post(f"/admin/users/{user.id}", data=edit | {"version": user.version - 1})
    assert stale.status_code == 409  # an edit of an older version stays a conflict
    reset = admin.post(f"/admin/users/{user.id}/password", data={"password": "abcabcabcabc", "revoke_tokens": "1",
                                                                 "csrf_token": admin.csrf})  # fmt: skip
    html = reset.get_data(as_text=True)
    assert reset.status_code == 422 and 'id="reset-form"' in html and "abcabcabcabc" not in html
    assert _beside(html, "reset-form", "password") == "密码至少需要 10 个字符，且不同字符多于三个。"
    assert re.search(r'name="revoke_tokens" value="1" checked', html)


# -- the identity of a request: one SELECT, nothing written on most requests, every refusal immediate --------------
def _statements(connection: sa.Connection, client: FlaskClient, path: str, **kw: object) -> tuple[int, list[str]]:
    with statements_sent(connection) as sent:
        status = client.get(path, **kw).status_code  # type: ignore[arg-type]
    return status, sent


def _seen(session: Session, client: FlaskClient, ago: timedelta) -> WebSession:
    web_session = session.get(WebSession, accounts.sha256_hex(client.get_cookie(SESSION_COOKIE).value))
    assert web_session is not None
    web_session.last_seen_at = datetime.now(UTC) - ago
    session.flush()
    return web_session


def test_a_read_request_resolves_its_identity_in_one_select_and_commits_nothing(
    connection: sa.Connection, session: Session, make_user, login_as, two_counties
) -> None:
    client = login_as(make_user("lena", areas=("610115",)))
    _seen(session, client, timedelta(seconds=5))
    status, sent = _statements(connection, client, "/api/outfalls")
    assert status == 200
    identity = [s for s in sent if "web_sessions" in s or "user_roles" in s or "user_scopes" in s]
    assert len(identity) == 1 and identity[0].startswith("SELECT")  # session, user, roles and scope in one row
    assert not [s for s in sent if s.startswith(("UPDATE", "INSERT", "DELETE", "RELEASE SAVEPOINT"))]


def test_a_session_is_marked_seen_at_most_once_a_minute(
    connection: sa.Connection, session: Session, make_user, login_as
) -> None:
    client = login_as(make_user("mona", areas=("610115",)))
    web_session = _seen(session, client, timedelta(minutes=2))
    before = web_session.last_seen_at
    status, sent = _statements(connection, client, "/api/outfalls")
    assert status == 200 and [s for s in sent if s.startswith("UPDATE web_sessions")]
    assert any(s.startswith("RELEASE SAVEPOINT") for s in sent)  # committed with the request
    session.refresh(web_session)
    assert web_session.last_seen_at > before
    _, again = _statements(connection, client, "/api/outfalls")
    assert not [s for s in again if s.startswith(("UPDATE", "RELEASE SAVEPOINT"))]


def test_an_ended_or_expired_session_is_refused_on_the_very_next_request(
    session: Session, make_user, login_as
) -> None:
    user = make_user("nina", areas=("610115",))
    ended, expired, disabled = login_as(user), login_as(user), login_as(make_user("olga", areas=("610115",)))
    for client in (ended, expired, disabled):
        _seen(session, client, timedelta(seconds=1))
        assert client.get("/api/outfalls").status_code == 200
    accounts.end_session(session, ended.get_cookie(SESSION_COOKIE).value)  # logged out in another tab
    _seen(session, expired, timedelta(seconds=1)).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    olga = accounts.get_user(session, "olga")
    accounts.update_user(session, olga.id, expected_version=olga.version, actor="root", is_active=False)
    session.flush()
    for client in (ended, expired, disabled):
        assert client.get("/api/outfalls").status_code == 401
        assert client.get("/outfalls").status_code == 302  # a page sends the browser to the login
    # a form with the ended session's CSRF token is refused too
    assert ended.post("/account/tokens", data={"name": "x", "csrf_token": ended.csrf}).status_code == 403


def test_roles_and_scope_take_effect_on_the_very_next_request(
    session: Session, make_user, login_as, two_counties
) -> None:
    user = make_user("petra", roles=("leader",), areas=("610115",))
    client = login_as(user)
    _seen(session, client, timedelta(seconds=1))
    assert [i["name"] for i in client.get("/api/outfalls").json["items"]] == ["临潼区渭河右岸1#城镇雨洪排口"]
    assert client.get("/admin/users").status_code == 403
    accounts.update_user(session, user.id, expected_version=user.version, actor="root", areas=["610902"],
                         roles=["admin"])  # fmt: skip
    session.flush()
    assert [i["name"] for i in client.get("/api/outfalls").json["items"]] == ["汉滨区汉江左岸1#城镇雨洪排口"]
    assert client.get("/admin/users").status_code == 200


def test_a_token_is_refused_at_once_when_expired_or_its_user_disabled_and_its_use_is_recorded_once_a_minute(
    connection: sa.Connection, anon_client: FlaskClient, session: Session, make_user, two_counties
) -> None:
    user = make_user("rita", areas=("610115",))
    token, plain = accounts.create_token(session, "rita", name="QGIS", actor="rita")
    bearer = {"Authorization": f"Bearer {plain}"}
    status, sent = _statements(connection, anon_client, "/api/outfalls", headers=bearer)
    assert status == 200 and any(s.startswith("UPDATE api_tokens") for s in sent)
    status, sent = _statements(connection, anon_client, "/api/outfalls", headers=bearer)
    identity = [s for s in sent if "api_tokens" in s or "user_roles" in s or "user_scopes" in s]
    assert status == 200 and len(identity) == 1
    assert not [s for s in sent if s.startswith(("UPDATE", "INSERT", "RELEASE SAVEPOINT"))]
    other = base64.b64encode(f"someone-else:{plain}".encode()).decode()
    assert anon_client.get("/api/outfalls", headers={"Authorization": f"Basic {other}"}).status_code == 401
    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.flush()
    assert anon_client.get("/api/outfalls", headers=bearer).status_code == 401
    token.expires_at = None
    accounts.update_user(session, user.id, expected_version=user.version, actor="root", is_active=False)
    session.flush()
    assert anon_client.get("/api/outfalls", headers=bearer).status_code == 401
    reasons = session.scalars(sa.select(AuditEntry.details["reason"].astext)
                              .where(AuditEntry.action == AuditAction.TOKEN_REFUSED)).all()  # fmt: skip
    assert reasons == ["owner", "expired", "disabled"]
    used = session.scalars(sa.select(AuditEntry.id).where(AuditEntry.action == AuditAction.TOKEN_USED)).all()
    assert len(used) == 1
