"""The outfall lifecycle: creating outfalls and recording events, each state change together with its
event row in the same transaction, following one transition table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import String, any_, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outfalls import clock
from outfalls.catalogue.locations import DERIVE_BLOCK, derive_into_points, drop_points, stage_points
from outfalls.catalogue.state import CaseState as CaseState
from outfalls.catalogue.state import HistoryItem as HistoryItem
from outfalls.catalogue.state import denormalise
from outfalls.catalogue.state import state_as_of as state_as_of
from outfalls.catalogue.state import status_as_of as status_as_of
from outfalls.catalogue.transitions import changes_state, next_status
from outfalls.errors import Conflict, InvalidInput, InvalidTransition, NotFound, StaleEdit
from outfalls.models import CodeListEntry, Event, Outfall
from outfalls.scope import Scope, require_visible
from outfalls.types import (
    CGCS2000,
    CodeProvenance,
    EventKind,
    LonLat,
    OutfallStatus,
    SurveyLevel,
)


@dataclass(frozen=True, slots=True)
class NewOutfall:
    """What is needed to create an outfall; ``lonlat`` is CGCS2000."""

    lonlat: LonLat
    name: str
    type_code: str
    found_by: SurveyLevel
    found_on: date
    type_scheme: str = "HJ1312"
    type_raw: str | None = None
    name_provenance: CodeProvenance = CodeProvenance.KNOWN
    national_code: str | None = None
    national_code_provenance: CodeProvenance = CodeProvenance.UNKNOWN
    local_code: str | None = None
    local_code_provenance: CodeProvenance = CodeProvenance.UNKNOWN
    receiving_water: str | None = None
    is_demo: bool = False
    history: tuple[HistoryItem, ...] = ()




def create_outfalls(
    session: Session,
    items: Sequence[NewOutfall],
    *,
    actor: str,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 10_000,
) -> list[int]:
    """Create outfalls with their ``created`` event and any known history; their basin, sub-basin, river and
    administrative area are derived from the reference data. ``progress`` hears of every ``batch_size``
    outfalls written.

    Returns:
        The new outfall ids, in the order of ``items``.

    Raises:
        InvalidInput: a coordinate outside the valid range, an empty name or a type not in the code list.
        InvalidTransition: a history that does not follow the lifecycle.
        Conflict: a national code given twice or already used by another outfall.
    """
    _check_codes(session, items)
    session.flush()  # pending ORM changes go first: the rows below are written with COPY on the same transaction
    ids: list[int] = []
    times: dict[date, str] = {}
    for block_start in range(0, len(items), DERIVE_BLOCK):
        block = items[block_start : block_start + DERIVE_BLOCK]
        rows = [_outfall_row(item) for item in block]  # every item of the block is checked before any is written
        new_ids = list(session.scalars(_NEXT_IDS, {"n": len(block)}))
        # The rows are staged whole (one COPY), their locations derived there in one spatial join, and each
        # outfall is then written once, complete, by INSERT ... SELECT with its events: an UPDATE after
        # writing would write every row twice (new entries in all its indexes, foreign keys checked again).
        columns = [*_STAGED, *(c for c in _DENORMALISED if any(c in row for row in rows))]
        staged = [
            [i, oid, *(row.get(c) for c in columns), _event_time(times, item.found_on),
             _history_json(item.history, times), item.found_by.value, _initial_status(item).value]
            for i, (oid, row, item) in enumerate(zip(new_ids, rows, block, strict=True))
        ]  # fmt: skip
        stage_points(session, ["i", "id", *columns, *_EVENT_COLUMNS], staged)
        derive_into_points(session, len(staged))
        names = ", ".join(["id", *columns])
        written = ", ".join(f"q.{c}" for c in ["id", *columns])
        for start in range(0, len(block), batch_size):
            bounds = {"lo": start, "hi": start + batch_size, "actor": actor}
            session.execute(text(_INSERT_OUTFALLS.format(names=names, columns=written)), bounds)
            session.execute(_INSERT_EVENTS, bounds)
            if progress:
                progress(min(batch_size, len(block) - start))
        drop_points(session)
        ids += new_ids
    return ids


# Ids are drawn from the table's own sequence first, so that the rows can be staged with COPY (an order of
# magnitude faster than INSERT ... RETURNING) and events can refer to them.
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('outfalls', 'id')) FROM generate_series(1, :n)")
# What is staged for each new outfall besides its position and id: its columns, then what its events need.
_STAGED = (
    "national_code", "national_code_provenance", "local_code", "local_code_provenance", "name",
    "name_provenance", "type_scheme", "type_code", "type_raw", "receiving_water", "geom", "found_by", "found_on",
    "is_demo", "version", "status", "status_since",
)  # fmt: skip
_DENORMALISED = (
    "last_sampled_on", "is_discharging", "responsible_party", "remediation_category", "merged_into_id",
    "assigned_to", "case_deadline",
)  # fmt: skip
_EVENT_COLUMNS = ("created_at_event", "history", "created_found_by", "created_status")
_INSERT_OUTFALLS = (
    "INSERT INTO outfalls ({names}, sub_basin_id, basin_id, admin_area_id, river_id) "
    "SELECT {columns}, l.sub_basin_id, l.basin_id, l.admin_area_id, l.river_id "
    "FROM outfall_points q JOIN outfall_locations l ON l.i = q.i WHERE q.i >= :lo AND q.i < :hi ORDER BY q.i"
)
# The ``created`` event, then the known history in its order, outfall by outfall: ids in the order of writing.
_INSERT_EVENTS = text(
    """
    INSERT INTO events (outfall_id, kind, payload, actor, effective_at, outfall_version)
    SELECT q.id, e.kind, e.payload, :actor, e.at, 1
    FROM outfall_points q CROSS JOIN LATERAL (
        SELECT 0::bigint AS n, 'created' AS kind,
               jsonb_build_object('found_by', q.created_found_by, 'status', q.created_status) AS payload,
               q.created_at_event AS at
        UNION ALL
        SELECT h.n, h.e->>'kind', h.e->'payload', (h.e->>'at')::timestamptz
        FROM jsonb_array_elements(q.history) WITH ORDINALITY AS h(e, n)
    ) e
    WHERE q.i >= :lo AND q.i < :hi
    ORDER BY q.i, e.n
    """
)


def _event_time(times: dict[date, str], day: date) -> str:
    """``clock.event_time`` of a day, as text (a batch has few distinct days)."""
    moment = times.get(day)
    if moment is None:
        moment = times[day] = clock.event_time(day).isoformat()
    return moment


def _history_json(history: Sequence[HistoryItem], times: dict[date, str]) -> Jsonb | None:
    if not history:
        return None
    return Jsonb([{"kind": h.kind.value, "payload": h.payload, "at": _event_time(times, h.on)} for h in history])


def _check_codes(session: Session, items: Sequence[NewOutfall]) -> None:
    """Refuse unknown types and duplicate national codes as user errors, not as database errors."""
    types = {(item.type_scheme, item.type_code) for item in items}
    schemes = sorted({scheme for scheme, _code in types})
    known = {
        (scheme, code)
        for scheme, code in session.execute(
            select(CodeListEntry.scheme, CodeListEntry.code).where(CodeListEntry.scheme.in_(schemes))
        )
    }
    unknown = sorted(types - known)
    if unknown:
        scheme, code = unknown[0]
        raise InvalidInput(f"unknown outfall type {code!r} in code list {scheme}", field="type_code", value=code)
    counts = Counter(item.national_code for item in items if item.national_code)
    # One array parameter, not one per code: a national import can exceed PostgreSQL's 65535 parameters.
    taken: list[str | None] = [code for code, n in counts.items() if n > 1]
    if counts and not taken:
        query = select(Outfall.national_code).where(
            Outfall.national_code == any_(bindparam("codes", sorted(counts), type_=ARRAY(String)))
        )
        taken = list(session.scalars(query))
    if taken:
        code = sorted(str(c) for c in taken)[0]
        raise Conflict(f"national code {code} is already used", field="national_code", value=code)


def _initial_status(item: NewOutfall) -> OutfallStatus:
    # a drone mark and a citizen's report are suspicions until a crew has seen the outfall
    suspected = item.found_by in (SurveyLevel.DRONE, SurveyLevel.PUBLIC)
    return OutfallStatus.CANDIDATE if suspected else OutfallStatus.SURVEYED


def _outfall_row(item: NewOutfall) -> dict[str, Any]:
    lon, lat = item.lonlat
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"coordinate ({lon}, {lat}) is outside the valid range", field="lonlat")
    if not item.name.strip():
        raise InvalidInput("an outfall needs a name", field="name")
    status = _initial_status(item)
    values: dict[str, Any] = {
        "national_code": item.national_code,
        "national_code_provenance": item.national_code_provenance,
        "local_code": item.local_code,
        "local_code_provenance": item.local_code_provenance,
        "name": item.name.strip(),
        "name_provenance": item.name_provenance,
        "type_scheme": item.type_scheme,
        "type_code": item.type_code,
        "type_raw": item.type_raw,
        "receiving_water": item.receiving_water,
        "geom": f"SRID={CGCS2000};POINT({lon!r} {lat!r})",
        "found_by": item.found_by,
        "found_on": item.found_on,
        "is_demo": item.is_demo,
        "version": 1,
    }
    since = item.found_on
    for h in sorted(item.history, key=lambda h: h.on):
        if h.on < item.found_on:
            raise InvalidTransition(f"event {h.kind.value} on {h.on} precedes the discovery on {item.found_on}")
        new_status = next_status(status, h.kind, h.payload)
        if new_status is not status:
            status, since = new_status, h.on
        denormalise(values, h)
    values["status"] = status
    values["status_since"] = since
    return values


def record_event(
    session: Session,
    outfall_id: int,
    kind: EventKind,
    *,
    actor: str,
    scope: Scope,
    expected_version: int,
    on: date | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Record one event on an outfall and update its current state in the same transaction.

    Raises:
        NotFound: no such outfall, or one outside ``scope``.
        StaleEdit: the outfall changed since the caller read ``expected_version``.
        InvalidTransition: the event is not allowed in the outfall's state, is dated before the outfall
            was found, or is ``created`` (written only by ``create_outfalls``).
    """
    if kind is EventKind.CREATED:
        raise InvalidTransition("an outfall is created only once", event=kind.value, id=outfall_id)
    require_visible(session, outfall_id, scope)
    try:
        outfall = session.get(Outfall, outfall_id, with_for_update=True)
    except StaleDataError as err:
        # This session holds an older copy than the locked row: someone else changed the outfall since.
        current = session.scalar(select(Outfall.version).where(Outfall.id == outfall_id))
        raise StaleEdit(
            "the outfall was changed by someone else; reload it and try again", id=outfall_id, current=current,
            changes=[c.as_dict() for c in changes_since(session, outfall_id, expected_version)],
        ) from err  # fmt: skip
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    if outfall.version != expected_version:
        raise StaleEdit(
            "the outfall was changed by someone else; reload it and try again",
            id=outfall_id,
            current=outfall.version,
            changes=[c.as_dict() for c in changes_since(session, outfall_id, expected_version)],
        )
    day = on or clock.today()
    if day < outfall.found_on:
        raise InvalidTransition(
            f"event {kind.value} on {day} precedes the discovery on {outfall.found_on}",
            event=kind.value,
            id=outfall_id,
        )
    if changes_state(kind) and day < outfall.status_since:
        # a change of state dated before the last one would make the history contradict itself as of a day
        # between them; record what happened in the order it happened
        raise InvalidTransition(
            f"event {kind.value} on {day} precedes the outfall's last change of state "
            f"({outfall.status.value} on {outfall.status_since})",
            event=kind.value, id=outfall_id,
        )  # fmt: skip
    item = HistoryItem(kind, day, payload or {})
    new_status = next_status(outfall.status, kind, payload or {})
    values: dict[str, Any] = {}
    denormalise(values, item)
    for key, value in values.items():
        setattr(outfall, key, value)
    if new_status is not outfall.status:
        outfall.status = new_status
        outfall.status_since = day
    outfall.updated_at = clock.now()  # every event is a new version, even one that changes no column
    event = Event(
        outfall_id=outfall.id, kind=kind, payload=item.payload, actor=actor, effective_at=clock.event_time(day),
        outfall_version=expected_version + 1,
    )  # fmt: skip
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class Change:
    """An event that happened after the version an edit was based on: what a refused edit shows."""

    kind: str
    actor: str
    recorded_at: datetime
    effective_on: date
    version: int | None

    def as_dict(self) -> dict[str, object]:
        """Plain values, for an API response."""
        return {
            "kind": self.kind,
            "actor": self.actor,
            "recorded_at": self.recorded_at.isoformat(),
            "effective_on": self.effective_on.isoformat(),
            "version": self.version,
        }


def changes_since(session: Session, outfall_id: int, version: int, *, limit: int = 20) -> list[Change]:
    """The events recorded on an outfall after ``version``, oldest first (at most ``limit``, the newest ones).

    Events recorded before versions were kept on events have no version; when none of the changes carries
    one, the newest events stand in for them.
    """
    rows = session.execute(
        select(Event.kind, Event.actor, Event.recorded_at, Event.effective_at, Event.outfall_version)
        .where(Event.outfall_id == outfall_id, or_(Event.outfall_version > version, Event.outfall_version.is_(None)))
        .order_by(Event.id.desc())
        .limit(limit)
    ).all()
    versioned = [r for r in rows if r.outfall_version is not None]
    chosen = versioned or rows[:1]
    return [
        Change(EventKind(r.kind).value, r.actor, r.recorded_at, clock.day_of(r.effective_at), r.outfall_version)
        for r in reversed(chosen)
    ]
