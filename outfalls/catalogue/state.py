"""An outfall's state and the columns its events set, replayed from its events as of any day: the same
functions write the denormalised columns (lifecycle) and replay them here, so the two cannot disagree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Boolean, ColumnElement, DateTime, Select, String, bindparam, literal_column, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import BindParameter

from outfalls import clock
from outfalls.catalogue.transitions import changes_state, next_status, state_of_event_sql
from outfalls.db.engine import DriverStatement, driver_statement, read_row
from outfalls.errors import InvalidTransition, NotFound
from outfalls.models import Event, Outfall
from outfalls.scope import Scope, require_visible
from outfalls.types import EventKind, OutfallStatus, RemediationCategory


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """An event already known when an outfall is created (imported registers, demo data)."""

    kind: EventKind
    on: date
    payload: dict[str, Any] = field(default_factory=dict)


def denormalise(values: dict[str, Any], item: HistoryItem) -> None:
    """The outfall columns (besides the state) that ``item`` sets: the same function writes them and replays them."""
    p = item.payload
    if item.kind is EventKind.SAMPLED:
        values["last_sampled_on"] = item.on
        if "is_discharging" in p:
            values["is_discharging"] = p["is_discharging"]
    elif item.kind in (EventKind.TRACED, EventKind.TRACE_UPDATED) and p.get("responsible_party"):
        values["responsible_party"] = p["responsible_party"]  # the latest finding, even before it counts as traced
    elif item.kind is EventKind.REMEDIATION_PLANNED and p.get("category"):
        values["remediation_category"] = RemediationCategory(p["category"])
    elif item.kind is EventKind.CLOSED and p.get("merge_into_id") is not None:
        values["merged_into_id"] = p["merge_into_id"]
    elif item.kind is EventKind.MERGED:
        values["merged_into_id"] = p.get("merge_into_id")
    elif item.kind is EventKind.SPLIT:
        values["merged_into_id"] = None
    elif item.kind is EventKind.ASSIGNED:
        values["assigned_to"] = p.get("officer")
    elif item.kind is EventKind.DEADLINE_SET:
        values["case_deadline"] = date.fromisoformat(p["deadline"]) if p.get("deadline") else None


@dataclass(frozen=True, slots=True)
class CaseState:
    """An outfall's state and the columns its events set, as recomputed from the events."""

    status: OutfallStatus
    status_since: date
    last_sampled_on: date | None = None
    is_discharging: bool | None = None
    responsible_party: str | None = None
    remediation_category: RemediationCategory | None = None
    merged_into_id: int | None = None
    assigned_to: str | None = None
    case_deadline: date | None = None

    @classmethod
    def of(cls, outfall: Outfall) -> CaseState:
        """The denormalised state held on the outfall row (what a replay must equal)."""
        return cls(**{f: getattr(outfall, f) for f in cls.__slots__})


def state_as_of(session: Session, outfall_id: int, as_of: date | None = None, *, scope: Scope) -> CaseState | None:
    """The outfall's state recomputed from its events up to the end of ``as_of`` (all events when None); None
    when it did not exist yet. Replays the same transition table and column rules as the writes, so with no
    date it equals the denormalised state on the outfall row.

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    require_visible(session, outfall_id, scope)
    query = select(Event.kind, Event.payload, Event.effective_at).where(Event.outfall_id == outfall_id)
    if as_of is not None:
        query = query.where(Event.effective_at < clock.end_of_day(as_of))
    status: OutfallStatus | None = None
    since: date | None = None
    values: dict[str, Any] = {}
    # replay in recording order: each event was checked against the state when it was written
    for kind, payload, effective_at in session.execute(query.order_by(Event.id)):
        day = clock.day_of(effective_at)
        if kind is EventKind.CREATED:
            status, since = OutfallStatus(payload.get("status", OutfallStatus.SURVEYED.value)), day
        elif status is not None:
            try:
                new_status = next_status(status, kind, payload)
            except InvalidTransition:
                if changes_state(kind):
                    raise
                new_status = status  # a back-dated note (a late lab result, a progress update): no state to check
            if new_status is not status:
                status, since = new_status, day
            denormalise(values, HistoryItem(kind, day, payload))
    if status is None or since is None:
        return None
    return CaseState(status=status, status_since=since, **values)


# The events that set an outfall's state (``created`` starts it); the latest of them up to a day gives the state
# of that day, since a change of state is never dated before the previous one (``record_event`` refuses it).
_STATE_KINDS = tuple(k for k in EventKind if k is EventKind.CREATED or changes_state(k))
# The kinds written into the statement's text (their values are fixed): a bound list would be expanded into
# one parameter per kind and the SQL re-rendered on every call.
_IS_STATE_KIND = literal_column("events.kind IN (" + ", ".join(f"'{k.value}'" for k in _STATE_KINDS) + ")", Boolean)
_STATE_OF_EVENT = literal_column(state_of_event_sql(kind="events.kind", payload="events.payload"), String)


def _latest_event(*where: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """The state the latest state-changing event meeting ``where`` sets."""
    return (
        select(_STATE_OF_EVENT)
        .where(_IS_STATE_KIND, *where)
        .order_by(Event.effective_at.desc(), Event.id.desc())
        .limit(1)
    )


@functools.lru_cache(maxsize=1024)
def _state_statements(dated: bool, scope: Scope, dialect: Dialect) -> tuple[DriverStatement, DriverStatement | None]:
    """The statements of ``status_as_of`` for a scope, compiled once (a scope's conditions are fixed) and prepared
    (lookups by key: a generic plan serves every outfall and day, and planning was most of the call): the state,
    and for a national reader the outfall's existence, asked only when the first finds no event.
    """
    before = (Event.effective_at < bindparam("end", type_=DateTime(timezone=True)),) if dated else ()
    asked: BindParameter[int] = bindparam("outfall_id")
    cond = scope.one_row_conditions()
    if cond:  # the outfall row, for the scope, with its state beside it
        latest = _latest_event(Event.outfall_id == Outfall.id, *before).scalar_subquery()
        scoped = select(Outfall.id, latest).where(Outfall.id == asked, *cond)
        return driver_statement(scoped, dialect, prepared=True), None
    # A national reader needs no outfall row once an event is found (events belong to an outfall); only before
    # the first one (a day before the outfall was found) does a second statement tell "not yet" from "no such".
    state = _latest_event(Event.outfall_id == asked, *before)
    exists: Select[*tuple[Any, ...]] = select(Outfall.id, literal_column("NULL")).where(Outfall.id == asked)
    return driver_statement(state, dialect, prepared=True), driver_statement(exists, dialect, prepared=True)


def status_as_of(session: Session, outfall_id: int, as_of: date | None = None, *, scope: Scope) -> OutfallStatus | None:
    """The outfall's state as of the end of ``as_of`` (all events when None): the state the latest state-changing
    event up to then leads to, read with the visibility check in one statement (two for a national reader when
    the outfall did not exist yet); None when it did not exist yet. The same state as ``state_as_of`` replays,
    without reading the rest of the history.

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    statement, existence = _state_statements(as_of is not None, scope, session.get_bind().dialect)
    # compiled once per scope and sent straight through the driver (see read_row)
    params = {"outfall_id": outfall_id} if as_of is None else {"outfall_id": outfall_id, "end": clock.end_of_day(as_of)}
    row = read_row(session, statement, **params)
    if existence is not None:
        if row is not None:
            return OutfallStatus(row[0]) if row[0] is not None else None
        row = read_row(session, existence, outfall_id=outfall_id)
    if row is None:  # outside the scope reads exactly like missing
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    return OutfallStatus(row[1]) if row[1] is not None else None
