"""Reconciliation: each accepted survey row becomes evidence of exactly one outfall.

A row within ``radius_m`` (geodesic) of exactly one outfall, of a compatible type, is linked to it; the crew's
row of a drone candidate's verification task (record id ``drone-<outfall id>``) near that candidate confirms it.
A row with no outfall near is a new outfall (found by foot survey). Everything else goes to the review queue, where a
person decides: two or more outfalls near; one near but of another type; a drone candidate near (the crew's row
is what verifies it); or another row of the same upload near (two pipes at one headwall are two outfalls, so
rows of one batch are never merged automatically). Every link is an event on the outfall; the review actions
(link, new outfall) are events too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from psycopg.types.json import Jsonb
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, record_event
from outfalls.catalogue.observations import link_observation
from outfalls.db.bulk import copy_rows as _copy
from outfalls.errors import Conflict, InvalidInput, NotFound
from outfalls.models import Observation, ObservationLink, Outfall, ReviewItem
from outfalls.scope import Scope, require_visible
from outfalls.survey.areas import within
from outfalls.survey.validate import UNKNOWN_TYPE, SurveyRow
from outfalls.types import (
    CodeProvenance,
    EventKind,
    OutfallStatus,
    ReviewReason,
    ReviewStatus,
    SurveyLevel,
)

Progress = Callable[[str, int, int], None]

# Metres per degree of latitude; the index prefilter uses a box wide enough up to 60° of latitude.
_M_PER_DEG = 111_320.0
_PREFILTER = 2.0


@dataclass(frozen=True, slots=True)
class Held:
    """A row to put before a person whatever lies near, with why and the outfalls it concerns."""

    reason: ReviewReason
    outfall_ids: tuple[int, ...]
    detail: str


@dataclass(slots=True)
class Reconciliation:
    """What reconciling a batch did."""

    created: int = 0
    linked: int = 0
    queued: int = 0
    confirmed: int = 0  # drone candidates verified by the crew's row of their task
    outfall_of: dict[int, int] = field(default_factory=dict)  # observation id → outfall id (new or linked)

    @property
    def outfall_ids(self) -> list[int]:
        """The outfalls the batch's rows ended up on."""
        return sorted(set(self.outfall_of.values()))


_CANDIDATES = text(
    """
    SELECT o.id AS observation_id, f.id AS outfall_id, f.status, f.found_by, f.type_scheme, f.type_code,
           ST_Distance(o.geom::geography, f.geom::geography) AS metres
    FROM observations o
    JOIN outfalls f ON ST_DWithin(f.geom, o.geom, :deg)
    WHERE o.id = ANY(:ids) AND f.status <> 'rejected'
      AND ST_DWithin(o.geom::geography, f.geom::geography, :radius)
    ORDER BY o.id, metres
    """
)
_NEAR_IN_BATCH = text(
    """
    SELECT a.id, b.id
    FROM observations a JOIN observations b ON b.batch_id = a.batch_id AND b.id <> a.id
      AND ST_DWithin(b.geom, a.geom, :deg) AND ST_DWithin(a.geom::geography, b.geom::geography, :radius)
    WHERE a.batch_id = :batch
    """
)
_CODE_MATCHES = text("SELECT national_code, id FROM outfalls WHERE national_code = ANY(:codes)")


def _type_conflict(row: SurveyRow, scheme: str, code: str) -> bool:
    """Two known HJ 1312 types of different main classes, or a different code in another list."""
    if (row.type_scheme, row.type_code) == UNKNOWN_TYPE or (scheme, code) == UNKNOWN_TYPE:
        return False
    if row.type_scheme != scheme:
        return False  # different vocabularies: nothing to compare reliably
    return row.type_code.split(".")[0] != code.split(".")[0]


