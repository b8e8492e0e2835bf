"""The outfall lifecycle: creating outfalls and recording events, each state change together with its
event row in the same transaction, following one transition table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import String, any_, bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from outfalls import clock
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
    RemediationCategory,
    SurveyLevel,
)


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """An event already known when an outfall is created (imported registers, demo data)."""

    kind: EventKind
    on: date
    payload: dict[str, Any] = field(default_factory=dict)


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




def _denormalise(values: dict[str, Any], item: HistoryItem) -> None:
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


def create_outfalls(
    session: Session,
    items: Sequence[NewOutfall],
    *,
    actor: str,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
) -> list[int]:
    """Create outfalls with their ``created`` event and any known history; their basin, sub-basin, river and
    administrative area are derived from the reference data.

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
    for block_start in range(0, len(items), _DERIVE_BLOCK):
        block = items[block_start : block_start + _DERIVE_BLOCK]
        rows = [_outfall_row(item) for item in block]  # every item of the block is checked before any is written
        # The locations are derived before the rows are written, so that each row is written once, complete:
        # an UPDATE after the COPY would write every row twice (new entries in all its indexes, foreign keys
        # checked again) and leave as many dead rows.
        _load_points(session, [row["geom"] for row in rows])
        locations = _derived_locations(session, len(rows))
        _drop_points(session)
        for start in range(0, len(block), batch_size):
            chunk = block[start : start + batch_size]
            new_ids = list(session.scalars(_NEXT_IDS, {"n": len(chunk)}))
            _copy(session, "outfalls", [
                {"id": oid, **rows[start + k], **locations.get(start + k, _NO_LOCATION)}
                for k, oid in enumerate(new_ids)
            ])  # fmt: skip
            events: list[dict[str, Any]] = []
            for oid, item in zip(new_ids, chunk, strict=True):
                events.append(
                    {
                        "outfall_id": oid,
                        "kind": EventKind.CREATED.value,
                        "payload": Jsonb({"found_by": item.found_by.value, "status": _initial_status(item).value}),
                        "actor": actor,
                        "effective_at": clock.event_time(item.found_on),
                        "outfall_version": 1,
                    }
                )
                events += [
                    {"outfall_id": oid, "kind": h.kind.value, "payload": Jsonb(h.payload), "actor": actor,
                     "effective_at": clock.event_time(h.on), "outfall_version": 1}
                    for h in item.history
                ]  # fmt: skip
            _copy(session, "events", events)
            ids += new_ids
            if progress:
                progress(len(chunk))
    return ids


# Ids are drawn from the table's own sequence first, so that rows can be streamed with COPY (an order of
# magnitude faster than INSERT ... RETURNING) and events can refer to them.
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('outfalls', 'id')) FROM generate_series(1, :n)")


def _copy(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Stream ``rows`` into ``table`` with COPY on the session's transaction; a key missing from a row is NULL."""
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_copy_value(row.get(c)) for c in columns])


