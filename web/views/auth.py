"""Logging in and out, and a user's own account: password and personal API tokens."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls import accounts
from outfalls.errors import InvalidInput, NotAuthenticated
from web.auth import ANON_CSRF_COOKIE, SESSION_COOKIE, current_identity, public, requires, set_session_cookie
from web.db import db
from web.forms import PostedForm
from web.forms.accounts import PasswordForm, TokenForm
from web.i18n import is_local_path
from web.pages import refused_forms_stay

bp = Blueprint("auth", __name__)


def _next_target() -> str:
    target = request.values.get("next") or ""
    return target if is_local_path(target) else url_for("catalogue.map_page")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if request.method != "POST":  # GET and HEAD show the page; only a POST submits it
        if g.get("identity") is not None:
            return redirect(_next_target())
        return render_template("auth/login.html", next=request.args.get("next", ""), error=None)
    name = (request.form.get("login") or "").strip()
    try:
        user = accounts.authenticate(db(), name, request.form.get("password") or "", ip=request.remote_addr)
    except NotAuthenticated as err:
        db().commit()  # the failed attempt stays in the audit log
        message = _("Wrong user name or password.") if err.message == accounts.BAD_LOGIN else err.message
        return render_template("auth/login.html", next=request.form.get("next", ""), error=message, login=name), 401
    # A fresh session id at every login: a cookie planted before the login is worth nothing after it.
    accounts.end_session(db(), request.cookies.get(SESSION_COOKIE), ip=request.remote_addr)
    token, _web_session = accounts.start_session(
        db(), user, ip=request.remote_addr, user_agent=request.headers.get("User-Agent")
    )
    db().commit()
    response = redirect(_next_target())
    set_session_cookie(response, token)
    response.delete_cookie(ANON_CSRF_COOKIE)
    return response


@bp.post("/logout")
@public
def logout() -> ResponseReturnValue:
    accounts.end_session(db(), request.cookies.get(SESSION_COOKIE), ip=request.remote_addr)
    db().commit()
    response = redirect(url_for("auth.login"))
    response.delete_cookie(SESSION_COOKIE)
    return response


def _account_page(*, new_token: str | None = None, message: str | None = None, posted: PostedForm | None = None) -> str:
    me = current_identity()
    tokens = accounts.list_tokens(db(), me.login)
    return render_template("auth/account.html", me=me, tokens=tokens, new_token=new_token, message=message,
                           posted=posted or PostedForm())  # fmt: skip


def _account_again(posted: PostedForm) -> str:
    return _account_page(posted=posted)


@bp.get("/account")
@requires()
def account() -> ResponseReturnValue:
    return _account_page()


@bp.post("/account/password")
@requires()
@refused_forms_stay(lambda: PasswordForm(request.form), _account_again)
def change_password(form: PasswordForm) -> ResponseReturnValue:
    me = current_identity()
    change = form.parse()
    try:
        done = accounts.set_password(
            db(),
            me.login,
            change.new_password,
            actor=me.login,
            current_password=change.current_password,
            keep_session=request.cookies.get(SESSION_COOKIE),
            revoke_tokens=change.revoke_tokens,
        )  # this browser stays logged in; every other session of the user ends
    except NotAuthenticated as err:
        db().commit()  # the failed attempt is audited
        raise InvalidInput("the current password is wrong", field="current_password", reason="wrong_password") from err
    db().commit()
    message = _("Your password was changed; %(n)s other session(s) ended.", n=done.sessions_ended)
    if done.tokens_kept:
        message += " " + _("%(n)s API token(s) still work: revoke them below if the old password was known to "
                           "others.", n=done.tokens_kept)  # fmt: skip
    return _account_page(message=message)


@bp.post("/account/tokens")
@requires()
@refused_forms_stay(lambda: TokenForm(request.form), _account_again)
def create_token(form: TokenForm) -> ResponseReturnValue:
    me = current_identity()
    wanted = form.parse()
    _token, plain = accounts.create_token(
        db(), me.login, name=wanted.name, actor=me.login, expires_days=wanted.expires_days
    )
    db().commit()
    return _account_page(new_token=plain)


@bp.post("/account/tokens/<int:token_id>/revoke")
@requires()
def revoke_token(token_id: int) -> ResponseReturnValue:
    me = current_identity()
    accounts.revoke_token(db(), token_id, actor=me.login, owner_id=me.user_id)
    db().commit()
    return redirect(url_for("auth.account"))


@bp.get("/api/me")
@requires()
def me() -> ResponseReturnValue:
    """Who the request is authenticated as: login, roles and scope."""
    i = current_identity()
    return jsonify(
        login=i.login,
        display_name=i.display_name,
        roles=sorted(r.value for r in i.roles),
        scope={"national": i.scope.is_national, "areas": list(i.scope.area_codes), "basins": list(i.scope.basin_codes)},
        via_token=i.via_token,
    )