def reconcile_batch(
    session: Session,
    batch_id: int,
    stored: Sequence[tuple[int, SurveyRow]],
    *,
    radius_m: float,
    actor: str,
    is_demo: bool = False,
    progress: Progress | None = None,
    verifies: Mapping[int, int] | None = None,
    held: Mapping[int, Held] | None = None,
) -> Reconciliation:
    """Link, create or queue each stored row of a batch (observation id, row); set-based for large batches.

    ``verifies`` names, per observation, the drone candidate a crew confirmed on the spot (the field app): within
    the radius it is linked and confirmed like the row of the candidate's task, farther away a person decides.
    ``held`` rows go to the review queue whatever lies near (a phone record whose ground changed meanwhile).
    """
    step = progress or (lambda _stage, _done, _total: None)
    ids = [oid for oid, _ in stored]
    rows = dict(stored)
    deg = radius_m / _M_PER_DEG * _PREFILTER
    session.execute(text("SET LOCAL jit = off"))  # spatial joins look costly to the planner; compiling costs more
    candidates: dict[int, list[tuple[int, str, str, str, str, float]]] = {}
    for obs, outfall, status, found_by, scheme, code, metres in session.execute(
        _CANDIDATES, {"ids": ids, "deg": deg, "radius": radius_m}
    ):
        candidates.setdefault(obs, []).append((outfall, status, found_by, scheme, code, metres))
    codes = {r.national_code: oid for oid, r in stored if r.national_code}
    by_code: dict[str, int] = {c: i for c, i in session.execute(_CODE_MATCHES, {"codes": list(codes)})} if codes else {}
    near_in_batch: dict[int, set[int]] = {}
    for a, b in session.execute(_NEAR_IN_BATCH, {"batch": batch_id, "deg": deg, "radius": radius_m}):
        near_in_batch.setdefault(a, set()).add(b)

    outcome = Reconciliation()
    to_create: list[int] = []
    to_link: dict[int, int] = {}  # observation → outfall
    to_confirm: dict[int, int] = {}  # observation → drone candidate it verifies
    reviews: list[dict[str, object]] = []
    for oid in ids:
        row = rows[oid]
        found = candidates.get(oid, [])
        code_match = by_code.get(row.national_code) if row.national_code else None
        if code_match is not None and all(c[0] != code_match for c in found):
            found = [(code_match, "", "", "", "", -1.0), *found]  # the same national code: the same outfall
        near = sorted(near_in_batch.get(oid, ()))
        reason: ReviewReason | None = None
        detail = None
        confirmed = (verifies or {}).get(oid)
        if (hold := (held or {}).get(oid)) is not None:
            reason, detail = hold.reason, hold.detail
            found = [(i, "", "", "", "", -1.0) for i in hold.outfall_ids]
        elif confirmed is not None:
            if any(c[0] == confirmed and c[1] == OutfallStatus.CANDIDATE.value for c in found):
                to_link[oid] = confirmed  # confirmed on the spot, within the radius: the record verifies it
                to_confirm[oid] = confirmed
                continue
            reason = ReviewReason.DRONE_CANDIDATE
            detail = "confirmed on the spot farther than the radius from the candidate"
            found = [(confirmed, "", "", "", "", -1.0), *[c for c in found if c[0] != confirmed]]
        elif near:
            reason = ReviewReason.NEAR_IN_BATCH
            others = [str(rows[n].row) for n in near if n in rows]
            detail = f"{'row' if len(others) == 1 else 'rows'} {', '.join(others)} of the same upload within the radius"
        elif len(found) >= 2:
            reason = ReviewReason.SEVERAL_CANDIDATES
        elif len(found) == 1:
            outfall, status, found_by, scheme, code, _metres = found[0]
            if status == OutfallStatus.CANDIDATE.value and found_by == SurveyLevel.DRONE.value:
                if row.client_id == f"drone-{outfall}":  # the crew's row of this very candidate's task: confirmed
                    to_link[oid] = outfall
                    to_confirm[oid] = outfall
                    continue
                reason = ReviewReason.DRONE_CANDIDATE
            elif scheme and _type_conflict(row, scheme, code):
                reason = ReviewReason.TYPE_CONFLICT
                detail = f"the row says {row.type_scheme} {row.type_code}, the outfall is {scheme} {code}"
            else:
                to_link[oid] = outfall
                continue
        else:
            to_create.append(oid)
            continue
        reviews.append({"observation_id": oid, "batch_id": batch_id, "reason": reason.value,
                        "candidate_ids": [c[0] for c in found], "detail": detail,
                        "status": ReviewStatus.OPEN.value, "version": 1})  # fmt: skip
    step("reconciled", len(ids), len(ids))

    if to_create:
        new_ids = create_outfalls(session, [_new_outfall(rows[oid], oid, is_demo) for oid in to_create], actor=actor)
        _copy(session, "observation_links", [{"observation_id": oid, "outfall_id": fid, "linked_by": actor}
                                             for oid, fid in zip(to_create, new_ids, strict=True)])  # fmt: skip
        outcome.outfall_of.update(zip(to_create, new_ids, strict=True))
        outcome.created = len(new_ids)
        step("created", len(new_ids), len(new_ids))
    if to_link:
        _link_many(session, to_link, rows, batch_id=batch_id, actor=actor)
        outcome.outfall_of.update(to_link)
        outcome.linked = len(to_link)
    for oid, candidate in to_confirm.items():  # found by drone, confirmed on foot
        outfall = session.get(Outfall, candidate)
        if outfall is not None and outfall.status is OutfallStatus.CANDIDATE:
            captured = rows[oid].captured_at
            day = clock.day_of(captured) if captured else clock.today()
            record_event(session, candidate, EventKind.SURVEYED, actor=actor, scope=Scope.national(),
                         expected_version=outfall.version, on=max(day, outfall.found_on),
                         payload={"observation_id": oid, "batch_id": batch_id})  # fmt: skip
            outcome.confirmed += 1
    if reviews:
        _copy(session, "review_items", reviews)
        outcome.queued = len(reviews)
    return outcome


