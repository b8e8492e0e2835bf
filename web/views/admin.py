"""Administration: users (create, disable, reset, roles and scope) and the audit log."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from outfalls import accounts, clock
from outfalls.accounts import AuditFilter
from outfalls.catalogue import queries
from outfalls.errors import InvalidInput
from outfalls.scope import Scope
from outfalls.types import AuditAction, Role
from web.auth import current_identity, requires
from web.db import db
from web.forms import parse_int

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _choices() -> dict[str, object]:
    facets = queries.facets(db(), scope=Scope.national())
    return {"roles": list(Role), "areas": facets.areas, "basins": facets.basins}


def _form_values(form: MultiDict[str, str]) -> dict[str, object]:
    return {
        "roles": form.getlist("role"),
        "areas": [a for a in form.getlist("area") if a],
        "basins": [b for b in form.getlist("basin") if b],
        "is_national": form.get("is_national") == "on",
        "display_name": (form.get("display_name") or "").strip() or None,
    }


@bp.get("/users")
@requires(Role.ADMIN)
def users() -> ResponseReturnValue:
    rows = [(u, accounts.scope_of(u)) for u in accounts.list_users(db())]
    return render_template("admin/users.html", rows=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new_user() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("admin/user_form.html", user=None, scope=Scope(), **_choices())
    password = request.form.get("password") or ""
    values = _form_values(request.form)
    user = accounts.create_user(
        db(),
        request.form.get("login") or "",
        password=password,
        actor=current_identity().login,
        **values,  # type: ignore[arg-type]
    )
    db().commit()
    return redirect(url_for("admin.edit_user", user_id=user.id, saved=1))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_user(user_id: int) -> ResponseReturnValue:
    user = accounts.get_user(db(), user_id)
    if request.method == "POST":
        values = _form_values(request.form)
        accounts.update_user(
            db(),
            user_id,
            expected_version=parse_int(request.form, "version", 0, minimum=0),
            actor=current_identity().login,
            is_active=request.form.get("is_active") == "on",
            **values,  # type: ignore[arg-type]
        )
        db().commit()
        return redirect(url_for("admin.edit_user", user_id=user_id, saved=1))
    message = _("Saved.") if request.args.get("saved") else None
    return render_template(
        "admin/user_form.html", user=user, scope=accounts.scope_of(user), message=message, **_choices()
    )


@bp.post("/users/<int:user_id>/password")
@requires(Role.ADMIN)
def reset_password(user_id: int) -> ResponseReturnValue:
    user = accounts.get_user(db(), user_id)
    done = accounts.set_password(db(), user.login, request.form.get("password") or "", actor=current_identity().login,
                                 revoke_tokens=request.form.get("revoke_tokens") == "1")  # fmt: skip
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
