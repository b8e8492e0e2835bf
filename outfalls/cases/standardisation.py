"""规范化建设 (HJ 1309-2023): sampling point, inspection well, sign board, video/online monitoring and archive for
an outfall that is kept. Each check is an append-only record with its event; the latest per item is current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.errors import InvalidInput
from outfalls.models import Attachment, StandardisationCheck
from outfalls.scope import Scope, require_visible
from outfalls.types import EventKind, StandardisationItem


@dataclass(frozen=True, slots=True)
class ChecklistLine:
    """The current state of one checklist item."""

    item: StandardisationItem
    is_done: bool
    on: date | None
    actor: str | None
    evidence: list[int]


def record_check(
    session: Session, outfall_id: int, item: StandardisationItem, is_done: bool, on: date, *,
    evidence: Sequence[int] = (), note: str | None = None, actor: str, scope: Scope, expected_version: int,
) -> StandardisationCheck:  # fmt: skip
    """Record the state of one checklist item, with its event in the same transaction.

    Raises:
        NotFound: no such outfall (in ``scope``).
        StaleEdit: the outfall changed since ``expected_version``.
        InvalidTransition: a candidate, rejected or merged outfall (the checklist is for outfalls that stay).
        InvalidInput: a future date, or evidence that is not this outfall's.
    """
    require_visible(session, outfall_id, scope)
    if on > clock.today():
        raise InvalidInput("the date is in the future", field="on", reason="future")
    owned = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(list(evidence)),
                                                             Attachment.outfall_id == outfall_id)))  # fmt: skip
    stray = [a for a in evidence if a not in owned]
    if stray:
        raise InvalidInput(f"attachment {stray[0]} is not evidence of this outfall", field="evidence", value=stray[0],
                           reason="stray_evidence")  # fmt: skip
    event = record_event(
        session, outfall_id, EventKind.STANDARDISATION_CHECKED, actor=actor, scope=scope,
        expected_version=expected_version, on=on, payload={"item": item.value, "done": is_done},
    )  # fmt: skip
    check = StandardisationCheck(outfall_id=outfall_id, event_id=event.id, item=item, is_done=is_done, on=on,
                                 evidence=list(evidence), note=(note or "").strip() or None, actor=actor)  # fmt: skip
    session.add(check)
    session.flush()
    return check


def checklist(session: Session, outfall_id: int, *, scope: Scope) -> list[ChecklistLine]:
    """Every checklist item with its latest check (not done when never checked).

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    require_visible(session, outfall_id, scope)
    latest: dict[StandardisationItem, StandardisationCheck] = {}
    for check in session.scalars(
        select(StandardisationCheck)
        .where(StandardisationCheck.outfall_id == outfall_id)
        .order_by(StandardisationCheck.on, StandardisationCheck.id)
    ):
        latest[check.item] = check
    lines = []
    for item in StandardisationItem:
        c = latest.get(item)
        lines.append(
            ChecklistLine(
                item,
                c.is_done if c else False,
                c.on if c else None,
                c.actor if c else None,
                list(c.evidence) if c else [],
            )  # fmt: skip
        )
    return lines
