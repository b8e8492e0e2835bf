"""Bulk work on cases: give many outfalls to a case officer, set their deadline, or record the same
remediation category for a selection — in one transaction, with a result per outfall.

An outfall that cannot take the change (outside the caller's scope, changed since the caller's list was
loaded, already closed …) is reported with a stable code and a message, and left exactly as it was; the
others change together, each with its event. Assignment and deadlines are set-based (one UPDATE and one
INSERT of events for the whole selection), so 10,000 outfalls take well under a second more than the SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Integer, any_, cast, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.accounts import scope_of
from outfalls.cases.remediation import PlanInput, plan_remediation
from outfalls.errors import InvalidInput, OutfallsError
from outfalls.models import Outfall, User
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, RemediationCategory, Role

# A case in these states is finished: it is not handed out any more.
FINISHED = (OutfallStatus.CLOSED, OutfallStatus.REJECTED, OutfallStatus.MERGED)
MAX_SELECTION = 100_000


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one outfall of a selection."""

    outfall_id: int
    ok: bool
    code: str | None = None  # stable error code when not ok, "unchanged" when there was nothing to do
    message: str | None = None
    version: int | None = None  # the outfall's version afterwards

    def as_dict(self) -> dict[str, object]:
        """Plain values, for JSON."""
        return {"outfall_id": self.outfall_id, "ok": self.ok, "code": self.code, "message": self.message,
                "version": self.version}  # fmt: skip


@dataclass(frozen=True, slots=True)
class BulkReport:
    """The per-outfall results of one bulk operation, in the order the outfalls were given."""

    action: str
    results: list[ItemResult] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """How many outfalls changed."""
        return sum(1 for r in self.results if r.ok and r.code is None)

    @property
    def refused(self) -> list[ItemResult]:
        """The outfalls left unchanged because the change was not possible for them."""
        return [r for r in self.results if not r.ok]

    def as_dict(self) -> dict[str, object]:
        """Plain values, for JSON."""
        return {"action": self.action, "changed": self.changed, "refused": len(self.refused),
                "results": [r.as_dict() for r in self.results]}  # fmt: skip


# Outfall ids are PostgreSQL ``integer`` keys: a number beyond them names no outfall and cannot be sent as one.
MAX_ID = 2**31 - 1


def _selection(outfall_ids: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in outfall_ids))
    wrong = next((i for i in ids if not 1 <= i <= MAX_ID), None)
    if wrong is not None:
        raise InvalidInput(f"{wrong} is not an outfall id (ids run from 1 to {MAX_ID})", field="outfall_ids",
                           value=str(wrong))  # fmt: skip
    if not ids:
        raise InvalidInput("select at least one outfall", field="outfall_ids", reason="no_selection")
    if len(ids) > MAX_SELECTION:
        raise InvalidInput(f"select at most {MAX_SELECTION:,} outfalls at a time", field="outfall_ids",
                           value=len(ids), reason="selection_too_large")  # fmt: skip
    return ids


def case_officer(session: Session, login: str) -> User:
    """The active case officer ``login``.

    Raises:
        InvalidInput: no such active user, or one without the case officer role.
    """
    user = session.scalar(select(User).where(User.login == login.strip()))
    if user is None or not user.is_active:
        raise InvalidInput(f"{login!r} is not an active user", field="officer", value=login, reason="not_an_officer")
    if Role.CASE_OFFICER not in user.role_set:
        raise InvalidInput(f"{login!r} is not a case officer", field="officer", value=login, reason="not_an_officer")
    return user


@dataclass(slots=True)
class _Row:
    id: int
    version: int
    status: OutfallStatus
    found_on: date
    current: Any


def _lock(session: Session, ids: list[int], scope: Scope, column: Any) -> dict[int, _Row]:
    """The selected outfalls in ``scope``, locked for update, with the column the operation changes."""
    session.flush()  # pending ORM changes go first: the rows are changed below with plain SQL
    rows = session.execute(
        select(Outfall.id, Outfall.version, Outfall.status, Outfall.found_on, column)
        .where(Outfall.id == any_(cast(ids, ARRAY(Integer))), *scope.conditions())  # one parameter, any size
        .order_by(Outfall.id)  # a fixed lock order: two bulk operations never deadlock
        .with_for_update(of=Outfall)
    ).all()
    return {r[0]: _Row(r[0], r[1], r[2], r[3], r[4]) for r in rows}