def _new_outfall(row: SurveyRow, observation_id: int, is_demo: bool) -> NewOutfall:
    on = clock.day_of(row.captured_at) if row.captured_at else clock.today()
    name = (
        row.name
        or row.local_code
        or row.national_code
        or f"未命名排口（{row.attributes.get('_source')} 第{row.row}行）"
    )
    return NewOutfall(
        lonlat=(row.lon, row.lat), name=name, type_scheme=row.type_scheme, type_code=row.type_code,
        type_raw=row.type_raw, found_by=SurveyLevel.FOOT, found_on=on, national_code=row.national_code,
        national_code_provenance=CodeProvenance.KNOWN if row.national_code else CodeProvenance.UNKNOWN,
        local_code=row.local_code,
        local_code_provenance=CodeProvenance.KNOWN if row.local_code else CodeProvenance.UNKNOWN,
        name_provenance=CodeProvenance.KNOWN if row.name else CodeProvenance.UNKNOWN,
        receiving_water=row.receiving_water, is_demo=is_demo,
        history=(HistoryItem(EventKind.OBSERVATION_LINKED, on, {"observation_id": observation_id,
                                                                "client_id": row.client_id}),),
    )  # fmt: skip


_BUMP = text("UPDATE outfalls SET version = version + 1, updated_at = now() WHERE id = ANY(:ids) RETURNING id, version")


def _link_many(session: Session, links: dict[int, int], rows: dict[int, SurveyRow], *, batch_id: int,
               actor: str) -> None:  # fmt: skip
    """Link observations to existing outfalls: one link row and one event each, set-based."""
    _copy(session, "observation_links", [{"observation_id": o, "outfall_id": f, "linked_by": actor}
                                         for o, f in links.items()])  # fmt: skip
    versions: dict[int, int] = {}
    outfalls = sorted(set(links.values()))
    for fid, version in session.execute(_BUMP, {"ids": outfalls}):
        versions[fid] = version
    linked_on = clock.event_time(clock.today())  # the link is made now; the payload keeps the row

    _copy(session, "events", [
        {"outfall_id": f, "kind": EventKind.OBSERVATION_LINKED.value,
         "payload": Jsonb({"observation_id": o, "client_id": rows[o].client_id, "batch_id": batch_id}),
         "actor": actor, "effective_at": linked_on, "outfall_version": versions[f],}
        for o, f in links.items()
    ])  # fmt: skip
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Outfall) and obj.id in versions:
            session.expire(obj)


# --- the review queue ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """An open review item with what a person needs to decide."""

    item: ReviewItem
    observation: Observation
    lon: float
    lat: float
    candidates: list[tuple[int, str, str, float]]  # (outfall id, name, status, metres)
    name: str | None  # the name the row gives, if any


