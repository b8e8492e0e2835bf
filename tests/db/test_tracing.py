"""Source tracing: one main responsible party, the government default, the configurable traced rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.cases.tracing import PartyInput, TraceInput, missing_for_traced, record_trace, trace_history
from outfalls.errors import InvalidInput, InvalidTransition, NotFound
from outfalls.models import Event, TraceRecord
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, SurveyLevel, TraceMethod

ALL = Scope.national()
WHEN = datetime(2023, 8, 1, 9, 0, tzinfo=UTC)
PLANT = PartyInput("示例食品有限公司", "91110000802100433B", "农副食品加工业", "生产废水", 70, is_main=True)
HOMES = PartyInput("周边居民生活污水", None, None, "生活污水散排", 30)


def trace(**kw) -> TraceInput:
    values = {
        "traced_on": WHEN,
        "method": TraceMethod.ON_SITE,
        "parties": (PLANT, HOMES),
        "sewage_source": "工业废水与生活污水混合",
    }
    return TraceInput(**(values | kw))


def test_a_complete_trace_makes_the_outfall_traced(session: Session, make_outfall):
    outfall = make_outfall()
    record = record_trace(session, outfall.id, trace(), actor="officer", scope=ALL, expected_version=outfall.version)
    assert record.is_complete and [p.is_main for p in record.parties] == [True, False]
    assert record.parties[0].credit_code == "91110000802100433B"
    assert outfall.status is OutfallStatus.TRACED and outfall.responsible_party == "示例食品有限公司"
    event = session.get(Event, record.event_id)
    assert event is not None and event.kind is EventKind.TRACED and event.payload["complete"] is True


def test_an_incomplete_trace_is_kept_without_changing_the_state(session: Session, make_outfall):
    outfall = make_outfall()
    partial = trace(sewage_source=None)
    assert missing_for_traced(partial) == ["source"]
    record = record_trace(session, outfall.id, partial, actor="o", scope=ALL, expected_version=outfall.version)
    assert not record.is_complete and outfall.status is OutfallStatus.SURVEYED
    assert session.get(Event, record.event_id).kind is EventKind.TRACE_UPDATED
    assert outfall.responsible_party == "示例食品有限公司"
    # a programme that does not require the source counts the same finding as traced
    record_trace(
        session, outfall.id, partial, actor="o", scope=ALL, expected_version=outfall.version, rule=("main_party",)
    )
    assert outfall.status is OutfallStatus.TRACED
    history = trace_history(session, outfall.id, scope=ALL)
    assert [r.is_complete for r in history] == [True, False]


def test_government_default(session: Session, make_outfall):
    outfall = make_outfall()
    gov = PartyInput("西安市未央区人民政府", is_main=True)
    with pytest.raises(InvalidInput, match="why"):
        record_trace(
            session,
            outfall.id,
            trace(parties=(gov,), government_default=True),
            actor="o",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(InvalidInput, match="local government"):
        record_trace(
            session,
            outfall.id,
            trace(parties=(gov, HOMES), government_default=True, government_reason="无法确定排放单位"),
            actor="o",
            scope=ALL,
            expected_version=outfall.version,
        )
    record = record_trace(
        session,
        outfall.id,
        trace(parties=(gov,), government_default=True, government_reason="管网错接混接，排放单位无法确定"),
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
    )
    assert record.is_government_default and outfall.status is OutfallStatus.TRACED
    assert outfall.responsible_party == "西安市未央区人民政府"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parties": (PartyInput("A", is_main=True), PartyInput("B", is_main=True))}, "parties"),
        ({"parties": (PartyInput("A"), PartyInput("B"))}, "parties"),
        ({"parties": (PartyInput("A", is_main=True), PartyInput("A"))}, "parties[1].name"),
        ({"parties": (PartyInput(" ", is_main=True),)}, "parties[0].name"),
        ({"parties": (PartyInput("A", "91110000802100433C", is_main=True),)}, "parties[0].credit_code"),
        ({"parties": (PartyInput("A", share_pct=120, is_main=True),)}, "parties[0].share_pct"),
        ({"parties": (PartyInput("A", share_pct=60, is_main=True), PartyInput("B", share_pct=50))}, "parties"),
        ({"method": TraceMethod.TECHNICAL}, "technique"),
        ({"traced_on": WHEN.replace(tzinfo=None)}, "traced_on"),
        ({"traced_on": datetime.now(UTC) + timedelta(days=1)}, "traced_on"),
    ],
)
def test_inconsistent_traces_are_refused_and_write_nothing(session: Session, make_outfall, change, field):
    outfall = make_outfall()
    before = session.scalar(sa.select(sa.func.count()).select_from(Event))
    with pytest.raises(InvalidInput) as info:
        record_trace(session, outfall.id, trace(**change), actor="o", scope=ALL, expected_version=outfall.version)
    assert info.value.params["field"] == field
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == before


def test_every_mistake_of_a_trace_is_reported_at_once(session: Session, make_outfall):
    outfall = make_outfall()
    bad = trace(
        method=TraceMethod.TECHNICAL, technique=None,
        parties=(PartyInput("A", "123", share_pct=120), PartyInput("A")),
    )  # fmt: skip
    with pytest.raises(InvalidInput) as info:
        record_trace(session, outfall.id, bad, actor="o", scope=ALL, expected_version=outfall.version)
    found = {(e.field, e.reason) for e in info.value.field_errors}
    assert found == {
        ("technique", "technique"), ("parties[0].credit_code", "credit_code"), ("parties[0].share_pct", "percent"),
        ("parties[1].name", "listed_twice"), ("parties", "main_party"),
    }  # fmt: skip
    assert info.value.params["field"] == "technique" and "and 4 more" in info.value.message


def test_states_scope_and_rules(session: Session, make_outfall):
    candidate = make_outfall(found_by=SurveyLevel.DRONE)
    with pytest.raises(InvalidTransition, match="verify"):
        record_trace(session, candidate.id, trace(), actor="o", scope=ALL, expected_version=candidate.version)
    outfall = make_outfall()
    with pytest.raises(NotFound):
        record_trace(
            session,
            outfall.id,
            trace(),
            actor="o",
            scope=Scope(area_codes=("610902",)),
            expected_version=outfall.version,
        )
    with pytest.raises(InvalidInput, match="rule"):
        record_trace(
            session, outfall.id, trace(), actor="o", scope=ALL, expected_version=outfall.version, rule=("paperwork",)
        )
    from outfalls.catalogue.lifecycle import record_event

    record_event(
        session,
        outfall.id,
        EventKind.REMEDIATION_PLANNED,
        actor="o",
        scope=ALL,
        expected_version=outfall.version,
        payload={"category": "merge"},
    )
    later = record_trace(session, outfall.id, trace(), actor="o", scope=ALL, expected_version=outfall.version)
    assert session.get(Event, later.event_id).kind is EventKind.TRACE_UPDATED  # no step back from remediating
    assert outfall.status is OutfallStatus.REMEDIATING


def test_trace_records_are_append_only(session: Session, make_outfall):
    outfall = make_outfall()
    record = record_trace(session, outfall.id, trace(), actor="o", scope=ALL, expected_version=outfall.version)
    for sql in ("UPDATE trace_parties SET name = 'x' WHERE trace_id = :id", "DELETE FROM trace_records WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(sa.text(sql), {"id": record.id})
    assert session.get(TraceRecord, record.id) is not None


def test_demo_catalogue_has_trace_records_behind_its_traced_events(session: Session):
    from outfalls.coding import is_valid_credit_code
    from outfalls.demo import seed_demo
    from outfalls.models import TraceParty

    seed_demo(session, yellow=60, handan=40, seed=5)
    traced = session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.kind == EventKind.TRACED))
    orphans = session.scalar(
        sa.select(sa.func.count())
        .select_from(Event)
        .outerjoin(TraceRecord, TraceRecord.event_id == Event.id)
        .where(Event.kind == EventKind.TRACED, TraceRecord.id.is_(None))
    )
    assert traced and orphans == 0
    for record in session.scalars(sa.select(TraceRecord)):
        assert sum(p.is_main for p in record.parties) == 1
        assert record.is_government_default == (record.parties[0].credit_code is None)
    codes = session.scalars(sa.select(TraceParty.credit_code).where(TraceParty.credit_code.is_not(None))).all()
    assert codes and all(is_valid_credit_code(c) for c in codes)


def test_a_trace_late_in_the_evening_utc_counts_on_the_programme_s_day(session: Session, make_outfall):
    outfall = make_outfall()
    late = datetime(2023, 8, 1, 18, 0, tzinfo=UTC)  # 02:00 on 2 August in the programme's zone
    record = record_trace(session, outfall.id, trace(traced_on=late), actor="officer", scope=ALL,
                          expected_version=outfall.version)  # fmt: skip
    event = session.get_one(Event, record.event_id)
    assert clock.day_of(event.effective_at) == clock.day_of(late) == datetime(2023, 8, 2).date()
