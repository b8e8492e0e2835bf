"""The outfall lifecycle: creating outfalls and recording events, each state change together with its
event row in the same transaction, following one transition table.
"""

from __future__ import annotations

import queue
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outfalls import clock
from outfalls.catalogue.locations import derive_locations
from outfalls.catalogue.state import CaseState as CaseState
from outfalls.catalogue.state import HistoryItem as HistoryItem
from outfalls.catalogue.state import denormalise
from outfalls.catalogue.state import state_as_of as state_as_of
from outfalls.catalogue.state import status_as_of as status_as_of
from outfalls.catalogue.transitions import changes_state, next_status
from outfalls.db.bulk import Overlapped, copy_lines, escaped, json_cell, text_cell
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
    outfalls written (from the thread that writes them).

    Returns:
        The new outfall ids, in the order of ``items``.

    Raises:
        InvalidInput: a coordinate outside the valid range, an empty name or a type not in the code list.
        InvalidTransition: a history that does not follow the lifecycle.
        Conflict: a national code given twice or already used by another outfall.
    """
    _check_codes(session, items)
    texts = _NewRows(actor)
    for k, item in enumerate(items):  # before any point is sent: one PostGIS cannot index would end the transaction
        if not _is_position(item.lonlat):
            for earlier in items[:k]:  # a problem of an earlier item is told first, as the items are checked in order
                texts.of(earlier)
            _check_position(item.lonlat)
    session.flush()  # pending ORM changes go first: the rows below are written with COPY on the same transaction
    # Blocks of equal size, at most _BLOCK: each block's events are one statement of as many milestone rows as it has
    # outfalls, and no block is left so small that its counts would be upserted (and held) in this transaction.
    size = -(-len(items) // max(1, -(-len(items) // _BLOCK))) if items else _BLOCK
    blocks = [items[start : start + size] for start in range(0, len(items), size)]
    formatted: queue.SimpleQueue[list[_NewRow] | None] = queue.SimpleQueue()

    def write() -> list[int]:
        # On the session, block after block: ids drawn from the table's own sequence (so that events can refer to
        # them), locations derived, then each outfall row written once, complete, with COPY, and its events. Python
        # checks and formats the next block meanwhile (each uses a core); None: it found a problem, stop.
        ids: list[int] = []
        for block in blocks:
            points = [_point(*item.lonlat) for item in block]
            new_ids = list(session.scalars(_NEXT_IDS, {"n": len(points)}))
            located = derive_locations(session, points)
            prepared = formatted.get()
            if prepared is None:
                return ids
            for start in range(0, len(block), batch_size):
                end = start + batch_size
                rows = zip(new_ids[start:end], prepared[start:end], points[start:end], located[start:end],
                           strict=True)  # fmt: skip
                copy_lines(session, "outfalls", _OUTFALL_COLUMNS, [
                    f"{oid}\t{p.row}\t{point}\t{_id(sb)}\t{_id(b)}\t{_id(a)}\t{_id(r)}\n"
                    for oid, p, point, (sb, b, a, r) in rows
                ])  # fmt: skip
                if progress:
                    progress(len(new_ids[start:end]))
            # The events of a block in one statement: its triggers derive the milestones of 100,000 outfalls at
            # once, and a statement of so many leaves their counts to the backlog (revision 0026), so no busy count
            # is upserted again for every block.
            lines = (f"{e}{oid}\n" for oid, p in zip(new_ids, prepared, strict=True) for e in p.events)
            copy_lines(session, "events", _EVENT_COLUMNS, lines)
            ids += new_ids
        return ids

    # Everything is written inside a savepoint: a problem Python finds in a later block (an empty name, a history
    # out of order) undoes the blocks already written, and the caller's transaction goes on as before the call.
    savepoint = session.begin_nested()
    written = Overlapped(write)
    try:
        for block in blocks:
            formatted.put([texts.of(item) for item in block])
    except BaseException:
        formatted.put(None)
        written.wait()  # the session is the caller's again once the server is done
        savepoint.rollback()
        raise
    try:
        ids = written.result()
    except BaseException:  # the writer failed, or the caller was interrupted while it wrote
        formatted.put(None)
        written.wait()  # never roll back while the writer still uses the session
        savepoint.rollback()
        raise
    savepoint.commit()
    return ids


_BLOCK = 100_000  # outfalls whose locations are derived in one statement
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('outfalls', 'id')) FROM generate_series(1, :n)")
# The columns written for a new outfall, in the order of its COPY line: id, what the item says (``_NewRows``),
# the point, and the derived location. The rest are the table's defaults (public reference, timestamps).
_OUTFALL_COLUMNS = (
    "id", "national_code", "national_code_provenance", "local_code", "local_code_provenance", "name",
    "name_provenance", "type_scheme", "type_code", "type_raw", "receiving_water", "found_by", "found_on",
    "is_demo", "version", "status", "status_since", "last_sampled_on", "is_discharging", "responsible_party",
    "remediation_category", "merged_into_id", "assigned_to", "case_deadline",
    "geom", "sub_basin_id", "basin_id", "admin_area_id", "river_id",
)  # fmt: skip
_DENORMALISED = _OUTFALL_COLUMNS[17:24]
# An event's line ends with its outfall's id, known only once ids are drawn; the created event comes first, then
# the known history in the order given.
_EVENT_COLUMNS = ("kind", "payload", "actor", "effective_at", "outfall_version", "outfall_id")


def _id(value: int | None) -> str:
    return "\\N" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class _NewRow:
    """A checked new outfall in COPY's text format: its row between id and point, and its event lines without the
    outfall id that ends them.
    """

    row: str
    events: list[str]


class _NewRows:
    """Checks new outfalls and formats their rows; event times and ``created`` payloads are formatted once for
    a batch (it has few distinct days and kinds of discovery).
    """

    def __init__(self, actor: str) -> None:
        self.actor = escaped(actor)
        self.times: dict[date, str] = {}
        self.created: dict[tuple[SurveyLevel, OutfallStatus], str] = {}
        self.payloads: dict[str, str] = {}

    def payload(self, payload: dict[str, Any]) -> str:
        """A history payload as COPY text; most payloads of a batch repeat (``{"by": "foot"}``), and ``repr``
        tells apart every value JSON does (``True`` from ``1``) at a fraction of the cost of encoding.
        """
        key = repr(payload)
        cell = self.payloads.get(key)
        if cell is None:
            cell = self.payloads[key] = json_cell(payload)
        return cell

    def time(self, day: date) -> str:
        """``clock.event_time`` of a day, as text."""
        moment = self.times.get(day)
        if moment is None:
            moment = self.times[day] = clock.event_time(day).isoformat()
        return moment

    def of(self, item: NewOutfall) -> _NewRow:
        """The rows of one new outfall.

        Raises:
            InvalidInput: a coordinate outside the valid range or an empty name.
            InvalidTransition: a history that does not follow the lifecycle.
        """
        _check_position(item.lonlat)
        name = item.name.strip()
        if not name:
            raise InvalidInput("an outfall needs a name", field="name")
        status = created = _initial_status(item)
        since = item.found_on
        payload = self.created.get((item.found_by, created))
        if payload is None:
            payload = json_cell({"found_by": item.found_by.value, "status": created.value})
            self.created[item.found_by, created] = payload
        actor = self.actor
        events = [f"created\t{payload}\t{actor}\t{self.time(item.found_on)}\t1\t"]
        denormalised = _NO_DENORMALISED
        if item.history:
            values: dict[str, Any] = {}
            for h in sorted(item.history, key=_day):
                if h.on < item.found_on:
                    raise InvalidTransition(f"event {h.kind.value} on {h.on} precedes the discovery on {item.found_on}")
                new_status = next_status(status, h.kind, h.payload)
                if new_status is not status:
                    status, since = new_status, h.on
                denormalise(values, h)
            if values:
                denormalised = "\t".join(text_cell(values.get(c)) for c in _DENORMALISED)
            events += [
                f"{h.kind.value}\t{self.payload(h.payload)}\t{actor}\t{self.time(h.on)}\t1\t" for h in item.history
            ]
        row = (
            f"{_text(item.national_code)}\t{item.national_code_provenance.value}\t{_text(item.local_code)}\t"
            f"{item.local_code_provenance.value}\t{escaped(name)}\t{item.name_provenance.value}\t"
            f"{escaped(item.type_scheme)}\t{escaped(item.type_code)}\t{_text(item.type_raw)}\t"
            f"{_text(item.receiving_water)}\t{item.found_by.value}\t{item.found_on.isoformat()}\t"
            f"{'t' if item.is_demo else 'f'}\t1\t{status.value}\t{since.isoformat()}\t{denormalised}"
        )
        return _NewRow(row, events)


_NO_DENORMALISED = "\t".join(["\\N"] * len(_DENORMALISED))
_EWKB_POINT = struct.Struct("<BIIdd")  # little-endian, type, SRID, x, y
_POINT_WITH_SRID = 0x20000001


def _point(lon: float, lat: float) -> str:
    """A CGCS2000 point as hex EWKB (what PostGIS reads fastest, and exactly)."""
    return _EWKB_POINT.pack(1, _POINT_WITH_SRID, CGCS2000, lon, lat).hex()


def _is_position(lonlat: LonLat) -> bool:
    lon, lat = lonlat
    return -180 <= lon <= 180 and -90 <= lat <= 90


def _check_position(lonlat: LonLat) -> None:
    if not _is_position(lonlat):
        lon, lat = lonlat
        raise InvalidInput(f"coordinate ({lon}, {lat}) is outside the valid range", field="lonlat")


def _text(value: str | None) -> str:
    return "\\N" if value is None else escaped(value)


def _day(item: HistoryItem) -> date:
    return item.on


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
