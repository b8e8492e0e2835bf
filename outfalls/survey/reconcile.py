"""Reconciliation: each accepted survey row becomes evidence of exactly one outfall.

A row within ``radius_m`` (geodesic) of exactly one outfall, of a compatible type, is linked to it; the crew's
row of a drone candidate's verification task (record id ``drone-<outfall id>``) near that candidate confirms it.
A row with no outfall near is a new outfall (found by foot survey). Everything else goes to the review queue, where a
person decides: two or more outfalls near; one near but of another type; a drone candidate near (the crew's row
is what verifies it). Two rows of one upload are never merged silently: rows within ``same_batch_m`` of each other
and of compatible types (could be one outfall entered twice, or two pipes at one headwall), and rows that would
both be linked to the same outfall, are queued as one cluster a reviewer decides at once (``review``); rows of an
upload farther apart are separate outfalls. Every link is an event on the outfall; the review actions are events too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyproj
import shapely
from psycopg.types.json import Jsonb
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls, record_event
from outfalls.db.bulk import Overlapped, copy_lines, escaped
from outfalls.db.bulk import copy_rows as _copy
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import ObservationLink, Outfall
from outfalls.scope import Scope, require_visible
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
_M_PER_DEG_MIN = 110_574.0  # the shortest degree of latitude (at the equator) on the ellipsoid
_GEOD = pyproj.Geod(ellps="GRS80")  # CGCS2000 uses the GRS 80 ellipsoid, as PostGIS geography of SRID 4490 does


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
_CODE_MATCHES = text("SELECT national_code, id FROM outfalls WHERE national_code = ANY(:codes)")


def _type_conflict(row: SurveyRow, scheme: str, code: str) -> bool:
    """Two known HJ 1312 types of different main classes, or a different code in another list."""
    return types_conflict((row.type_scheme, row.type_code), (scheme, code))


def types_conflict(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two known types (scheme, code) that cannot be one outfall: of one list, in different main classes."""
    if a == UNKNOWN_TYPE or b == UNKNOWN_TYPE:
        return False
    if a[0] != b[0]:
        return False  # different vocabularies: nothing to compare reliably
    return a[1].split(".")[0] != b[1].split(".")[0]


def near_pairs(lons: Sequence[float], lats: Sequence[float], metres: float) -> list[tuple[int, int]]:
    """The index pairs ``(i, j)``, ``i < j``, of CGCS2000 points at most ``metres`` apart on the ellipsoid.

    An R-tree over the points in degrees finds the pairs within a box-safe number of degrees (a degree of
    longitude shrinks with the cosine of the latitude, so the bound is taken at the batch's highest latitude);
    the geodesic distance of those few pairs then decides, as PostGIS's geography distance does.
    """
    n = len(lons)
    if n < 2 or metres < 0:
        return []
    lon = np.asarray(lons, dtype=float)
    lat = np.asarray(lats, dtype=float)
    top = min(float(np.abs(lat).max()) + 0.01, 89.9)
    deg = metres / (_M_PER_DEG_MIN * math.cos(math.radians(top))) * 1.01
    # Points near the antimeridian also stand on its other side, so that a pair across it is seen.
    wrap = np.flatnonzero(np.abs(lon) > 180.0 - deg)
    tree_lon = np.concatenate([lon, lon[wrap] - np.sign(lon[wrap]) * 360.0])
    tree_lat = np.concatenate([lat, lat[wrap]])
    owner = np.concatenate([np.arange(n), wrap])
    tree = shapely.STRtree(shapely.points(tree_lon, tree_lat))
    found, hit = tree.query(shapely.points(lon, lat), predicate="dwithin", distance=deg)
    other = owner[hit]
    keep = found < other
    i, j = found[keep], other[keep]
    if len(i) == 0:
        return []
    _, _, dist = _GEOD.inv(lon[i], lat[i], lon[j], lat[j])
    close = np.asarray(dist) <= metres
    return sorted({(int(a), int(b)) for a, b in zip(i[close], j[close], strict=True)})


def clusters_of(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """The connected groups of ``pairs`` (observation ids that could be one outfall): each member → the group's
    smallest id, which names the cluster.
    """
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in parent}


def _listed(rows: Sequence[int], limit: int = 8) -> str:
    """``row 6`` / ``rows 6, 9`` / ``rows 6, 9, … and 12 more``."""
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"{'row' if len(rows) == 1 else 'rows'} {shown}{more}"


