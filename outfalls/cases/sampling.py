"""Monitoring (监测): record a visit with its results as rows of parameter/value/unit/method, judge each
result against the outfall's applicable limit, and keep "dry" apart from "not yet sampled".

A visit is written together with its ``sampled`` event in one transaction, and is never edited.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from outfalls import clock
from outfalls.catalogue.lifecycle import record_event
from outfalls.errors import FieldError, InvalidInput, NotFound
from outfalls.models import MonitoringVisit, Outfall, Parameter, SampleResult, StandardLimit
from outfalls.scope import Scope, require_visible
from outfalls.types import DischargeState, EventKind, FlowState, SampleMethod


@dataclass(frozen=True, slots=True)
class ResultInput:
    """One measured value; ``value`` None with ``below_detection`` for a result under the detection limit."""

    parameter: str
    value: float | None
    unit: str
    method: SampleMethod = SampleMethod.FIELD_QUICK
    below_detection: bool = False
    detection_limit: float | None = None
    lab: str | None = None
    sampled_at: datetime | None = None
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VisitInput:
    """What a monitoring visit found."""

    visited_at: datetime
    discharge: DischargeState
    flow: FlowState = FlowState.NOT_MEASURED
    flow_m3s: float | None = None
    not_possible_reason: str | None = None
    colour: str | None = None
    turbidity: str | None = None
    odour: str | None = None
    oil_film: bool | None = None
    notes: str | None = None
    results: Sequence[ResultInput] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class MonitoringState:
    """The monitoring picture of an outfall for its page."""

    state: str  # not_sampled, sampled, dry, not_possible
    visits: list[MonitoringVisit]
    missing_mandatory: list[str]  # mandatory parameters never measured while discharging
    limit_standard: str | None
    limit_grade: str | None


def check_visit(visit: VisitInput, parameters: dict[str, Parameter]) -> list[FieldError]:
    """Every mistake in ``visit``, each with the field it concerns (``results[i].…`` for the i-th result)."""
    problems: list[FieldError] = []

    def problem(field: str, message: str, reason: str, **params: str | int | float) -> None:
        problems.append(FieldError(field, message, reason, params))

    if (wrong := clock.moment_problem(visit.visited_at, "the visit time")) is not None:
        problem("visited_at", *wrong)
    if visit.discharge is DischargeState.NOT_POSSIBLE and not (visit.not_possible_reason or "").strip():
        problem("not_possible_reason", "say why monitoring was not possible", "not_possible_reason")
    if visit.flow_m3s is not None and not math.isfinite(visit.flow_m3s):
        problem("flow_m3s", f"the flow must be a finite number, not {visit.flow_m3s}", "number")
    elif visit.flow is FlowState.MEASURED:
        if visit.flow_m3s is None or visit.flow_m3s < 0:
            problem("flow_m3s", "a measured flow needs a value of at least 0 m³/s", "flow_value")
    elif visit.flow_m3s is not None:
        problem("flow_m3s", "a flow value needs the flow state 'measured'", "flow_not_measured")
    if visit.discharge is not DischargeState.DISCHARGING and visit.results:
        problem(
            "results",
            f"an outfall found {visit.discharge.value} has no water to sample; record results only when it discharges",
            "no_water",
        )
    seen: set[tuple[str, SampleMethod]] = set()
    for i, r in enumerate(visit.results):
        where = f"results[{i}]"
        p = parameters.get(r.parameter)
        if p is None:
            problem(f"{where}.parameter", f"unknown parameter {r.parameter!r}", "choice")
            continue
        if r.unit != p.unit:
            problem(f"{where}.unit", f"{p.label_en} is recorded in {p.unit or 'no unit'}, not {r.unit!r}", "unit",
                    unit=p.unit)  # fmt: skip
        if (r.parameter, r.method) in seen:
            problem(f"{where}.parameter", f"{p.label_en} is given twice for the same method", "listed_twice")
        seen.add((r.parameter, r.method))
        # NaN passes every comparison with a range or a limit, so it would be stored as measured and within limits
        if r.value is not None and not math.isfinite(r.value):
            problem(f"{where}.value", f"{p.label_en}: {r.value} is not a measured value", "number")
            continue
        if r.detection_limit is not None and not math.isfinite(r.detection_limit):
            problem(f"{where}.detection_limit", f"{p.label_en}: {r.detection_limit} is not a detection limit",
                    "number")  # fmt: skip
            continue
        if r.below_detection:
            if r.value is not None or r.detection_limit is None:
                problem(f"{where}.detection_limit",
                        f"{p.label_en}: a result below detection has no value but a detection limit",
                        "below_detection")  # fmt: skip
        elif r.value is None:
            problem(f"{where}.value", f"{p.label_en}: a value is needed", "required")
        elif (p.min_valid is not None and r.value < p.min_valid) or (p.max_valid is not None and r.value > p.max_valid):
            low = "" if p.min_valid is None else f"{p.min_valid:g}"
            high = "" if p.max_valid is None else f"{p.max_valid:g}"
            problem(f"{where}.value", f"{p.label_en} {r.value:g} is outside {low}–{high}", "outside_range",
                    low=low, high=high)  # fmt: skip
        if r.method is SampleMethod.LAB and not (r.lab or "").strip():
            problem(f"{where}.lab", f"{p.label_en}: a laboratory result names the laboratory", "lab")
    return problems


def _judge(r: ResultInput, limit: StandardLimit | None) -> bool | None:
    if limit is None:
        return None
    if r.below_detection:
        return False
    value = r.value if r.value is not None else 0.0
    return (limit.max_value is not None and value > limit.max_value) or (
        limit.min_value is not None and value < limit.min_value
    )


def record_visit(
    session: Session, outfall_id: int, visit: VisitInput, *, actor: str, scope: Scope, expected_version: int
) -> MonitoringVisit:
    """Record a monitoring visit and its results with a ``sampled`` event in the same transaction.

    Raises:
        NotFound: no such outfall, or one outside ``scope``.
        StaleEdit: the outfall changed since ``expected_version``.
        InvalidTransition: the outfall no longer accepts monitoring (rejected, merged, closed).
        InvalidInput: bad values, each with the field it concerns (all at once, in ``field_errors``).
    """
    require_visible(session, outfall_id, scope)
    parameters = {p.code: p for p in session.scalars(select(Parameter))}
    problems = check_visit(visit, parameters)
    if problems:
        raise InvalidInput.of(problems)
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    limits = {
        lim.parameter: lim
        for lim in session.scalars(
            select(StandardLimit).where(
                StandardLimit.standard == outfall.limit_standard, StandardLimit.grade == outfall.limit_grade
            )
        )
    }
    judged = [(r, limits.get(r.parameter), _judge(r, limits.get(r.parameter))) for r in visit.results]
    over = [r.parameter for r, _lim, exceeds in judged if exceeds]
    payload: dict[str, object] = {
        "discharge": visit.discharge.value,
        "results": len(visit.results),
        "exceedances": over,
    }
    if visit.discharge is not DischargeState.NOT_POSSIBLE:  # unknown: the last known state stays
        payload["is_discharging"] = visit.discharge is DischargeState.DISCHARGING
    event = record_event(
        session, outfall_id, EventKind.SAMPLED, actor=actor, scope=scope, expected_version=expected_version,
        on=clock.day_of(visit.visited_at), payload=payload,
    )  # fmt: skip
    row = MonitoringVisit(
        outfall_id=outfall_id,
        event_id=event.id,
        visited_at=visit.visited_at,
        discharge=visit.discharge,
        not_possible_reason=(visit.not_possible_reason or "").strip() or None,
        flow=visit.flow,
        flow_m3s=visit.flow_m3s,
        colour=visit.colour,
        turbidity=visit.turbidity,
        odour=visit.odour,
        oil_film=visit.oil_film,
        limit_standard=outfall.limit_standard,
        limit_grade=outfall.limit_grade,
        exceedances=len(over),
        notes=visit.notes,
        actor=actor,
        results=[
            SampleResult(
                parameter=r.parameter,
                value=r.value,
                below_detection=r.below_detection,
                detection_limit=r.detection_limit,
                unit=r.unit,
                method=r.method,
                lab=r.lab,
                sampled_at=r.sampled_at or visit.visited_at,
                reported_at=r.reported_at,
                limit_min=lim.min_value if lim else None,
                limit_max=lim.max_value if lim else None,
                exceeds=exceeds,
            )
            for r, lim, exceeds in judged
        ],  # fmt: skip
    )
    session.add(row)
    flag = bool(over) if limits else None
    if visit.results and outfall.exceeds_limit is not flag:
        # The flag is part of the change the event records, which already stepped the version: set it without a
        # second step (an ORM change would bump ``version`` again and the event would name a version that never was).
        session.execute(update(Outfall).where(Outfall.id == outfall_id).values(exceeds_limit=flag)
                        .execution_options(synchronize_session=False))  # fmt: skip
        set_committed_value(outfall, "exceeds_limit", flag)
    session.flush()
    return row


def set_applicable_limit(
    session: Session,
    outfall_id: int,
    standard: str | None,
    grade: str | None,
    *,
    actor: str,
    scope: Scope,
    expected_version: int,
) -> Outfall:
    """Set (or clear, with None) the standard and grade the outfall's results are judged against.

    Raises:
        NotFound: no such outfall (in ``scope``).
        InvalidInput: an unknown standard or grade.
        StaleEdit: the outfall changed since ``expected_version``.
    """
    if (standard is None) != (grade is None):
        raise InvalidInput("give both the standard and the grade, or neither", field="grade")
    if (
        standard is not None
        and session.scalar(
            select(StandardLimit.id).where(StandardLimit.standard == standard, StandardLimit.grade == grade).limit(1)
        )
        is None
    ):
        raise InvalidInput(f"no limits for {standard} grade {grade}", field="grade", value=f"{standard}/{grade}")
    record_event(
        session, outfall_id, EventKind.ATTRIBUTES_CHANGED, actor=actor, scope=scope,
        expected_version=expected_version, payload={"limit_standard": standard, "limit_grade": grade},
    )  # fmt: skip
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:  # pragma: no cover - record_event found it
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    outfall.limit_standard, outfall.limit_grade = standard, grade
    session.flush()
    return outfall


def monitoring_state(session: Session, outfall_id: int, *, scope: Scope) -> MonitoringState:
    """Visits newest first, and whether the outfall was never sampled, sampled, or dry/impossible last time.

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    require_visible(session, outfall_id, scope)
    outfall = session.get(Outfall, outfall_id)
    if outfall is None:  # pragma: no cover - require_visible found it
        raise NotFound("outfall does not exist", entity="outfall", id=outfall_id)
    visits = list(
        session.scalars(
            select(MonitoringVisit)
            .where(MonitoringVisit.outfall_id == outfall_id)
            .order_by(MonitoringVisit.visited_at.desc(), MonitoringVisit.id.desc())
        )
    )
    if not visits:
        state = "not_sampled"
    elif visits[0].discharge is DischargeState.DISCHARGING:
        state = "sampled"
    else:
        state = visits[0].discharge.value  # dry or not_possible: distinct from never sampled
    measured = {r.parameter for v in visits for r in v.results}
    ever_discharging = any(v.discharge is DischargeState.DISCHARGING for v in visits)
    mandatory = [
        p.code for p in session.scalars(select(Parameter).where(Parameter.is_mandatory).order_by(Parameter.sort_order))
    ]
    missing = [code for code in mandatory if code not in measured] if ever_discharging else []
    return MonitoringState(state, visits, missing, outfall.limit_standard, outfall.limit_grade)


@dataclass(frozen=True, slots=True)
class StandardGrade:
    """A standard and grade that limits can be judged against."""

    standard: str
    grade: str
    label_zh: str
    label_en: str


def standards(session: Session) -> list[StandardGrade]:
    """Every standard and grade with limits, in a stable order."""
    rows = session.execute(
        select(StandardLimit.standard, StandardLimit.grade, StandardLimit.label_zh, StandardLimit.label_en)
        .distinct()
        .order_by(StandardLimit.standard, StandardLimit.grade)
    ).all()
    return [StandardGrade(*r) for r in rows]


def parameters(session: Session) -> list[Parameter]:
    """Monitored parameters, mandatory ones first."""
    return list(session.scalars(select(Parameter).order_by(Parameter.sort_order)))
