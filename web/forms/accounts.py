"""The account forms: one's own password and API tokens, the administrator's user form and password reset, and
the targets an administrator sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from werkzeug.datastructures import MultiDict

from outfalls import accounts
from outfalls.errors import InvalidInput
from outfalls.progress import METRICS, TARGET_SCOPE_KINDS
from web.forms.base import Form

MAX_TOKEN_DAYS = 3650


def _strong(form: Form[Any], name: str) -> str:
    """The password typed into ``name``; a weak one is a mistake of that field (its length says how long)."""
    password = form.data.get(name) or ""
    try:
        accounts.check_password_strength(password)
    except InvalidInput as err:
        form.problem(name, err.message, "weak_password", low=accounts.MIN_PASSWORD_LENGTH)
    return password


@dataclass(frozen=True, slots=True)
class PasswordInput:
    """A user's change of their own password."""

    current_password: str
    new_password: str
    revoke_tokens: bool


class PasswordForm(Form[PasswordInput]):
    """``current_password``, ``new_password`` twice (``confirm_password``), ``revoke_tokens``."""

    form_id = "password-form"
    secrets = ("current_password", "new_password", "confirm_password")

    def read(self) -> PasswordInput:
        """The typed input from the fields."""
        new = _strong(self, "new_password")
        if new != (self.data.get("confirm_password") or ""):
            self.problem("confirm_password", "the two new passwords differ", "passwords_differ")
        return PasswordInput(self.data.get("current_password") or "", new, self.flag("revoke_tokens"))

    def field_of(self, name: str) -> str:
        """The domain's ``password`` is the new one."""
        return "new_password" if name == "password" else name


@dataclass(frozen=True, slots=True)
class TokenInput:
    """A new personal API token."""

    name: str
    expires_days: int


class TokenForm(Form[TokenInput]):
    """``name`` and ``expires_days`` (1 to 3650, 365 when empty)."""

    form_id = "token-form"

    def read(self) -> TokenInput:
        """The typed input from the fields."""
        name = self.text("name")
        if name is None and not any(p.field == "name" for p in self.problems):
            self.problem("name", "give the token a name (what it is for)", "required")
        days = self.whole("expires_days", 365, minimum=1, maximum=MAX_TOKEN_DAYS)
        return TokenInput(name or "", days)


@dataclass(frozen=True, slots=True)
class UserInput:
    """A user as the administrator's form gives it (``login`` and ``password`` only when the user is new)."""

    login: str
    password: str
    display_name: str | None
    roles: tuple[str, ...]
    areas: tuple[str, ...]
    basins: tuple[str, ...]
    is_national: bool
    is_active: bool


class UserForm(Form[UserInput]):
    """The user form: ``login`` and ``password`` (new users), ``display_name``, ``role`` boxes, ``is_national``,
    ``area`` and ``basin`` choices, ``is_active`` and ``version`` (existing users).
    """

    form_id = "user-form"
    secrets = ("password",)

    def __init__(self, data: MultiDict[str, str], *, new: bool) -> None:
        super().__init__(data)
        self.new = new

    def read(self) -> UserInput:
        """The typed input from the fields."""
        return UserInput(
            login=(self.text("login") or "") if self.new else "",
            password=_strong(self, "password") if self.new else "",
            display_name=self.text("display_name"),
            roles=tuple(self.data.getlist("role")),
            areas=tuple(a for a in self.data.getlist("area") if a),
            basins=tuple(b for b in self.data.getlist("basin") if b),
            is_national=self.flag("is_national"),
            is_active=self.flag("is_active"),
        )


class ResetForm(Form[tuple[str, bool]]):
    """The administrator's password reset: ``password`` and ``revoke_tokens``."""

    form_id = "reset-form"
    secrets = ("password",)

    def read(self) -> tuple[str, bool]:
        """The new password and whether the user's API tokens go too."""
        return _strong(self, "password"), self.flag("revoke_tokens")


@dataclass(frozen=True, slots=True)
class TargetInput:
    """A target version as the targets form gives it (``share`` None: the target is withdrawn)."""

    scope_kind: str
    scope_code: str | None
    metric: str
    deadline: date
    share: float | None
    effective_on: date | None
    note: str | None


class TargetForm(Form[TargetInput]):
    """``scope_kind``, ``scope_code``, ``metric``, ``deadline``, ``share`` (percent; ``80`` or ``80%``),
    ``effective_on``, ``note`` and ``withdraw``.
    """

    form_id = "target-form"

    def read(self) -> TargetInput:
        """The typed input from the fields."""
        kind = self.text("scope_kind") or ""
        if kind not in TARGET_SCOPE_KINDS:
            self.problem("scope_kind", f"unknown scope kind {kind!r}", "choice")
        metric = self.text("metric") or ""
        if metric not in METRICS:
            self.problem("metric", f"unknown metric {metric!r}", "choice")
        share: float | None = None
        if not self.flag("withdraw"):
            share = self._share()
        return TargetInput(
            scope_kind=kind, scope_code=self.text("scope_code"), metric=metric, deadline=self.day("deadline"),
            share=share, effective_on=self.optional_day("effective_on"), note=self.text("note"),
        )  # fmt: skip

    def _share(self) -> float | None:
        raw = (self.text("share") or "").rstrip("%").strip()
        try:
            share = float(raw)
        except ValueError:
            share = -1.0
        if not 0 <= share <= 100:  # NaN too
            self.problem("share", f"the share must be a percentage from 0 to 100, not {raw!r}", "share")
            return None
        return share / 100
