"""The review queue: the survey rows reconciliation left to a person, one by one or a cluster at once.

A row is linked to the outfall it describes (a drone candidate is thereby verified) or made an outfall of its own.
Rows of one upload that could be one outfall are queued as a cluster (``ReviewItem.cluster_id``) and decided
together: all separate outfalls, one outfall made from one of its rows with the others linked to it, or all linked
to an existing outfall. Every decision is an event (an outfall created from its row, a row linked) written in the
caller's transaction; a decision based on versions someone changed meanwhile is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import create_outfalls, record_event
from outfalls.catalogue.observations import link_observation
from outfalls.errors import Conflict, InvalidInput, NotFound, OutfallsError, StaleEdit
from outfalls.models import Observation, ObservationLink, Outfall, ReviewItem
from outfalls.scope import Scope, require_visible
from outfalls.survey.areas import within
from outfalls.survey.reconcile import new_outfall
from outfalls.survey.validate import UNKNOWN_TYPE, SurveyRow
from outfalls.types import EventKind, OutfallStatus, ReviewStatus

Candidate = tuple[int, str, str, float]  # (outfall id, name, status, metres)
ClusterAction = Literal["separate", "one", "link"]
CLUSTER_ACTIONS: tuple[ClusterAction, ...] = ("separate", "one", "link")
MAX_DECISIONS = 500  # clusters (or rows) decided in one bulk request


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """An open review item with what a person needs to decide."""

    item: ReviewItem
    observation: Observation
    lon: float
    lat: float
    candidates: list[Candidate]
    name: str | None  # the name the row gives, if any


@dataclass(frozen=True, slots=True)
class ReviewGroup:
    """The open items of one cluster as the queue shows them (a row outside any cluster is a group of one)."""

    cluster_id: int | None
    entries: list[ReviewEntry]
    candidates: list[Candidate]  # every member's candidates, each once at its least distance

    @property
    def versions(self) -> dict[int, int]:
        """The item versions a decision on the group is based on."""
        return {e.item.id: e.item.version for e in self.entries}


def open_reviews(session: Session, *, scope: Scope, batch_id: int | None = None, limit: int = 200) -> list[ReviewEntry]:
    """Open review items whose row lies in ``scope``, with the candidate outfalls in ``scope``; another area's
    items are not listed (a row near the boundary belongs to the area it lies in). A cluster's items are listed
    together, in the order of its first row.
    """
    from geoalchemy2.shape import to_shape
    from sqlalchemy import func

    query = (
        select(ReviewItem).join(Observation, Observation.id == ReviewItem.observation_id)
        .where(ReviewItem.status == ReviewStatus.OPEN, *within(Observation.geom, scope))
        .order_by(func.coalesce(ReviewItem.cluster_id, ReviewItem.observation_id), ReviewItem.id).limit(limit)
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
                .where(Outfall.id == cid, *scope.one_row_conditions()),
                {"p": f"SRID={4490};POINT({point.x!r} {point.y!r})"},
            ).first()  # fmt: skip
            if row is not None:
                cands.append((row[0], row[1], row[2].value, float(row[3])))
        entries.append(ReviewEntry(item, obs, point.x, point.y, cands, _row_of(obs).name))
    return entries


def review_groups(entries: Sequence[ReviewEntry]) -> list[ReviewGroup]:
    """The entries grouped by cluster, in the order given (``open_reviews`` lists a cluster's items together)."""
    groups: dict[tuple[str, int], list[ReviewEntry]] = {}
    for e in entries:
        key = ("cluster", e.item.cluster_id) if e.item.cluster_id is not None else ("item", e.item.id)
        groups.setdefault(key, []).append(e)
    result = []
    for members in groups.values():
        nearest: dict[int, Candidate] = {}
        for e in members:
            for cand in e.candidates:
                if cand[0] not in nearest or cand[3] < nearest[cand[0]][3]:
                    nearest[cand[0]] = cand
        result.append(ReviewGroup(members[0].item.cluster_id, members, sorted(nearest.values(), key=lambda c: c[3])))
    return result


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


def _link_note(session: Session, item: ReviewItem, outfall_id: int, *, review_radius_m: float,
               override_reason: str | None) -> dict[str, object]:  # fmt: skip
    """What the link event records about the decision; refuses an outfall beyond the review radius without an
    explicit override and its reason.
    """
    metres = float(session.scalar(_DISTANCE, {"observation": item.observation_id, "outfall": outfall_id}) or 0.0)
    note: dict[str, object] = {"distance_m": round(metres, 1), "review_item_id": item.id}
    if item.cluster_id is not None:
        note["review_cluster_id"] = item.cluster_id
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
    return note


def _link(session: Session, item: ReviewItem, outfall_id: int, note: Mapping[str, object], *, actor: str,
          scope: Scope) -> ReviewItem:  # fmt: skip
    """Link the item's row to the outfall (an event); a drone candidate is thereby verified."""
    link_observation(session, item.observation_id, outfall_id, actor=actor, scope=scope, note=note)
    outfall = session.get(Outfall, outfall_id)
    if outfall is not None and outfall.status is OutfallStatus.CANDIDATE:
        day = clock.day_of(item.observation.captured_at or clock.now())
        record_event(session, outfall_id, EventKind.SURVEYED, actor=actor, scope=scope,
                     expected_version=outfall.version, on=max(day, outfall.found_on),
                     payload={"observation_id": item.observation_id})  # fmt: skip
    return _close(session, item, "linked", outfall_id, actor)


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
    note = _link_note(session, item, outfall_id, review_radius_m=review_radius_m, override_reason=override_reason)
    return _link(session, item, outfall_id, note, actor=actor, scope=scope)


def resolve_new(session: Session, item_id: int, *, actor: str, scope: Scope,
                expected_version: int | None = None) -> ReviewItem:  # fmt: skip
    """Decide that the row is an outfall of its own: create it from the row and link the row to it.

    Raises:
        NotFound: no such item, or one outside ``scope``. Conflict: already decided or changed meanwhile.
    """
    item = _open_item(session, item_id, expected_version, scope)
    _make_outfalls(session, [item], actor=actor)
    return item


def _make_outfalls(session: Session, items: Sequence[ReviewItem], *, actor: str) -> list[int]:
    """Each item's row becomes an outfall of its own (created with its history, the row linked); their ids."""
    made = [new_outfall(_row_of(i.observation), i.observation_id, i.observation.is_demo) for i in items]
    outfall_ids = create_outfalls(session, made, actor=actor)
    for item, outfall_id in zip(items, outfall_ids, strict=True):
        session.add(ObservationLink(observation_id=item.observation_id, outfall_id=outfall_id, linked_by=actor))
    session.flush()
    for item, outfall_id in zip(items, outfall_ids, strict=True):
        _close(session, item, "new_outfall", outfall_id, actor)
    return outfall_ids


def _close(session: Session, item: ReviewItem, resolution: str, outfall_id: int, actor: str) -> ReviewItem:
    item.status = ReviewStatus.RESOLVED
    item.resolution = resolution
    item.outfall_id = outfall_id
    item.resolved_by = actor
    item.resolved_at = datetime.now(UTC)
    session.flush()
    return item


# --- a cluster at once ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    """One decision on every open row of a cluster (or on one row: ``item_id``), based on the item versions the
    reviewer saw (``versions``: item id → version; every open row must be there).

    ``action``: ``separate`` (each row an outfall of its own), ``one`` (one outfall made from the row of
    ``item_id``, or the first row, the others linked to it), ``link`` (all linked to ``outfall_id``).
    """

    action: ClusterAction
    versions: Mapping[int, int]
    cluster_id: int | None = None
    item_id: int | None = None
    outfall_id: int | None = None
    override_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What one decision did: ``items`` as (review item id, outfall id), or why it was refused."""

    cluster_id: int | None
    item_id: int | None
    ok: bool
    code: str | None = None
    message: str | None = None
    items: list[tuple[int, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Plain values, for JSON."""
        return {"cluster_id": self.cluster_id, "item_id": self.item_id, "ok": self.ok, "code": self.code,
                "message": self.message,
                "items": [{"item_id": i, "outfall_id": f} for i, f in self.items]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReviewBulkReport:
    """The results of several decisions, in the order given; each decision is whole or refused whole."""

    results: list[DecisionResult]

    @property
    def decided(self) -> int:
        """How many rows were decided."""
        return sum(len(r.items) for r in self.results if r.ok)

    @property
    def refused(self) -> int:
        """How many decisions were refused (and changed nothing)."""
        return sum(1 for r in self.results if not r.ok)

    def as_dict(self) -> dict[str, object]:
        """Plain values, for JSON."""
        return {"decided": self.decided, "refused": self.refused, "results": [r.as_dict() for r in self.results]}


def _decided_items(session: Session, decision: ClusterDecision, scope: Scope) -> list[ReviewItem]:
    """The open items the decision is about, locked, checked against the versions the reviewer saw."""
    query = (
        select(ReviewItem).join(Observation, Observation.id == ReviewItem.observation_id)
        .where(*within(Observation.geom, scope)).order_by(ReviewItem.id).with_for_update(of=ReviewItem)
    )  # fmt: skip
    if decision.cluster_id is not None:
        query = query.where(ReviewItem.cluster_id == decision.cluster_id)
        what, key = "review cluster", decision.cluster_id
    elif decision.item_id is not None:
        query = query.where(ReviewItem.id == decision.item_id)
        what, key = "review item", decision.item_id
    else:
        raise InvalidInput("name the cluster (or the row) decided", field="cluster_id")
    items = list(session.scalars(query))
    if not items:
        raise NotFound(f"{what} does not exist", entity=what.replace(" ", "_"), id=key)
    open_items = [i for i in items if i.status is ReviewStatus.OPEN]
    if not open_items:
        first = items[0]
        raise Conflict(f"this {what} was already decided ({first.resolution} by {first.resolved_by})", id=key)
    seen = dict(decision.versions)
    if set(seen) != {i.id for i in open_items}:
        raise StaleEdit(f"the {what} changed since it was shown (rows decided or listed differently): reload the "
                        "queue", id=key, open_items=sorted(i.id for i in open_items))  # fmt: skip
    changed = [i.id for i in open_items if i.version != seen[i.id]]
    if changed:
        raise StaleEdit("someone else changed this review item; reload the queue", id=key, items=changed)
    return open_items


def decide_cluster(session: Session, decision: ClusterDecision, *, actor: str, scope: Scope,
                   review_radius_m: float) -> list[ReviewItem]:  # fmt: skip
    """Decide every open row of a cluster at once (see ``ClusterDecision``); each row's outcome is an event.

    Returns:
        The decided items (each with the outfall its row ended on).

    Raises:
        NotFound: no such cluster, item or outfall (or one outside ``scope``).
        InvalidInput: an unknown action, a missing outfall for ``link``, a row for ``one`` outside the cluster,
            an outfall beyond ``review_radius_m`` of a row without an override and its reason.
        Conflict: already decided. StaleEdit: a row was decided or changed since the versions given.
    """
    if decision.action not in CLUSTER_ACTIONS:
        raise InvalidInput(f"choose one of {', '.join(CLUSTER_ACTIONS)}, not {decision.action!r}", field="action")
    items = _decided_items(session, decision, scope)
    if decision.action == "separate":
        _make_outfalls(session, items, actor=actor)
        return items
    if decision.action == "one":
        chosen = decision.item_id if decision.cluster_id is not None else None
        first = items[0] if chosen is None else next((i for i in items if i.id == chosen), None)
        if first is None:
            raise InvalidInput(f"row {chosen} is not an open row of this cluster", field="item_id", value=str(chosen))
        [made] = _make_outfalls(session, [first], actor=actor)
        rest = [i for i in items if i is not first]
        notes = [_link_note(session, i, made, review_radius_m=review_radius_m,
                            override_reason=decision.override_reason) for i in rest]  # fmt: skip
        return [first, *(_link(session, i, made, n, actor=actor, scope=scope)
                         for i, n in zip(rest, notes, strict=True))]  # fmt: skip
    if decision.outfall_id is None:
        raise InvalidInput("choose the outfall to link the rows to", field="outfall_id")
    require_visible(session, decision.outfall_id, scope)
    notes = [_link_note(session, i, decision.outfall_id, review_radius_m=review_radius_m,
                        override_reason=decision.override_reason) for i in items]  # every row checked first
    return [_link(session, i, decision.outfall_id, n, actor=actor, scope=scope) for i, n in zip(items, notes,
                                                                                             strict=True)]


def decide_many(session: Session, decisions: Sequence[ClusterDecision], *, actor: str, scope: Scope,
                review_radius_m: float) -> ReviewBulkReport:  # fmt: skip
    """Several decisions in the caller's transaction, each whole or refused whole (a stale or impossible one is
    reported, not raised, and changes nothing); the caller commits.

    Raises:
        InvalidInput: no decision, or more than ``MAX_DECISIONS``.
    """
    if not decisions:
        raise InvalidInput("send at least one decision", field="decisions")
    if len(decisions) > MAX_DECISIONS:
        raise InvalidInput(f"send at most {MAX_DECISIONS} decisions at a time", field="decisions")
    results = []
    for d in decisions:
        savepoint = session.begin_nested()
        try:
            items = decide_cluster(session, d, actor=actor, scope=scope, review_radius_m=review_radius_m)
        except OutfallsError as err:
            savepoint.rollback()
            results.append(DecisionResult(d.cluster_id, d.item_id, False, err.code, err.message))
            continue
        savepoint.commit()
        results.append(DecisionResult(d.cluster_id, d.item_id, True,
                                      items=[(i.id, i.outfall_id or 0) for i in items]))  # fmt: skip
    return ReviewBulkReport(results)


# --- the row behind an item ----------------------------------------------------------------------------------


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
