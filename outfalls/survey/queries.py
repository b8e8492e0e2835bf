"""What the survey pages read: the uploads (batches) a user may see, one upload's report with its outfalls on a
map, and the two outfalls of a merge side by side, so the user confirms a merge against the versions shown.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import and_, func, not_, select, true
from sqlalchemy.orm import Session

from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Observation, ObservationBatch, ObservationLink, Outfall
from outfalls.scope import Scope, require_visible
from outfalls.survey.areas import within
from outfalls.types import Role

# Who decides what reconciliation left open, and may read any upload's report.
REVIEWER_ROLES: Final = (Role.ANALYST, Role.CASE_OFFICER, Role.REVIEWER)
MAP_POINTS: Final = 5000  # an upload's report maps at most this many of its outfalls


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One upload as listed."""

    id: int
    file_name: str | None
    actor: str
    received_at: datetime
    row_count: int
    accepted_count: int
    rejected_count: int


@dataclass(frozen=True, slots=True)
class BatchPoint:
    """An outfall of an upload, for its map."""

    id: int
    name: str
    status: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class BatchReport:
    """One upload: its row, the import report as stored (``ImportReport.as_dict``) and its outfalls in scope."""

    batch: BatchRow
    report: dict[str, Any]
    points: list[BatchPoint]


@dataclass(frozen=True, slots=True)
class MergeSide:
    """One outfall of a merge, as the confirmation shows it."""

    id: int
    version: int
    name: str
    national_code: str | None
    local_code: str | None
    status: str
    type_scheme: str
    type_code: str
    found_by: str
    found_on: date
    lon: float
    lat: float
    observation_count: int


@dataclass(frozen=True, slots=True)
class MergePair:
    """The outfall kept and the duplicate merged into it, and how far apart they are."""

    keep: MergeSide
    absorb: MergeSide
    distance_m: float


def _batch_row(b: ObservationBatch) -> BatchRow:
    return BatchRow(b.id, b.file_name, b.actor, b.received_at, b.row_count, b.accepted_count, b.rejected_count)


def list_batches(session: Session, *, actor: str, scope: Scope, limit: int = 100) -> list[BatchRow]:
    """The latest uploads, newest first: every upload for a national user, else only ``actor``'s own."""
    query = select(ObservationBatch).order_by(ObservationBatch.id.desc()).limit(limit)
    if not scope.is_national:
        query = query.where(ObservationBatch.actor == actor)
    return [_batch_row(b) for b in session.scalars(query)]


def batch_report(session: Session, batch_id: int, *, actor: str, roles: Collection[Role], scope: Scope) -> BatchReport:
    """One upload's report and the outfalls its rows ended up on (those in ``scope``), for the report page.

    National users read any upload; a regional user reads their own, and a regional reviewer also the uploads
    whose every row lies in their scope. Another area's upload is "not found", like an outfall outside the scope.

    Raises:
        NotFound: no such upload, or one the user may not read (the same message for both).
    """
    batch = session.get(ObservationBatch, batch_id)
    if batch is None or not _may_read(session, batch, actor=actor, roles=roles, scope=scope):
        raise NotFound("the upload does not exist", entity="batch", id=batch_id)
    ids = [int(i) for i in batch.report.get("outfall_ids", [])][:MAP_POINTS]
    rows = session.execute(select(Outfall.id, Outfall.name, Outfall.status, func.ST_X(Outfall.geom),
                                  func.ST_Y(Outfall.geom)).where(Outfall.id.in_(ids), *scope.conditions()))  # fmt: skip
    points = [BatchPoint(i, n, s.value, float(x), float(y)) for i, n, s, x, y in rows]
    return BatchReport(_batch_row(batch), dict(batch.report), points)


def _may_read(session: Session, batch: ObservationBatch, *, actor: str, roles: Collection[Role], scope: Scope) -> bool:
    if scope.is_national or batch.actor == actor:
        return True
    if not set(REVIEWER_ROLES) & set(roles):
        return False  # a regional crew member reads their own uploads only
    outside = select(Observation.id).where(Observation.batch_id == batch.id,
                                           not_(and_(true(), *within(Observation.geom, scope)))).limit(1)  # fmt: skip
    return session.scalar(outside) is None


def _side(session: Session, outfall_id: int) -> MergeSide:
    row = session.execute(
        select(Outfall, func.ST_X(Outfall.geom), func.ST_Y(Outfall.geom)).where(Outfall.id == outfall_id)
    ).one()
    o, lon, lat = row
    records = session.scalar(select(func.count()).select_from(ObservationLink).where(
        ObservationLink.outfall_id == outfall_id, ObservationLink.unlinked_at.is_(None)))  # fmt: skip
    return MergeSide(o.id, o.version, o.name, o.national_code, o.local_code, o.status.value, o.type_scheme,
                     o.type_code, o.found_by.value, o.found_on, float(lon), float(lat), int(records or 0))  # fmt: skip


def merge_pair(session: Session, keep_id: int, absorb_id: int, *, scope: Scope) -> MergePair:
    """The two outfalls of a proposed merge (``absorb_id`` into ``keep_id``) with their current versions.

    Raises:
        InvalidInput: the same outfall twice.
        NotFound: either outfall is missing or outside ``scope``.
    """
    if keep_id == absorb_id:
        raise InvalidInput("an outfall cannot be merged into itself", field="into_id", value=keep_id)
    require_visible(session, absorb_id, scope)
    require_visible(session, keep_id, scope)
    keep, absorb = _side(session, keep_id), _side(session, absorb_id)
    metres = session.scalar(
        select(func.ST_Distance(func.geography(Outfall.geom), func.geography(
            select(Outfall.geom).where(Outfall.id == absorb_id).scalar_subquery()))).where(Outfall.id == keep_id)
    )  # fmt: skip
    return MergePair(keep, absorb, round(float(metres or 0.0), 1))
