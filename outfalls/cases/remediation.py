"""Remediation (整治) and closing out (销号), one outfall one plan (一口一策).

A plan names the category (ban, merge into another outfall, bring up to standard, or no remediation needed with
a reason), measures, responsible party and deadline; progress updates follow; completion carries its evidence;
closing is gated by the category's rule (data in ``closing_rules``): traced, completion evidence, a follow-up
sample after completion, and acceptance by someone other than who completed it. Every step is an append-only
record written with its event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.errors import FieldError, InvalidInput, InvalidTransition, NotFound
from outfalls.models import Attachment, ClosingRule, Event, MonitoringVisit, Outfall, RemediationRecord
from outfalls.scope import Scope, require_visible
from outfalls.types import (
    DischargeState,
    EventKind,
    OutfallStatus,
    RemediationCategory,
    RemediationStep,
)


@dataclass(frozen=True, slots=True)
class PlanInput:
    """A remediation plan."""

    category: RemediationCategory
    on: date
    measures: str | None = None
    responsible_party: str | None = None
    deadline: date | None = None
    is_quick_fix: bool = False
    merge_into_id: int | None = None
    reason: str | None = None  # why no remediation is needed


@dataclass(frozen=True, slots=True)
class CaseGaps:
    """What closing out still needs (empty ``missing`` means it can be closed)."""

    category: RemediationCategory | None
    missing: list[str] = field(default_factory=list)


def _records(session: Session, outfall_id: int) -> list[RemediationRecord]:
    return list(
        session.scalars(
            select(RemediationRecord)
            .where(RemediationRecord.outfall_id == outfall_id)
            .order_by(RemediationRecord.on, RemediationRecord.id)
        )
    )


def _latest(records: Sequence[RemediationRecord], step: RemediationStep) -> RemediationRecord | None:
    return next((r for r in reversed(records) if r.step is step), None)


def _outfall(session: Session, outfall_id: int, scope: Scope) -> Outfall:
    require_visible(session, outfall_id, scope)
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:  # pragma: no cover - require_visible found it
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    return outfall


def _future(day: date, name: str) -> list[FieldError]:
    """A day after today, as a mistake in ``name`` (none otherwise)."""
    return [FieldError(name, f"{name} is in the future", "future")] if day > clock.today() else []


def _check_day(day: date, name: str) -> None:
    problems = _future(day, name)
    if problems:
        raise InvalidInput.of(problems)


def plan_remediation(
    session: Session, outfall_id: int, plan: PlanInput, *, actor: str, scope: Scope, expected_version: int
) -> RemediationRecord:
    """Record the remediation plan (the outfall becomes ``remediating``).

    Raises:
        NotFound: no such outfall (in ``scope``), or no such receiving outfall for a merge.
        InvalidInput: a missing measure, reason, deadline before the plan, or a merge into itself.
        InvalidTransition: the outfall is not surveyed or traced (e.g. already remediated or closed).
        StaleEdit: the outfall changed since ``expected_version``.
    """
    _outfall(session, outfall_id, scope)
    problems = _future(plan.on, "on")
    if plan.category is RemediationCategory.NONE_NEEDED:
        if not (plan.reason or "").strip():
            problems.append(FieldError("reason", "say why no remediation is needed", "no_remediation_reason"))
    elif not (plan.measures or "").strip():
        problems.append(FieldError("measures", "a remediation plan lists its measures", "measures"))
    if plan.deadline is not None and plan.deadline < plan.on:
        problems.append(FieldError("deadline", "the deadline is before the plan", "deadline_before_plan"))
    if plan.category is RemediationCategory.MERGE:
        if plan.merge_into_id is None:
            problems.append(FieldError("merge_into_id", "a merge names the outfall that takes the discharge",
                                       "merge_target"))  # fmt: skip
        elif plan.merge_into_id == outfall_id:
            problems.append(FieldError("merge_into_id", "an outfall cannot be merged into itself", "merge_itself"))
    elif plan.merge_into_id is not None:
        problems.append(FieldError("merge_into_id", "only a merge names a receiving outfall", "merge_only"))
    if problems:
        raise InvalidInput.of(problems)
    if plan.merge_into_id is not None:
        require_visible(session, plan.merge_into_id, scope)
    event = record_event(
        session, outfall_id, EventKind.REMEDIATION_PLANNED, actor=actor, scope=scope,
        expected_version=expected_version, on=plan.on,
        payload={"category": plan.category.value, "deadline": plan.deadline.isoformat() if plan.deadline else None,
                 "merge_into_id": plan.merge_into_id, "quick_fix": plan.is_quick_fix},
    )  # fmt: skip
    record = RemediationRecord(
        outfall_id=outfall_id, event_id=event.id, step=RemediationStep.PLAN, on=plan.on, category=plan.category,
        measures=(plan.measures or plan.reason or "").strip() or None,
        responsible_party=(plan.responsible_party or "").strip() or None, deadline=plan.deadline,
        is_quick_fix=plan.is_quick_fix, merge_into_id=plan.merge_into_id, actor=actor,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


def record_progress(
    session: Session, outfall_id: int, on: date, progress_pct: int, note: str, *, actor: str, scope: Scope,
    expected_version: int,
) -> RemediationRecord:  # fmt: skip
    """Record progress on the works (0–100 %).

    Raises:
        NotFound, StaleEdit, InvalidTransition (not remediating), InvalidInput (a bad percentage or no note).
    """
    _outfall(session, outfall_id, scope)
    problems = _future(on, "on")
    if not 0 <= progress_pct <= 100:
        problems.append(FieldError("progress_pct", "progress is between 0 and 100 %", "percent"))
    if not note.strip():
        problems.append(FieldError("note", "say what was done", "what_was_done"))
    if problems:
        raise InvalidInput.of(problems)
    event = record_event(
        session, outfall_id, EventKind.REMEDIATION_PROGRESS, actor=actor, scope=scope,
        expected_version=expected_version, on=on, payload={"progress_pct": progress_pct},
    )  # fmt: skip
    record = RemediationRecord(outfall_id=outfall_id, event_id=event.id, step=RemediationStep.PROGRESS, on=on,
                               progress_pct=progress_pct, note=note.strip(), actor=actor)  # fmt: skip
    session.add(record)
    session.flush()
    return record


def complete_remediation(
    session: Session, outfall_id: int, on: date, *, evidence: Sequence[int], note: str | None, actor: str,
    scope: Scope, expected_version: int,
) -> RemediationRecord:  # fmt: skip
    """Record that the works are done, with evidence (attachments of this outfall).

    Raises:
        NotFound, StaleEdit; InvalidTransition (no plan, or not remediating); InvalidInput (evidence that is not
        this outfall's, or a date before the plan).
    """
    _outfall(session, outfall_id, scope)
    _check_day(on, "on")
    plan = _latest(_records(session, outfall_id), RemediationStep.PLAN)
    if plan is None:
        raise InvalidTransition("there is no remediation plan to complete")
    if on < plan.on:
        raise InvalidInput("completion is dated before the plan", field="on", reason="before_plan")
    owned = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(list(evidence)),
                                                             Attachment.outfall_id == outfall_id)))  # fmt: skip
    stray = [a for a in evidence if a not in owned]
    if stray:
        raise InvalidInput(f"attachment {stray[0]} is not evidence of this outfall", field="evidence", value=stray[0],
                           reason="stray_evidence")  # fmt: skip
    event = record_event(
        session, outfall_id, EventKind.REMEDIATED, actor=actor, scope=scope, expected_version=expected_version,
        on=on, payload={"category": plan.category.value if plan.category else None, "evidence": list(evidence)},
    )  # fmt: skip
    record = RemediationRecord(outfall_id=outfall_id, event_id=event.id, step=RemediationStep.COMPLETION, on=on,
                               category=plan.category, evidence=list(evidence), note=(note or "").strip() or None,
                               actor=actor)  # fmt: skip
    session.add(record)
    session.flush()
    return record


def closing_gaps(session: Session, outfall_id: int, *, scope: Scope, acceptor: str | None = None) -> CaseGaps:
    """What closing out still needs under the category's rule ("traced", "completion", "completion_evidence",
    "followup_sample", "acceptance_by_other").

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    outfall = _outfall(session, outfall_id, scope)
    records = _records(session, outfall_id)
    plan = _latest(records, RemediationStep.PLAN)
    if plan is None or plan.category is None:
        return CaseGaps(None, ["plan"])
    rule = session.get(ClosingRule, plan.category)
    missing: list[str] = []
    completion = _latest(records, RemediationStep.COMPLETION)
    traced = session.scalar(
        select(Event.id).where(Event.outfall_id == outfall_id, Event.kind == EventKind.TRACED).limit(1)
    )
    if (rule is None or rule.needs_traced) and traced is None:
        missing.append("traced")
    if completion is None or outfall.status is not OutfallStatus.REMEDIATED:
        missing.append("completion")
    elif rule is None or rule.needs_completion_evidence:
        if not completion.evidence:
            missing.append("completion_evidence")
    if rule is not None and rule.needs_followup_sample:
        sampled = None
        if completion is not None:  # a sample of running water taken on or after the completion day
            since = clock.start_of_day(completion.on)
            sampled = session.scalar(
                select(MonitoringVisit.id)
                .where(
                    MonitoringVisit.outfall_id == outfall_id,
                    MonitoringVisit.discharge == DischargeState.DISCHARGING,
                    MonitoringVisit.visited_at >= since,
                )
                .limit(1)
            )
        if sampled is None:
            missing.append("followup_sample")
    if (rule is None or rule.needs_acceptance) and completion is not None and acceptor is not None:
        if acceptor == completion.actor:
            missing.append("acceptance_by_other")
    return CaseGaps(plan.category, missing)