def _check(
    ids: list[int], rows: dict[int, _Row], expected: Mapping[int, int] | None, day: date, value: Any
) -> tuple[list[ItemResult | None], list[_Row]]:
    """Per outfall: a refusal, "unchanged", or None (to change). Returns the slots and the rows to change."""
    slots: list[ItemResult | None] = []
    todo: list[_Row] = []
    for oid in ids:
        row = rows.get(oid)
        refusal: tuple[str, str] | None = None
        if row is None:
            refusal = ("not_found", "outfall does not exist")
        elif expected is not None and oid in expected and expected[oid] != row.version:
            refusal = ("stale_edit", "the outfall was changed by someone else since the list was loaded; reload it")
        elif row.status in FINISHED:
            refusal = ("invalid_transition", f"the case is finished (the outfall is {row.status.value})")
        elif day < row.found_on:
            refusal = ("invalid_transition", f"{day} is before the outfall was found ({row.found_on})")
        if refusal is not None or row is None:
            slots.append(ItemResult(oid, False, *(refusal or ("not_found", "")), row.version if row else None))
        elif row.current == value:
            slots.append(ItemResult(oid, True, "unchanged", None, row.version))
        else:
            slots.append(None)
            todo.append(row)
    return slots, todo


_UPDATE = {
    EventKind.ASSIGNED: text(
        "UPDATE outfalls SET assigned_to = :value, version = version + 1, updated_at = now() "
        "WHERE id = ANY(:ids) RETURNING id, version"
    ),
    EventKind.DEADLINE_SET: text(
        "UPDATE outfalls SET case_deadline = CAST(:value AS date), version = version + 1, updated_at = now() "
        "WHERE id = ANY(:ids) RETURNING id, version"
    ),
}
_INSERT_EVENTS = text(
    """
    INSERT INTO events (outfall_id, kind, payload, actor, effective_at, outfall_version)
    SELECT e.id, :kind, e.payload, :actor, :at, e.version
    FROM unnest(CAST(:ids AS int[]), CAST(:versions AS int[]), CAST(:payloads AS jsonb[])) AS e(id, version, payload)
    """
)


def _set_column(
    session: Session,
    kind: EventKind,
    outfall_ids: Sequence[int],
    value: Any,
    payload_key: str,
    *,
    actor: str,
    scope: Scope,
    on: date | None,
    expected_versions: Mapping[int, int] | None,
    column: Any,
    extra_check: Callable[[list[int]], dict[int, tuple[str, str]]] | None = None,
) -> BulkReport:
    ids = _selection(outfall_ids)
    day = on or clock.today()
    rows = _lock(session, ids, scope, column)
    slots, todo = _check(ids, rows, expected_versions, day, value)
    if extra_check is not None:
        refused = extra_check([r.id for r in todo])
        for i, oid in enumerate(ids):
            if slots[i] is None and oid in refused:
                code, message = refused[oid]
                slots[i] = ItemResult(oid, False, code, message, rows[oid].version)
        todo = [r for r in todo if r.id not in refused]
    versions: dict[int, int] = {}
    if todo:
        stored = value.isoformat() if isinstance(value, date) else value
        changed = session.execute(_UPDATE[kind], {"value": stored, "ids": [r.id for r in todo]}).all()
        versions = {oid: version for oid, version in changed}
        session.execute(
            _INSERT_EVENTS,
            {
                "kind": kind.value,
                "actor": actor,
                "at": clock.event_time(day),
                "ids": [r.id for r in todo],
                "versions": [versions[r.id] for r in todo],
                "payloads": [Jsonb({payload_key: stored, "previous": _plain(r.current)}) for r in todo],
            },
        )
        for obj in list(session.identity_map.values()):  # ORM copies of the changed rows are now stale
            if isinstance(obj, Outfall) and obj.id in versions:
                session.expire(obj)
    results = [slot or ItemResult(oid, True, None, None, versions[oid]) for oid, slot in zip(ids, slots, strict=True)]
    return BulkReport(kind.value, results)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def assign_cases(
    session: Session,
    outfall_ids: Sequence[int],
    officer: str | None,
    *,
    actor: str,
    scope: Scope,
    on: date | None = None,
    expected_versions: Mapping[int, int] | None = None,
) -> BulkReport:
    """Give the cases of ``outfall_ids`` to the case officer ``officer`` (None: take them back).

    An outfall outside the officer's own scope is refused for that outfall: the officer could not see it.

    Raises:
        InvalidInput: no outfalls, too many, or ``officer`` is not an active case officer (nothing changes).
    """
    officer_scope: Scope | None = None
    if officer is not None:
        user = case_officer(session, officer)
        officer, officer_scope = user.login, scope_of(user)

    def outside_officer_scope(ids: list[int]) -> dict[int, tuple[str, str]]:
        if officer_scope is None or officer_scope.is_national or not ids:
            return {}
        inside = set(session.scalars(select(Outfall.id).where(Outfall.id == any_(cast(ids, ARRAY(Integer))),
                                                              *officer_scope.conditions())))  # fmt: skip
        message = f"the outfall is outside {officer}'s area ({officer_scope.describe()})"
        return {oid: ("outside_officer_scope", message) for oid in ids if oid not in inside}

    return _set_column(
        session, EventKind.ASSIGNED, outfall_ids, officer, "officer", actor=actor, scope=scope, on=on,
        expected_versions=expected_versions, column=Outfall.assigned_to, extra_check=outside_officer_scope,
    )  # fmt: skip