def _copy_value(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return Jsonb(value)
    return value


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
    return OutfallStatus.CANDIDATE if item.found_by is SurveyLevel.DRONE else OutfallStatus.SURVEYED


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
        _denormalise(values, h)
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
    _denormalise(values, item)
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


# Spatial derivation: the containing sub-basin, basin and most detailed administrative area (from the
# subdivided polygons), and the nearest river within ~5 km, for the points in the temporary table
# ``outfall_points`` (i, geom). One set-based query serves both creation and later edits.
#
# The areas are one spatial join with the polygon pieces on the outer side: each piece is read (and
# decompressed) once and tested against the points its box holds through the points' index, instead of every
# point looking up and decompressing the pieces around it (4x faster for 10,000 points).
_AREAS = """
  SELECT q.i,
         min(p.ref_id) FILTER (WHERE p.kind = 'sub_basin') AS sub_basin_id,
         min(p.ref_id) FILTER (WHERE p.kind = 'basin') AS basin_id,
         (array_agg(p.ref_id ORDER BY p.rank, p.ref_id) FILTER (WHERE p.kind = 'admin'))[1] AS admin_area_id
  FROM area_parts p JOIN outfall_points q ON ST_Intersects(p.geom, q.geom)
  GROUP BY q.i
"""
# The nearest river: for a few points, a nearest-neighbour search on the river lines; for many, the lines are
# first cut into pieces of at most 32 vertices (whole lines have up to 3,593, and every distance to a whole
# line walks all of them), which costs ~50 ms once and then 0.01 ms a point instead of 0.3 ms. A river's
# distance is the distance to its nearest piece, so both give the same river.
_NEAREST_ON_LINES = """
  SELECT q.i, (SELECT r.id FROM rivers r WHERE ST_DWithin(r.geom, q.geom, 0.05)
               ORDER BY r.geom <-> q.geom LIMIT 1) AS river_id
  FROM outfall_points q
"""
_NEAREST_ON_PIECES = """
  SELECT DISTINCT ON (q.i) q.i, r.id AS river_id
  FROM river_pieces r JOIN outfall_points q ON ST_DWithin(r.geom, q.geom, 0.05)
  ORDER BY q.i, r.geom <-> q.geom, r.id
"""
_DERIVE = """
  WITH river_pieces AS MATERIALIZED (SELECT id, ST_Subdivide(geom, 32) AS geom FROM rivers),
       areas AS ({areas}),
       nearest AS ({nearest})
  SELECT q.i, a.sub_basin_id, a.basin_id, a.admin_area_id, n.river_id
  FROM outfall_points q LEFT JOIN areas a ON a.i = q.i LEFT JOIN nearest n ON n.i = q.i
"""
_PIECES_FROM = 150  # points; below this, cutting the rivers costs more than it saves


def _derive(pieces: bool) -> str:
    return _DERIVE.format(areas=_AREAS, nearest=_NEAREST_ON_PIECES if pieces else _NEAREST_ON_LINES)


_DERIVE_SQL = {pieces: text(_derive(pieces)) for pieces in (False, True)}
_ASSIGN_SQL = {
    pieces: text(
        "UPDATE outfalls o SET sub_basin_id = d.sub_basin_id, basin_id = d.basin_id, admin_area_id = d.admin_area_id, "
        f"river_id = d.river_id FROM ({_derive(pieces)}) d WHERE o.id = d.i"
    )
    for pieces in (False, True)
}
_POINTS_OF = text(
    "INSERT INTO outfall_points SELECT id, geom FROM outfalls WHERE id = ANY(:ids) AND NOT location_overridden"
)
_DERIVE_BLOCK = 50_000  # outfalls whose locations are derived in one query
_LOCATION_COLUMNS = ("sub_basin_id", "basin_id", "admin_area_id", "river_id")
_NO_LOCATION: dict[str, int | None] = dict.fromkeys(_LOCATION_COLUMNS)


def _create_points(session: Session) -> None:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.outfall_points"))
    session.execute(text(
        "CREATE TEMPORARY TABLE outfall_points (i bigint NOT NULL, geom geometry(Point, 4490) NOT NULL) ON COMMIT DROP"
    ))  # fmt: skip


def _index_points(session: Session) -> None:
    session.execute(text("CREATE INDEX ON outfall_points USING gist (geom)"))
    session.execute(text("ANALYZE outfall_points"))  # the planner's choice of join order needs the row count


def _drop_points(session: Session) -> None:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.outfall_points"))


def _load_points(session: Session, points: Sequence[str]) -> None:
    """The points (EWKT, as written to the outfalls) into ``outfall_points``, ``i`` = their position."""
    _create_points(session)
    _copy(session, "outfall_points", [{"i": i, "geom": p} for i, p in enumerate(points)])
    _index_points(session)


def _derived_locations(session: Session, n: int) -> dict[int, dict[str, int | None]]:
    """The location columns derived for the ``n`` points of ``outfall_points``, by ``i``."""
    jit = _jit_off(session)
    result = session.execute(_DERIVE_SQL[n >= _PIECES_FROM]).all()
    _jit_back(session, jit)
    return {row[0]: dict(zip(_LOCATION_COLUMNS, row[1:], strict=True)) for row in result}


# The planner expects the spatial joins to be far costlier than they are (15x the pairs, 150,000 river pieces),
# so PostgreSQL would compile them to machine code first: 0.65 s of compiling for 0.3 s of work on 10,000
# points. The setting is changed for these statements only and put back (a rollback puts it back by itself).
def _jit_off(session: Session) -> str:
    before = str(session.scalar(text("SELECT current_setting('jit')")))
    session.execute(text("SELECT set_config('jit', 'off', true)"))
    return before


def _jit_back(session: Session, before: str) -> None:
    session.execute(text("SELECT set_config('jit', :before, true)"), {"before": before})


def assign_locations(session: Session, outfall_ids: Sequence[int]) -> None:
    """Derive basin, sub-basin, river and administrative area of these outfalls from their points,
    except where a person set them (``location_overridden``).
    """
    if not outfall_ids:
        return
    _create_points(session)
    n = session.execute(_POINTS_OF, {"ids": list(outfall_ids)}).rowcount  # type: ignore[attr-defined]
    _index_points(session)
    jit = _jit_off(session)
    session.execute(_ASSIGN_SQL[n >= _PIECES_FROM])
    _jit_back(session, jit)
    _drop_points(session)


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
            _denormalise(values, HistoryItem(kind, day, payload))
    if status is None or since is None:
        return None
    return CaseState(status=status, status_since=since, **values)


def status_as_of(session: Session, outfall_id: int, as_of: date | None = None, *, scope: Scope) -> OutfallStatus | None:
    """The outfall's state as of the end of ``as_of`` (see ``state_as_of``); None when it did not exist yet.

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    state = state_as_of(session, outfall_id, as_of, scope=scope)
    return state.status if state else None


_ONE_DAY = timedelta(days=1)