def accept_and_close(
    session: Session, outfall_id: int, on: date, *, note: str | None, actor: str, scope: Scope,
    expected_version: int,
) -> RemediationRecord:  # fmt: skip
    """Accept the completed remediation and close the outfall out (销号) when nothing is missing.

    Raises:
        InvalidTransition: the gate is not met; the message lists what is missing.
        NotFound, StaleEdit.
    """
    gaps = closing_gaps(session, outfall_id, scope=scope, acceptor=actor)
    if gaps.missing:
        raise InvalidTransition(f"closing out needs: {', '.join(gaps.missing)}", missing=",".join(gaps.missing))
    _check_day(on, "on")
    plan = _latest(_records(session, outfall_id), RemediationStep.PLAN)
    event = record_event(  # a merge ends with the outfall pointing at the one that takes its discharge
        session, outfall_id, EventKind.CLOSED, actor=actor, scope=scope, expected_version=expected_version, on=on,
        payload={"category": gaps.category.value if gaps.category else None,
                 "merge_into_id": plan.merge_into_id if plan is not None else None},
    )  # fmt: skip
    record = RemediationRecord(outfall_id=outfall_id, event_id=event.id, step=RemediationStep.ACCEPTANCE, on=on,
                               category=gaps.category, note=(note or "").strip() or None, actor=actor)  # fmt: skip
    session.add(record)
    session.flush()
    return record


def remediation_history(session: Session, outfall_id: int, *, scope: Scope) -> list[RemediationRecord]:
    """Remediation records of an outfall in order (plan, progress, completion, acceptance).

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    _outfall(session, outfall_id, scope)
    return _records(session, outfall_id)