def set_deadlines(
    session: Session,
    outfall_ids: Sequence[int],
    deadline: date | None,
    *,
    actor: str,
    scope: Scope,
    on: date | None = None,
    expected_versions: Mapping[int, int] | None = None,
) -> BulkReport:
    """Set (or, with None, clear) the case deadline of ``outfall_ids``.

    Raises:
        InvalidInput: no outfalls, too many, or a deadline before the day it is set (nothing changes).
    """
    day = on or clock.today()
    if deadline is not None and deadline < day:
        raise InvalidInput(f"the deadline {deadline} is before {day}", field="deadline", value=deadline.isoformat(),
                           reason="deadline_before_day")  # fmt: skip
    return _set_column(
        session, EventKind.DEADLINE_SET, outfall_ids, deadline, "deadline", actor=actor, scope=scope, on=day,
        expected_versions=expected_versions, column=Outfall.case_deadline,
    )  # fmt: skip


def set_categories(
    session: Session,
    outfall_ids: Sequence[int],
    plan: PlanInput,
    *,
    actor: str,
    scope: Scope,
    expected_versions: Mapping[int, int] | None = None,
) -> BulkReport:
    """Record the same remediation plan (category, measures or reason, deadline) for each of ``outfall_ids``.

    Each outfall goes through the single-outfall rules (``plan_remediation``) in its own savepoint, so one
    that cannot take the plan (not yet traced, already closed …) is reported and left as it was.

    Raises:
        InvalidInput: no outfalls, too many, or a merge (each merge names its own receiving outfall).
    """
    ids = _selection(outfall_ids)
    if plan.category is RemediationCategory.MERGE or plan.merge_into_id is not None:
        raise InvalidInput("a merge names the receiving outfall of each case: plan it on the case page",
                           field="category", value=plan.category.value, reason="merge_in_bulk")  # fmt: skip
    session.flush()
    current: dict[int, int] = {  # only the outfalls in scope: the others are "not found", their version unsaid
        oid: v
        for oid, v in session.execute(
            select(Outfall.id, Outfall.version).where(Outfall.id == any_(cast(ids, ARRAY(Integer))),
                                                      *scope.conditions())
        )
    }  # fmt: skip
    results: list[ItemResult] = []
    for oid in ids:
        if oid not in current:
            results.append(ItemResult(oid, False, "not_found", "outfall does not exist"))
            continue
        version = (expected_versions or {}).get(oid, current[oid])
        try:
            with session.begin_nested():
                plan_remediation(session, oid, plan, actor=actor, scope=scope, expected_version=version)
        except OutfallsError as err:
            results.append(ItemResult(oid, False, err.code, err.message, current.get(oid)))
            continue
        results.append(ItemResult(oid, True, None, None, version + 1))
    return BulkReport(EventKind.REMEDIATION_PLANNED.value, results)


def outfall_names(session: Session, outfall_ids: Sequence[int], *, scope: Scope) -> dict[int, str]:
    """The names of those of ``outfall_ids`` that lie in ``scope`` (a bulk result names only what its user may
    see; the others stay numbers, reported as not found).
    """
    ids = list(dict.fromkeys(int(i) for i in outfall_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Outfall.id, Outfall.name).where(Outfall.id == any_(cast(ids, ARRAY(Integer))), *scope.conditions())
    )
    return {oid: name for oid, name in rows}


def officers_for(session: Session, scope: Scope) -> list[User]:
    """The active case officers whose area overlaps ``scope``: the people a case in it can be given to."""
    users = session.scalars(select(User).where(User.is_active).order_by(User.login)).all()
    chosen = []
    for user in users:
        if Role.CASE_OFFICER not in user.role_set:
            continue
        theirs = scope_of(user)
        if (
            scope.is_national
            or theirs.is_national
            or any(
                scope.covers_area(code) or theirs.covers_area(mine)
                for code in theirs.area_codes
                for mine in scope.area_codes
            )
        ):
            chosen.append(user)
    return chosen