def open_reviews(session: Session, *, scope: Scope, batch_id: int | None = None, limit: int = 200) -> list[ReviewEntry]:
    """Open review items whose row lies in ``scope``, with the candidate outfalls in ``scope``; another area's
    items are not listed (a row near the boundary belongs to the area it lies in).
    """
    from geoalchemy2.shape import to_shape

    query = (
        select(ReviewItem).join(Observation, Observation.id == ReviewItem.observation_id)
        .where(ReviewItem.status == ReviewStatus.OPEN, *within(Observation.geom, scope))
        .order_by(ReviewItem.id).limit(limit)
    )  # fmt: skip
    if batch_id is not None:
        query = query.where(ReviewItem.batch_id == batch_id)
    entries = []
    for item in session.scalars(query):
        obs = item.observation
        point = to_shape(obs.geom)
        cands = []
        for cid in item.candidate_ids:
            row = session.execute(
                select(Outfall.id, Outfall.name, Outfall.status,
                       text("ST_Distance(outfalls.geom::geography, ST_GeomFromEWKT(:p)::geography)"))
                .where(Outfall.id == cid, *scope.conditions()),
                {"p": f"SRID={4490};POINT({point.x!r} {point.y!r})"},
            ).first()  # fmt: skip
            if row is not None:
                cands.append((row[0], row[1], row[2].value, float(row[3])))
        entries.append(ReviewEntry(item, obs, point.x, point.y, cands, _row_of(obs).name))
    return entries


def _open_item(session: Session, item_id: int, expected_version: int | None, scope: Scope) -> ReviewItem:
    """The item, locked, when its row lies in ``scope``: another area's item is "not found", decided or not."""
    item = session.scalar(
        select(ReviewItem).join(Observation, Observation.id == ReviewItem.observation_id)
        .where(ReviewItem.id == item_id, *within(Observation.geom, scope)).with_for_update(of=ReviewItem)
    )  # fmt: skip
    if item is None:
        raise NotFound("review item does not exist", entity="review_item", id=item_id)
    if item.status is not ReviewStatus.OPEN:
        raise Conflict(f"this row was already decided ({item.resolution} by {item.resolved_by})", id=item_id)
    if expected_version is not None and item.version != expected_version:
        raise Conflict("someone else changed this review item; reload the queue", id=item_id)
    return item


_DISTANCE = text(
    "SELECT ST_Distance(o.geom::geography, f.geom::geography) FROM observations o, outfalls f "
    "WHERE o.id = :observation AND f.id = :outfall"
)


def resolve_link(session: Session, item_id: int, outfall_id: int, *, actor: str, scope: Scope,
                 review_radius_m: float, override_reason: str | None = None,
                 expected_version: int | None = None) -> ReviewItem:  # fmt: skip
    """Decide that the row describes ``outfall_id``: link it (an event); a drone candidate is thereby verified.

    The link event records the distance from the row to the outfall. An outfall farther than ``review_radius_m``
    is linked only with an ``override_reason`` (the user ticked the override and said why), recorded with it.

    Raises:
        NotFound: no such item or outfall, or one outside ``scope``.
        InvalidInput: the outfall is farther than ``review_radius_m`` and no override (or an empty reason) is given.
        Conflict: already decided or changed meanwhile.
    """
    item = _open_item(session, item_id, expected_version, scope)
    require_visible(session, outfall_id, scope)
    metres = float(session.scalar(_DISTANCE, {"observation": item.observation_id, "outfall": outfall_id}) or 0.0)
    note: dict[str, object] = {"distance_m": round(metres, 1), "review_item_id": item.id}
    if metres > review_radius_m:
        if override_reason is None:
            raise InvalidInput(
                f"outfall {outfall_id} is {metres / 1000:.2f} km from the row, beyond the review radius of "
                f"{review_radius_m:g} m: choose a nearer outfall, or override the distance and say why",
                field="override_distance", distance_m=round(metres, 1), radius_m=review_radius_m,
            )  # fmt: skip
        if not override_reason.strip():
            raise InvalidInput("say why the row is linked to an outfall this far from it", field="override_reason")
        note |= {"override_distance": True, "override_reason": override_reason.strip(),
                 "review_radius_m": review_radius_m}  # fmt: skip
    link_observation(session, item.observation_id, outfall_id, actor=actor, scope=scope, note=note)
    outfall = session.get(Outfall, outfall_id)
    if outfall is not None and outfall.status is OutfallStatus.CANDIDATE:
        day = clock.day_of(item.observation.captured_at or clock.now())
        record_event(session, outfall_id, EventKind.SURVEYED, actor=actor, scope=scope,
                     expected_version=outfall.version, on=max(day, outfall.found_on),
                     payload={"observation_id": item.observation_id})  # fmt: skip
    return _close(session, item, "linked", outfall_id, actor)


