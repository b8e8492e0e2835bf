"""Monitoring: visits with result rows, limits as data, dry versus not yet sampled, append-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.cases.sampling import ResultInput, VisitInput, monitoring_state, record_visit, set_applicable_limit
from outfalls.errors import InvalidInput, InvalidTransition, NotFound, StaleEdit
from outfalls.models import Event, MonitoringVisit, Parameter, StandardLimit
from outfalls.scope import Scope
from outfalls.types import DischargeState, EventKind, FlowState, SampleMethod

ALL = Scope.national()
WHEN = datetime(2023, 6, 1, 10, 30, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")
FIVE = [("ph", 7.4, ""), ("cod", 35.0, "mg/L"), ("nh3n", 0.8, "mg/L"), ("tn", 2.6, "mg/L"), ("tp", 0.15, "mg/L")]


def quick(values=FIVE) -> tuple[ResultInput, ...]:
    return tuple(ResultInput(p, v, unit) for p, v, unit in values)


def test_reference_parameters_and_limits_are_loaded(session: Session):
    mandatory = session.scalars(sa.select(Parameter.code).where(Parameter.is_mandatory).order_by(Parameter.sort_order))
    assert list(mandatory) == ["ph", "cod", "nh3n", "tn", "tp"]
    cod_iii = session.scalar(
        sa.select(StandardLimit).where(
            StandardLimit.standard == "GB3838-2002", StandardLimit.grade == "III", StandardLimit.parameter == "cod"
        )
    )
    assert cod_iii is not None and cod_iii.max_value == 20
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(StandardLimit).where(StandardLimit.standard == "GB18918-2002")
        )
        >= 18
    )


def test_a_visit_is_rows_plus_an_event_and_results_are_judged(session: Session, make_outfall):
    outfall = make_outfall()
    assert monitoring_state(session, outfall.id, scope=ALL).state == "not_sampled"
    set_applicable_limit(
        session, outfall.id, "GB3838-2002", "III", actor="officer", scope=ALL, expected_version=outfall.version
    )
    visit = record_visit(
        session,
        outfall.id,
        VisitInput(WHEN, DischargeState.DISCHARGING, FlowState.MEASURED, 0.012, results=quick()),
        actor="officer",
        scope=ALL,
        expected_version=outfall.version,
    )
    by = {r.parameter: r for r in visit.results}
    assert by["cod"].exceeds and by["tn"].exceeds and not by["ph"].exceeds and not by["nh3n"].exceeds
    assert by["cod"].limit_max == 20 and visit.exceedances == 2 and visit.limit_grade == "III"
    assert outfall.exceeds_limit is True and outfall.last_sampled_on == WHEN.date() and outfall.is_discharging
    event = session.get(Event, visit.event_id)
    assert event is not None and event.kind is EventKind.SAMPLED and event.payload["exceedances"] == ["cod", "tn"]
    state = monitoring_state(session, outfall.id, scope=ALL)
    assert state.state == "sampled" and state.missing_mandatory == [] and state.visits[0].id == visit.id


def test_dry_is_not_the_same_as_never_sampled(session: Session, make_outfall):
    outfall = make_outfall()
    record_visit(
        session,
        outfall.id,
        VisitInput(WHEN, DischargeState.DRY),
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
    )
    state = monitoring_state(session, outfall.id, scope=ALL)
    assert state.state == "dry" and outfall.is_discharging is False and outfall.last_sampled_on == WHEN.date()
    assert outfall.exceeds_limit is None  # nothing measured, nothing judged
    later = WHEN + timedelta(days=30)
    record_visit(
        session,
        outfall.id,
        VisitInput(later, DischargeState.NOT_POSSIBLE, not_possible_reason="水位过高"),
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
    )
    assert monitoring_state(session, outfall.id, scope=ALL).state == "not_possible"
    assert outfall.is_discharging is False  # unknown at the last visit: the last known state stays


def test_partial_results_report_missing_mandatory_parameters(session: Session, make_outfall):
    outfall = make_outfall()
    record_visit(
        session,
        outfall.id,
        VisitInput(WHEN, DischargeState.DISCHARGING, results=quick(FIVE[:2])),
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
    )
    state = monitoring_state(session, outfall.id, scope=ALL)
    assert state.missing_mandatory == ["nh3n", "tn", "tp"]
    assert outfall.exceeds_limit is None  # no applicable limit set: not judged


@pytest.mark.parametrize(
    ("visit", "field"),
    [
        (VisitInput(WHEN, DischargeState.NOT_POSSIBLE), "not_possible_reason"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, FlowState.MEASURED), "flow_m3s"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, FlowState.NOT_MEASURED, 0.3), "flow_m3s"),
        (VisitInput(WHEN, DischargeState.DRY, results=quick(FIVE[:1])), "results"),
        (VisitInput(WHEN.replace(tzinfo=None), DischargeState.DRY), "visited_at"),
        (VisitInput(datetime.now(UTC) + timedelta(days=2), DischargeState.DRY), "visited_at"),
        (
            VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("arsenic", 1, "mg/L"),)),
            "results[0].parameter",
        ),
        (VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("cod", 30, "g/L"),)), "results[0].unit"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("ph", 17, ""),)), "results[0].value"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("cod", None, "mg/L"),)), "results[0].value"),
        (
            VisitInput(
                WHEN, DischargeState.DISCHARGING, results=(ResultInput("tp", None, "mg/L", below_detection=True),)
            ),
            "results[0].detection_limit",
        ),
        (
            VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("cod", 30, "mg/L", SampleMethod.LAB),)),
            "results[0].lab",
        ),
        (
            VisitInput(WHEN, DischargeState.DISCHARGING, results=quick(FIVE[:1]) + quick(FIVE[:1])),
            "results[1].parameter",
        ),
        # numbers that are not finite are no measurement (and NaN passes every comparison with a limit)
        (VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("cod", NAN, "mg/L"),)), "results[0].value"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, results=(ResultInput("ph", INF, ""),)), "results[0].value"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, FlowState.MEASURED, NAN), "flow_m3s"),
        (VisitInput(WHEN, DischargeState.DISCHARGING, FlowState.MEASURED, INF), "flow_m3s"),
        (
            VisitInput(
                WHEN,
                DischargeState.DISCHARGING,
                results=(ResultInput("tp", None, "mg/L", below_detection=True, detection_limit=NAN),),
            ),
            "results[0].detection_limit",
        ),
    ],
)
def test_bad_visits_are_refused_and_write_nothing(session: Session, make_outfall, visit, field):
    outfall = make_outfall()
    before = session.scalar(sa.select(sa.func.count()).select_from(Event))
    with pytest.raises(InvalidInput) as info:
        record_visit(session, outfall.id, visit, actor="o", scope=ALL, expected_version=outfall.version)
    assert info.value.params["field"] == field
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == before
    assert monitoring_state(session, outfall.id, scope=ALL).state == "not_sampled"


def test_a_visit_that_changes_the_over_limit_flag_is_one_event_and_one_version(session: Session, make_outfall):
    outfall = make_outfall()
    set_applicable_limit(session, outfall.id, "GB3838-2002", "III", actor="o", scope=ALL,
                         expected_version=outfall.version)  # fmt: skip
    for values, flag in ((FIVE, True), ([("cod", 12.0, "mg/L")], False), ([("cod", 12.0, "mg/L")], False)):
        before = outfall.version
        visit = record_visit(session, outfall.id, VisitInput(WHEN, DischargeState.DISCHARGING, results=quick(values)),
                             actor="o", scope=ALL, expected_version=before)  # fmt: skip
        session.refresh(outfall)
        event = session.get(Event, visit.event_id)
        assert outfall.exceeds_limit is flag
        assert outfall.version == before + 1 and event is not None and event.outfall_version == outfall.version


def test_every_mistake_of_a_visit_is_reported_at_once(session: Session, make_outfall):
    outfall = make_outfall()
    visit = VisitInput(WHEN, DischargeState.NOT_POSSIBLE, FlowState.NOT_MEASURED, 0.3,
                       results=(ResultInput("ph", 17, ""), ResultInput("cod", 30, "g/L")))  # fmt: skip
    with pytest.raises(InvalidInput) as info:
        record_visit(session, outfall.id, visit, actor="o", scope=ALL, expected_version=outfall.version)
    assert [(e.field, e.reason) for e in info.value.field_errors] == [
        ("not_possible_reason", "not_possible_reason"), ("flow_m3s", "flow_not_measured"), ("results", "no_water"),
        ("results[0].value", "outside_range"), ("results[1].unit", "unit"),
    ]  # fmt: skip
    assert info.value.field_errors[3].params == {"low": "0", "high": "14"}


def test_below_detection_and_lab_results(session: Session, make_outfall):
    outfall = make_outfall()
    set_applicable_limit(
        session, outfall.id, "GB3838-2002", "II", actor="o", scope=ALL, expected_version=outfall.version
    )
    results = (
        ResultInput(
            "tp",
            None,
            "mg/L",
            SampleMethod.LAB,
            below_detection=True,
            detection_limit=0.01,
            lab="省环境监测中心站",
            reported_at=WHEN + timedelta(days=5),
        ),
        ResultInput("cod", 12.0, "mg/L", SampleMethod.LAB, lab="省环境监测中心站"),
        ResultInput("cod", 14.0, "mg/L", SampleMethod.FIELD_QUICK),
    )
    visit = record_visit(
        session,
        outfall.id,
        VisitInput(WHEN, DischargeState.DISCHARGING, results=results),
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
    )
    assert [r.exceeds for r in visit.results] == [False, False, False] and outfall.exceeds_limit is False


def test_limits_scope_staleness_and_transitions(session: Session, make_outfall):
    outfall = make_outfall()
    with pytest.raises(InvalidInput, match="no limits"):
        set_applicable_limit(
            session, outfall.id, "GB3838-2002", "VI", actor="o", scope=ALL, expected_version=outfall.version
        )
    with pytest.raises(InvalidInput, match="both"):
        set_applicable_limit(
            session, outfall.id, "GB3838-2002", None, actor="o", scope=ALL, expected_version=outfall.version
        )
    with pytest.raises(StaleEdit):
        record_visit(
            session,
            outfall.id,
            VisitInput(WHEN, DischargeState.DRY),
            actor="o",
            scope=ALL,
            expected_version=outfall.version + 5,
        )
    with pytest.raises(NotFound):
        record_visit(
            session,
            outfall.id,
            VisitInput(WHEN, DischargeState.DRY),
            actor="o",
            scope=Scope(area_codes=("610902",)),
            expected_version=outfall.version,
        )
    from outfalls.catalogue.lifecycle import record_event

    record_event(
        session, outfall.id, EventKind.MERGED, actor="o", scope=ALL, expected_version=outfall.version, on=WHEN.date()
    )
    with pytest.raises(InvalidTransition):
        record_visit(
            session,
            outfall.id,
            VisitInput(WHEN, DischargeState.DRY),
            actor="o",
            scope=ALL,
            expected_version=outfall.version,
        )


def test_visits_and_results_are_append_only(session: Session, make_outfall):
    outfall = make_outfall()
    visit = record_visit(
        session,
        outfall.id,
        VisitInput(WHEN, DischargeState.DISCHARGING, results=quick()),
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
    )
    for sql in (
        "UPDATE sample_results SET value = 1 WHERE visit_id = :id",
        "DELETE FROM monitoring_visits WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(sa.text(sql), {"id": visit.id})
    assert session.get(MonitoringVisit, visit.id) is not None


def test_demo_catalogue_has_visits_behind_its_sampled_events(session: Session):
    from outfalls.demo import seed_demo

    seed_demo(session, yellow=60, handan=40, seed=5)
    sampled = session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.kind == EventKind.SAMPLED))
    visits = session.scalar(sa.select(sa.func.count()).select_from(MonitoringVisit))
    assert sampled and visits == sampled
    orphans = session.scalar(
        sa.select(sa.func.count())
        .select_from(Event)
        .outerjoin(MonitoringVisit, MonitoringVisit.event_id == Event.id)
        .where(Event.kind == EventKind.SAMPLED, MonitoringVisit.id.is_(None))
    )
    assert orphans == 0
    from outfalls.models import Outfall

    for outfall in session.scalars(sa.select(Outfall).where(Outfall.last_sampled_on.is_not(None))):
        state = monitoring_state(session, outfall.id, scope=ALL)
        assert state.state in ("sampled", "dry") and state.limit_grade in ("III", "IV")
        latest_judged = next((v for v in state.visits if v.results), None)
        if latest_judged is not None:
            assert outfall.exceeds_limit == any(r.exceeds for r in latest_judged.results)


def test_a_visit_late_in_the_evening_utc_counts_on_the_programme_s_day(session: Session, make_outfall):
    """01:30 in the programme's zone is still the evening before in UTC: the visit's day is the programme's."""
    outfall = make_outfall()
    late = datetime(2023, 6, 1, 17, 30, tzinfo=UTC)
    visit = record_visit(session, outfall.id, VisitInput(late, DischargeState.DRY), actor="o", scope=ALL,
                         expected_version=outfall.version)  # fmt: skip
    event = session.get_one(Event, visit.event_id)
    assert clock.day_of(event.effective_at) == clock.day_of(late) == datetime(2023, 6, 2).date()
    assert outfall.last_sampled_on == datetime(2023, 6, 2).date()
