"""Administration: users (create, disable, reset, roles and scope) and the audit log."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls import accounts, clock
from outfalls.accounts import AuditFilter
from outfalls.catalogue import queries
from outfalls.errors import Conflict, InvalidInput
from outfalls.scope import Scope
from outfalls.types import AuditAction, Role
from web.auth import current_identity, requires
from web.db import db
from web.forms import PostedForm, parse_int
from web.forms.accounts import ResetForm, UserForm
from web.pages import refused_forms_stay

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _choices() -> dict[str, object]:
    facets = queries.facets(db(), scope=Scope.national())
    return {"roles": list(Role), "areas": facets.areas, "basins": facets.basins}


def _user_page(user_id: int | None, *, posted: PostedForm | None = None, message: str | None = None) -> str:
    """The form of a new user (``user_id`` None) or of an existing one, with a refused form of it."""
    user = accounts.get_user(db(), user_id) if user_id is not None else None
    scope = accounts.scope_of(user) if user is not None else Scope()
    return render_template("admin/user_form.html", user=user, scope=scope, message=message,
                           posted=posted or PostedForm(), **_choices())  # fmt: skip


def _new_user_again(posted: PostedForm) -> str:
    return _user_page(None, posted=posted)


def _user_again(posted: PostedForm, *, user_id: int) -> str:
    return _user_page(user_id, posted=posted)


@bp.get("/users")
@requires(Role.ADMIN)
def users() -> ResponseReturnValue:
    rows = [(u, accounts.scope_of(u)) for u in accounts.list_users(db())]
    return render_template("admin/users.html", rows=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
@refused_forms_stay(lambda: UserForm(request.form, new=True), _new_user_again)
def new_user(form: UserForm) -> ResponseReturnValue:
    if request.method != "POST":  # GET and HEAD show the page; only a POST submits it
        return _user_page(None)
    u = form.parse()
    try:
        user = accounts.create_user(
            db(), u.login, password=u.password, actor=current_identity().login, roles=u.roles, areas=u.areas,
            basins=u.basins, is_national=u.is_national, display_name=u.display_name,
        )  # fmt: skip
    except Conflict as err:  # the only conflict of a new user: its login is taken
        raise InvalidInput(err.message, field="login", reason="login_taken") from err
    db().commit()
    return redirect(url_for("admin.edit_user", user_id=user.id, saved=1))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires(Role.ADMIN)
@refused_forms_stay(lambda: UserForm(request.form, new=False), _user_again)
def edit_user(user_id: int, form: UserForm) -> ResponseReturnValue:
    if request.method != "POST":  # GET and HEAD show the page; only a POST submits it
        return _user_page(user_id, message=_("Saved.") if request.args.get("saved") else None)
    u = form.parse()
    accounts.update_user(
        db(), user_id, expected_version=form.version(), actor=current_identity().login, is_active=u.is_active,
        roles=u.roles, areas=u.areas, basins=u.basins, is_national=u.is_national, display_name=u.display_name,
    )  # fmt: skip
    db().commit()
    return redirect(url_for("admin.edit_user", user_id=user_id, saved=1))


@bp.post("/users/<int:user_id>/password")
@requires(Role.ADMIN)
@refused_forms_stay(lambda: ResetForm(request.form), _user_again)
def reset_password(user_id: int, form: ResetForm) -> ResponseReturnValue:
    user = accounts.get_user(db(), user_id)
    password, revoke_tokens = form.parse()
    done = accounts.set_password(db(), user.login, password, actor=current_identity().login,
                                 revoke_tokens=revoke_tokens)  # fmt: skip
    db().commit()
    return redirect(url_for("admin.edit_user", user_id=user_id, saved=1, sessions_ended=done.sessions_ended,
                            tokens_kept=done.tokens_kept))  # fmt: skip


def _day(name: str, *, end: bool = False) -> datetime | None:
    """The first moment of the programme's local day ``name`` (with ``end``, the first moment after it)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    day = clock.parse_day(raw, field=name)
    return clock.end_of_day(day) if end else clock.start_of_day(day)


@bp.get("/audit")
@requires(Role.ADMIN)
def audit() -> ResponseReturnValue:
    action = (request.args.get("action") or "").strip()
    if action and action not in {a.value for a in AuditAction}:
        raise InvalidInput(f"unknown action {action!r}", field="action", value=action)
    outcome = request.args.get("outcome") or ""
    f = AuditFilter(
        actor=(request.args.get("actor") or "").strip() or None,
        action=AuditAction(action) if action else None,
        success={"ok": True, "failed": False}.get(outcome),
        since=_day("since"),
        until=_day("until", end=True),
    )
    page = parse_int(request.args, "page", 1)
    entries, total = accounts.list_audit(db(), f, page=page, page_size=100)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "admin/audit.html",
        entries=entries,
        total=total,
        page=page,
        pages=max(1, -(-total // 100)),
        actions=list(AuditAction),
        args=args,
    )