def resolve_new(session: Session, item_id: int, *, actor: str, scope: Scope,
                expected_version: int | None = None) -> ReviewItem:  # fmt: skip
    """Decide that the row is an outfall of its own: create it from the row and link the row to it.

    Raises:
        NotFound: no such item, or one outside ``scope``. Conflict: already decided or changed meanwhile.
    """
    item = _open_item(session, item_id, expected_version, scope)
    obs = item.observation
    row = _row_of(obs)
    [outfall_id] = create_outfalls(session, [_new_outfall(row, obs.id, obs.is_demo)], actor=actor)
    session.add(ObservationLink(observation_id=obs.id, outfall_id=outfall_id, linked_by=actor))
    session.flush()
    return _close(session, item, "new_outfall", outfall_id, actor)


def _close(session: Session, item: ReviewItem, resolution: str, outfall_id: int, actor: str) -> ReviewItem:
    item.status = ReviewStatus.RESOLVED
    item.resolution = resolution
    item.outfall_id = outfall_id
    item.resolved_by = actor
    item.resolved_at = datetime.now(UTC)
    session.flush()
    return item


def _row_of(obs: Observation) -> SurveyRow:
    """The survey row an observation was made from (its stored attributes and point)."""
    from geoalchemy2.shape import to_shape

    from outfalls.survey.mapping import ColumnMapping
    from outfalls.survey.validate import photo_names

    point = to_shape(obs.geom)
    attrs = dict(obs.attributes)
    mapping = ColumnMapping.build([k for k in attrs if not k.startswith("_")])

    def value(name: str) -> str | None:
        raw = mapping.get(attrs, name)
        return str(raw).strip() or None if raw is not None else None

    scheme, code = _stored_type(attrs)
    return SurveyRow(
        row=int(attrs.get("_row", 0)), client_id=obs.client_id, x=obs.orig_x, y=obs.orig_y, crs=obs.orig_crs,
        lon=point.x, lat=point.y, name=value("name"), national_code=value("national_code"),
        local_code=value("local_code"), type_scheme=scheme, type_code=code, type_raw=value("type"),
        receiving_water=value("receiving_water"), township=value("township"), surveyor=obs.author,
        captured_at=obs.captured_at, photo_names=photo_names(value("photos")), attributes=attrs,
    )  # fmt: skip


def _stored_type(attrs: dict[str, object]) -> tuple[str, str]:
    stored = attrs.get("_type")
    if isinstance(stored, str) and ":" in stored:
        scheme, code = stored.split(":", 1)
        return scheme, code
    return UNKNOWN_TYPE


# --- merge and split -----------------------------------------------------------------------------------------


def _current_links(session: Session, outfall_id: int) -> list[ObservationLink]:
    return list(session.scalars(select(ObservationLink).where(ObservationLink.outfall_id == outfall_id,
                                                              ObservationLink.unlinked_at.is_(None))))  # fmt: skip


def _move_links(session: Session, observation_ids: list[int], source: int, target: int, actor: str) -> None:
    now = datetime.now(UTC)
    for link in _current_links(session, source):
        if link.observation_id in observation_ids:
            link.unlinked_at, link.unlinked_by = now, actor
            session.add(ObservationLink(observation_id=link.observation_id, outfall_id=target, linked_by=actor))
    session.flush()


