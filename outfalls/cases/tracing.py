"""Source tracing (溯源): record the sources and responsible parties behind an outfall, with exactly one main
responsible party or, when none can be found, the local government (政府兜底) with the reason.

"Traced" is a rule the programme configures (``[tracing] traced_requires``); by default the main responsible
party is determined (the government default counts) and the sewage source is recorded. A tracing that meets it
moves a surveyed outfall to ``traced``; one that does not is kept as a ``trace_updated`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.coding import is_valid_credit_code
from outfalls.errors import FieldError, InvalidInput, InvalidTransition, NotFound
from outfalls.models import Attachment, Outfall, TraceParty, TraceRecord
from outfalls.scope import Scope, require_visible
from outfalls.types import EventKind, OutfallStatus, TraceMethod

RULE_ITEMS = ("main_party", "source", "method_evidence")
DEFAULT_RULE = ("main_party", "source")


@dataclass(frozen=True, slots=True)
class PartyInput:
    """A source or responsible party."""

    name: str
    credit_code: str | None = None
    industry: str | None = None
    description: str | None = None
    share_pct: float | None = None
    is_main: bool = False


@dataclass(frozen=True, slots=True)
class TraceInput:
    """What a tracing found."""

    traced_on: datetime
    method: TraceMethod
    parties: Sequence[PartyInput] = field(default_factory=tuple)
    technique: str | None = None
    sewage_source: str | None = None
    use_status: str | None = None
    environmental_risk: str | None = None
    government_default: bool = False
    government_reason: str | None = None
    notes: str | None = None


def missing_for_traced(trace: TraceInput, rule: Sequence[str] = DEFAULT_RULE) -> list[str]:
    """What ``trace`` lacks to count as traced under ``rule`` (empty when it counts)."""
    missing = []
    if "main_party" in rule and not any(p.is_main for p in trace.parties):
        missing.append("main_party")
    if "source" in rule and not (trace.sewage_source or "").strip():
        missing.append("source")
    if "method_evidence" in rule and trace.method is TraceMethod.TECHNICAL and not (trace.technique or "").strip():
        missing.append("method_evidence")
    return missing


def _clean(text: str | None) -> str | None:
    return (text or "").strip() or None


def check_trace(trace: TraceInput) -> list[FieldError]:
    """Every mistake in ``trace``, each with the field it concerns (``parties[i].…`` for the i-th party)."""
    problems: list[FieldError] = []

    def problem(field: str, message: str, reason: str, **params: str | int | float) -> None:
        problems.append(FieldError(field, message, reason, params))

    if (wrong := clock.moment_problem(trace.traced_on, "the tracing time")) is not None:
        problem("traced_on", *wrong)
    if trace.method is TraceMethod.TECHNICAL and not _clean(trace.technique):
        problem("technique", "technical tracing names the technique (pipe robot, dye, fingerprint …)", "technique")
    names = set()
    for i, p in enumerate(trace.parties):
        where = f"parties[{i}]"
        if not _clean(p.name):
            problem(f"{where}.name", "a party needs a name", "required")
        elif p.name.strip() in names:
            problem(f"{where}.name", f"{p.name.strip()} is listed twice", "listed_twice")
        names.add(p.name.strip())
        if p.credit_code and not is_valid_credit_code(p.credit_code):
            problem(
                f"{where}.credit_code",
                f"{p.credit_code!r} is not a valid unified social credit code (18 characters, GB 32100-2015)",
                "credit_code",
            )
        if p.share_pct is not None and not 0 <= p.share_pct <= 100:
            problem(f"{where}.share_pct", "a share is between 0 and 100 %", "percent")
    if sum(p.share_pct or 0 for p in trace.parties if 0 <= (p.share_pct or 0) <= 100) > 100.0001:
        problem("parties", "the shares add up to more than 100 %", "shares_over_100")
    mains = [p for p in trace.parties if p.is_main]
    if len(mains) > 1:
        problem("parties", "only one party can be the main responsible party", "one_main_party")
    if trace.parties and not mains:
        problem("parties", "mark one party as the main responsible party", "main_party")
    if trace.government_default:
        if not _clean(trace.government_reason):
            problem("government_reason", "say why no responsible party could be determined", "government_reason")
        if len(trace.parties) != 1:
            problem(
                "parties",
                "with the government default, the one party is the local government that answers for the outfall",
                "government_party",
            )
    return problems


def record_trace(
    session: Session,
    outfall_id: int,
    trace: TraceInput,
    *,
    actor: str,
    scope: Scope,
    expected_version: int,
    rule: Sequence[str] = DEFAULT_RULE,
) -> TraceRecord:
    """Record a tracing result with its event in the same transaction.

    Raises:
        NotFound: no such outfall (in ``scope``).
        StaleEdit: the outfall changed since ``expected_version``.
        InvalidTransition: a candidate not yet verified on site, or an outfall that is rejected, merged or closed.
        InvalidInput: inconsistent parties, an invalid credit code, a missing reason, an unknown rule item (every
            mistake of ``trace`` at once, in ``field_errors``).
    """
    unknown = [item for item in rule if item not in RULE_ITEMS]
    if unknown:
        raise InvalidInput(f"unknown tracing rule item {unknown[0]!r}", field="traced_requires")
    require_visible(session, outfall_id, scope)
    problems = check_trace(trace)
    if problems:
        raise InvalidInput.of(problems)
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:  # pragma: no cover - require_visible found it
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    if outfall.status is OutfallStatus.CANDIDATE:
        raise InvalidTransition("verify the candidate on site before tracing it", status=outfall.status.value)
    missing = missing_for_traced(trace, rule)
    main = next((p for p in trace.parties if p.is_main), None)
    complete = not missing
    kind = (
        EventKind.TRACED
        if complete and outfall.status in (OutfallStatus.SURVEYED, OutfallStatus.TRACED)
        else EventKind.TRACE_UPDATED
    )
    payload: dict[str, object] = {"method": trace.method.value, "complete": complete, "missing": missing,
                                  "government_default": trace.government_default}  # fmt: skip
    if main is not None:
        payload["responsible_party"] = main.name.strip()
    event = record_event(
        session, outfall_id, kind, actor=actor, scope=scope, expected_version=expected_version,
        on=clock.day_of(trace.traced_on), payload=payload,
    )  # fmt: skip
    record = TraceRecord(
        outfall_id=outfall_id,
        event_id=event.id,
        traced_on=trace.traced_on,
        method=trace.method,
        technique=_clean(trace.technique),
        sewage_source=_clean(trace.sewage_source),
        use_status=_clean(trace.use_status),
        environmental_risk=_clean(trace.environmental_risk),
        is_government_default=trace.government_default,
        government_reason=_clean(trace.government_reason),
        is_complete=complete,
        notes=_clean(trace.notes),
        actor=actor,
        parties=[
            TraceParty(
                name=p.name.strip(),
                credit_code=(p.credit_code or "").strip().upper() or None,
                industry=_clean(p.industry),
                description=_clean(p.description),
                share_pct=p.share_pct,
                is_main=p.is_main,
            )
            for p in trace.parties
        ],  # fmt: skip
    )
    session.add(record)
    session.flush()
    return record


def trace_history(session: Session, outfall_id: int, *, scope: Scope) -> list[TraceRecord]:
    """Tracing records of an outfall, newest first (the first is the current finding).

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    require_visible(session, outfall_id, scope)
    return list(
        session.scalars(
            select(TraceRecord)
            .where(TraceRecord.outfall_id == outfall_id)
            .order_by(TraceRecord.traced_on.desc(), TraceRecord.id.desc())
        )
    )


def evidence_of(session: Session, records: Sequence[TraceRecord]) -> dict[int, list[int]]:
    """The ids of the files stored as evidence of each tracing (by its event id), in upload order."""
    by_event: dict[int, list[int]] = {r.event_id: [] for r in records}
    if by_event:
        rows = session.execute(
            select(Attachment.event_id, Attachment.id)
            .where(Attachment.event_id.in_(list(by_event)))
            .order_by(Attachment.id)
        )
        for event_id, attachment_id in rows:
            if event_id is not None:  # always: the query asks for these events only
                by_event[event_id].append(attachment_id)
    return by_event