def reconcile_batch(
    session: Session,
    batch_id: int,
    stored: Sequence[tuple[int, SurveyRow]],
    *,
    radius_m: float,
    actor: str,
    same_batch_m: float = 5.0,
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
    codes = {r.national_code: oid for oid, r in stored if r.national_code}

    def lookups() -> tuple[list[Any], dict[str, int]]:
        near = list(session.execute(_CANDIDATES, {"ids": ids, "deg": deg, "radius": radius_m}))
        return near, {c: i for c, i in session.execute(_CODE_MATCHES, {"codes": list(codes)})} if codes else {}

    looked_up = Overlapped(lookups)  # the server looks for outfalls near while the pairs in the batch are found here
    try:
        pairs_in_batch = near_pairs([r.lon for _, r in stored], [r.lat for _, r in stored], same_batch_m)
    except BaseException:
        looked_up.wait()
        raise
    near_rows, by_code = looked_up.result()
    candidates: dict[int, list[tuple[int, str, str, str, str, float]]] = {}
    for obs, outfall, status, found_by, scheme, code, metres in near_rows:
        candidates.setdefault(obs, []).append((outfall, status, found_by, scheme, code, metres))
    near_in_batch: dict[int, set[int]] = {}
    pairs = []
    for i, j in pairs_in_batch:
        (a, ra), (b, rb) = stored[i], stored[j]
        if types_conflict((ra.type_scheme, ra.type_code), (rb.type_scheme, rb.type_code)):
            continue  # two types that cannot be one outfall: two outfalls, not a question for a person
        near_in_batch.setdefault(a, set()).add(b)
        near_in_batch.setdefault(b, set()).add(a)
        pairs.append((a, b))
    cluster_of = clusters_of(pairs)

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
            others = sorted(rows[n].row for n in near)
            detail = f"{_listed(others)} of the same upload within {same_batch_m:g} m"
        elif len(found) >= 2:
            reason = ReviewReason.SEVERAL_CANDIDATES
        elif len(found) == 1:
            outfall, status, found_by, scheme, code, _metres = found[0]
            suspected = found_by in (SurveyLevel.DRONE.value, SurveyLevel.PUBLIC.value)  # a crew is to verify it
            if status == OutfallStatus.CANDIDATE.value and suspected:
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
                        "candidate_ids": [c[0] for c in found], "detail": detail, "cluster_id": cluster_of.get(oid),
                        "status": ReviewStatus.OPEN.value, "version": 1})  # fmt: skip
    reviews += _shared_links(batch_id, rows, to_link, to_confirm)
    step("reconciled", len(ids), len(ids))

    if to_create:
        new_ids = create_outfalls(session, [_new_outfall(rows[oid], oid, is_demo) for oid in to_create], actor=actor)
        by = escaped(actor)
        copy_lines(session, "observation_links", ("observation_id", "outfall_id", "linked_by"),
                   [f"{oid}\t{fid}\t{by}\n" for oid, fid in zip(to_create, new_ids, strict=True)])  # fmt: skip
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


def _shared_links(batch_id: int, rows: dict[int, SurveyRow], to_link: dict[int, int],
                  to_confirm: dict[int, int]) -> list[dict[str, object]]:  # fmt: skip
    """Rows of the batch that would each be linked to the same outfall are taken out of ``to_link`` (and
    ``to_confirm``) and queued as one cluster: linking them all would merge them silently.
    """
    by_outfall: dict[int, list[int]] = {}
    for oid, outfall in to_link.items():
        by_outfall.setdefault(outfall, []).append(oid)
    reviews: list[dict[str, object]] = []
    for outfall, members in by_outfall.items():
        if len(members) < 2:
            continue
        cluster = min(members)
        for oid in members:
            del to_link[oid]
            to_confirm.pop(oid, None)
            others = sorted(rows[m].row for m in members if m != oid)
            reviews.append({"observation_id": oid, "batch_id": batch_id, "reason": ReviewReason.NEAR_IN_BATCH.value,
                            "candidate_ids": [outfall], "cluster_id": cluster, "status": ReviewStatus.OPEN.value,
                            "detail": f"{_listed(others)} of the same upload would be linked to the same outfall",
                            "version": 1})  # fmt: skip
    return reviews


def new_outfall(row: SurveyRow, observation_id: int, is_demo: bool) -> NewOutfall:
    """The outfall a row describes, made from it (its history starts with the row)."""
    return _new_outfall(row, observation_id, is_demo)


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