def merge_outfalls(session: Session, keep_id: int, absorb_id: int, *, actor: str, scope: Scope,
                   keep_version: int, absorb_version: int, reason: str) -> tuple[Outfall, Outfall]:  # fmt: skip
    """Record that two outfalls are one (a duplicate found twice): ``absorb_id`` becomes ``merged`` into
    ``keep_id`` and its field records move to it. Both histories are kept, and ``split_outfall`` undoes it.

    Raises:
        NotFound: either outfall is missing (or outside ``scope``).
        InvalidInput: merging an outfall into itself, or no reason.
        InvalidTransition: either outfall is already merged, rejected or closed.
        StaleEdit: either changed since the versions given.
    """
    from outfalls.errors import InvalidTransition

    if keep_id == absorb_id:
        raise InvalidInput("an outfall cannot be merged into itself", field="outfall_id")
    if not reason.strip():
        raise InvalidInput("say why the two records are the same outfall", field="reason")
    require_visible(session, keep_id, scope)
    require_visible(session, absorb_id, scope)
    keep = session.get(Outfall, keep_id)
    absorb = session.get(Outfall, absorb_id)
    if keep is None or absorb is None:  # pragma: no cover - require_visible found them
        raise NotFound("outfall does not exist", entity="outfall", id=keep_id if keep is None else absorb_id)
    if keep.status in (OutfallStatus.MERGED, OutfallStatus.REJECTED, OutfallStatus.CLOSED):
        raise InvalidTransition(f"outfall {keep_id} is {keep.status.value}: merge into an active outfall",
                                status=keep.status.value)  # fmt: skip
    moved = [link.observation_id for link in _current_links(session, absorb_id)]
    record_event(session, absorb_id, EventKind.MERGED, actor=actor, scope=scope, expected_version=absorb_version,
                 payload={"merge_into_id": keep_id, "restore_status": absorb.status.value,
                          "moved_observations": moved, "reason": reason.strip()})  # fmt: skip
    record_event(session, keep_id, EventKind.ABSORBED, actor=actor, scope=scope, expected_version=keep_version,
                 payload={"outfall_id": absorb_id, "moved_observations": moved, "reason": reason.strip()})  # fmt: skip
    _move_links(session, moved, absorb_id, keep_id, actor)
    return keep, absorb


def split_outfall(session: Session, outfall_id: int, *, actor: str, scope: Scope, expected_version: int,
                  reason: str) -> Outfall:  # fmt: skip
    """Undo a merge: the outfall is its own again, in the state it had, with the field records it brought.

    Raises:
        NotFound: no such outfall (in ``scope``). InvalidInput: no reason.
        InvalidTransition: the outfall is not merged. StaleEdit: it changed since ``expected_version``.
    """
    from outfalls.errors import InvalidTransition
    from outfalls.models import Event

    if not reason.strip():
        raise InvalidInput("say why the records are two outfalls after all", field="reason")
    require_visible(session, outfall_id, scope)
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:  # pragma: no cover - require_visible found it
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    merge = session.scalar(select(Event).where(Event.outfall_id == outfall_id, Event.kind == EventKind.MERGED)
                           .order_by(Event.id.desc()).limit(1))  # fmt: skip
    if outfall.status is not OutfallStatus.MERGED or merge is None or "restore_status" not in merge.payload:
        raise InvalidTransition("only an outfall merged as a duplicate can be split off again",
                                status=outfall.status.value)  # fmt: skip
    keep_id = int(merge.payload["merge_into_id"])
    moved = [int(i) for i in merge.payload.get("moved_observations", [])]
    record_event(session, outfall_id, EventKind.SPLIT, actor=actor, scope=scope, expected_version=expected_version,
                 payload={"restore_status": merge.payload["restore_status"], "from_outfall_id": keep_id,
                          "moved_observations": moved, "reason": reason.strip()})  # fmt: skip
    keep = session.get(Outfall, keep_id)
    if keep is not None:
        note = {"outfall_id": outfall_id, "moved_observations": moved, "reason": reason.strip()}
        record_event(session, keep_id, EventKind.SPLIT_OFF, actor=actor, scope=Scope.national(),
                     expected_version=keep.version, payload=note)  # fmt: skip
        _move_links(session, moved, keep_id, outfall_id, actor)
    return outfall
