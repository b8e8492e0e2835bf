"""Raw observations: field records stored as received (original coordinates and CRS kept, geometry
normalised to CGCS2000), never edited; linking one to an outfall, or unlinking it, is an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.errors import Conflict, InvalidInput, NotFound, StaleEdit
from outfalls.geo import parse_crs, to_cgcs2000
from outfalls.models import Event, Observation, ObservationBatch, ObservationLink, Outfall
from outfalls.scope import Scope, require_visible
from outfalls.types import CGCS2000, EventKind, ObservationSource


@dataclass(frozen=True, slots=True)
class NewObservation:
    """A field record as received; ``x``/``y`` are in ``crs`` (easting/longitude first)."""

    client_id: str
    author: str
    x: float
    y: float
    crs: str
    source_kind: ObservationSource = ObservationSource.FOOT_SURVEY
    captured_at: datetime | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    is_demo: bool = False


def record_observation(
    session: Session, item: NewObservation, *, batch: ObservationBatch | None = None
) -> tuple[Observation, bool]:
    """Store a field record as received; a re-sent record (same source and client id) is not duplicated.

    Returns:
        The observation and whether it was created (False: it existed already).

    Raises:
        InvalidInput: an unknown CRS, or coordinates that are not valid in it.
        Conflict: the client id exists with different content.
    """
    if not item.client_id.strip():
        raise InvalidInput("a field record needs a client id", field="client_id")
    crs = parse_crs(item.crs)
    existing = session.scalar(
        select(Observation).where(Observation.source_kind == item.source_kind, Observation.client_id == item.client_id)
    )
    if existing is not None:
        same = (existing.orig_x, existing.orig_y, existing.orig_crs) == (item.x, item.y, crs) and dict(
            existing.attributes
        ) == dict(item.attributes)
        if not same:
            raise Conflict(
                f"record {item.client_id!r} was received before with different content; give it a new id",
                client_id=item.client_id,
            )
        return existing, False
    lon, lat = to_cgcs2000(item.x, item.y, crs)
    observation = Observation(
        batch=batch,
        source_kind=item.source_kind,
        client_id=item.client_id,
        author=item.author,
        captured_at=item.captured_at,
        orig_x=item.x,
        orig_y=item.y,
        orig_crs=crs,
        geom=f"SRID={CGCS2000};POINT({lon!r} {lat!r})",
        attributes=dict(item.attributes),
        is_demo=item.is_demo,
    )
    session.add(observation)
    session.flush()
    return observation, True


def _locked_outfall(session: Session, outfall_id: int, expected_version: int | None, scope: Scope) -> Outfall:
    require_visible(session, outfall_id, scope)
    outfall = session.get(Outfall, outfall_id, with_for_update=True)
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    if expected_version is not None and outfall.version != expected_version:
        raise StaleEdit(
            "the outfall was changed by someone else; reload it and try again", id=outfall_id, current=outfall.version
        )
    return outfall


def link_observation(
    session: Session,
    observation_id: int,
    outfall_id: int,
    *,
    actor: str,
    scope: Scope,
    expected_version: int | None = None,
    note: Mapping[str, Any] | None = None,
) -> ObservationLink:
    """Link a field record to the outfall it describes, with an event in the same transaction; ``note`` adds to
    the event's payload (how the link was decided).

    Raises:
        NotFound: no such observation or outfall (or one outside ``scope``).
        Conflict: the observation is already linked to an outfall.
        StaleEdit: the outfall changed since ``expected_version``.
    """
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise NotFound("observation does not exist", entity="observation", id=observation_id)
    outfall = _locked_outfall(session, outfall_id, expected_version, scope)
    current = session.scalar(
        select(ObservationLink).where(
            ObservationLink.observation_id == observation_id, ObservationLink.unlinked_at.is_(None)
        )
    )
    if current is not None:
        raise Conflict(
            f"the record is already linked to outfall {current.outfall_id}; unlink it first",
            observation=observation_id,
            outfall=current.outfall_id,
        )
    link = ObservationLink(observation_id=observation_id, outfall_id=outfall.id, linked_by=actor)
    session.add(link)
    session.add(
        Event(
            outfall_id=outfall.id,
            kind=EventKind.OBSERVATION_LINKED,
            payload={**(note or {}), "observation_id": observation_id, "client_id": observation.client_id},
            actor=actor,
        )
    )
    outfall.updated_at = datetime.now(UTC)  # bumps the version: the outfall's evidence changed
    session.flush()
    return link


def unlink_observation(
    session: Session,
    observation_id: int,
    *,
    actor: str,
    scope: Scope,
    reason: str,
    expected_version: int | None = None,
) -> ObservationLink:
    """End the current link of a field record (the link row keeps who and when), with an event.

    Raises:
        NotFound: the observation is not linked.
        InvalidInput: no reason given.
        StaleEdit: the outfall changed since ``expected_version``.
    """
    if not reason.strip():
        raise InvalidInput("say why the record is unlinked", field="reason")
    link = session.scalar(
        select(ObservationLink).where(
            ObservationLink.observation_id == observation_id, ObservationLink.unlinked_at.is_(None)
        )
    )
    if link is None:
        raise NotFound("the record is not linked to an outfall", entity="observation", id=observation_id)
    outfall = _locked_outfall(session, link.outfall_id, expected_version, scope)
    link.unlinked_at = datetime.now(UTC)
    link.unlinked_by = actor
    session.add(
        Event(
            outfall_id=outfall.id,
            kind=EventKind.OBSERVATION_UNLINKED,
            payload={"observation_id": observation_id, "reason": reason},
            actor=actor,
        )
    )
    outfall.updated_at = datetime.now(UTC)
    session.flush()
    return link
