"""Remediation and gated closing out (销号): plans, progress, completion with evidence, acceptance by another."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outfalls.cases.remediation import (
    PlanInput,
    accept_and_close,
    closing_gaps,
    complete_remediation,
    plan_remediation,
    record_progress,
    remediation_history,
)
from outfalls.cases.sampling import ResultInput, VisitInput, record_visit
from outfalls.cases.tracing import PartyInput, TraceInput, record_trace
from outfalls.errors import InvalidInput, InvalidTransition, NotFound
from outfalls.models import Event, RemediationRecord
from outfalls.scope import Scope
from outfalls.store import FileStore, attach_file
from outfalls.types import DischargeState, EventKind, OutfallStatus, RemediationCategory, TraceMethod

ALL = Scope.national()


def traced(session: Session, make_outfall):
    outfall = make_outfall()
    record_trace(
        session,
        outfall.id,
        TraceInput(
            datetime(2023, 3, 1, tzinfo=UTC),
            TraceMethod.ON_SITE,
            (PartyInput("示例厂", is_main=True),),
            sewage_source="生产废水",
        ),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    return outfall


def photo(session: Session, outfall, tmp_path: Path) -> int:
    store = FileStore(tmp_path / "store")
    return attach_file(
        session,
        store,
        io.BytesIO(b"\xff\xd8 after the works"),
        name="after.jpg",
        kind="photo",
        actor="a",
        scope=ALL,
        outfall_id=outfall.id,
    ).id


def test_a_full_case_from_plan_to_closed(session: Session, make_outfall, tmp_path: Path):
    outfall = traced(session, make_outfall)
    plan = PlanInput(
        RemediationCategory.STANDARDISE,
        date(2023, 4, 1),
        measures="规范化改造，设置采样井和标识牌",
        responsible_party="示例厂",
        deadline=date(2023, 10, 31),
    )
    plan_remediation(session, outfall.id, plan, actor="a", scope=ALL, expected_version=outfall.version)
    assert (
        outfall.status is OutfallStatus.REMEDIATING and outfall.remediation_category is RemediationCategory.STANDARDISE
    )
    assert closing_gaps(session, outfall.id, scope=ALL).missing == ["completion", "followup_sample"]
    record_progress(
        session,
        outfall.id,
        date(2023, 6, 1),
        50,
        "采样井已建成",
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    evidence = photo(session, outfall, tmp_path)
    complete_remediation(
        session,
        outfall.id,
        date(2023, 9, 1),
        evidence=[evidence],
        note="完工",
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    assert outfall.status is OutfallStatus.REMEDIATED
    assert closing_gaps(session, outfall.id, scope=ALL).missing == ["followup_sample"]
    record_visit(
        session,
        outfall.id,
        VisitInput(
            datetime(2023, 9, 15, tzinfo=UTC), DischargeState.DISCHARGING, results=(ResultInput("cod", 18, "mg/L"),)
        ),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    with pytest.raises(InvalidTransition, match="acceptance_by_other"):
        accept_and_close(
            session, outfall.id, date(2023, 9, 20), note=None, actor="a", scope=ALL, expected_version=outfall.version
        )
    accept_and_close(
        session, outfall.id, date(2023, 9, 20), note="验收合格", actor="b", scope=ALL, expected_version=outfall.version
    )
    assert outfall.status is OutfallStatus.CLOSED
    steps = [r.step.value for r in remediation_history(session, outfall.id, scope=ALL)]
    assert steps == ["plan", "progress", "completion", "acceptance"]
    kinds = session.scalars(sa.select(Event.kind).where(Event.outfall_id == outfall.id).order_by(Event.id)).all()
    assert kinds[-5:] == [
        EventKind.REMEDIATION_PLANNED,
        EventKind.REMEDIATION_PROGRESS,
        EventKind.REMEDIATED,
        EventKind.SAMPLED,
        EventKind.CLOSED,
    ]


def test_closing_an_untraced_outfall_is_refused(session: Session, make_outfall):
    outfall = make_outfall()  # surveyed, never traced
    plan_remediation(
        session,
        outfall.id,
        PlanInput(RemediationCategory.NONE_NEEDED, date(2023, 4, 1), reason="已无排水且已封堵"),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    complete_remediation(
        session,
        outfall.id,
        date(2023, 4, 2),
        evidence=[],
        note=None,
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    assert closing_gaps(session, outfall.id, scope=ALL).missing == ["traced"]
    with pytest.raises(InvalidTransition, match="traced"):
        accept_and_close(
            session, outfall.id, date(2023, 4, 3), note=None, actor="b", scope=ALL, expected_version=outfall.version
        )
    assert outfall.status is OutfallStatus.REMEDIATED


def test_a_merge_names_the_receiving_outfall_and_links_it_on_closing(session: Session, make_outfall, tmp_path):
    receiving = make_outfall(lonlat=(108.95, 34.40))
    outfall = traced(session, make_outfall)
    with pytest.raises(InvalidInput, match="takes the discharge"):
        plan_remediation(
            session,
            outfall.id,
            PlanInput(RemediationCategory.MERGE, date(2023, 4, 1), measures="接管"),
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(InvalidInput, match="itself"):
        plan_remediation(
            session,
            outfall.id,
            PlanInput(RemediationCategory.MERGE, date(2023, 4, 1), measures="接管", merge_into_id=outfall.id),
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(NotFound):
        plan_remediation(
            session,
            outfall.id,
            PlanInput(RemediationCategory.MERGE, date(2023, 4, 1), measures="接管", merge_into_id=receiving.id),
            actor="a",
            scope=Scope(area_codes=("610902",)),
            expected_version=outfall.version,
        )
    plan_remediation(
        session,
        outfall.id,
        PlanInput(RemediationCategory.MERGE, date(2023, 4, 1), measures="接入市政管网", merge_into_id=receiving.id),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    complete_remediation(
        session,
        outfall.id,
        date(2023, 5, 1),
        evidence=[photo(session, outfall, tmp_path)],
        note=None,
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    accept_and_close(
        session, outfall.id, date(2023, 5, 2), note=None, actor="b", scope=ALL, expected_version=outfall.version
    )
    assert outfall.status is OutfallStatus.CLOSED and outfall.merged_into_id == receiving.id


def test_steps_out_of_order_or_without_evidence(session: Session, make_outfall, tmp_path):
    outfall = traced(session, make_outfall)
    other = make_outfall(lonlat=(108.95, 34.40))
    with pytest.raises(InvalidTransition):
        complete_remediation(
            session,
            outfall.id,
            date(2023, 4, 2),
            evidence=[],
            note=None,
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(InvalidTransition):
        record_progress(
            session, outfall.id, date(2023, 4, 2), 10, "x", actor="a", scope=ALL, expected_version=outfall.version
        )
    with pytest.raises(InvalidInput, match="measures"):
        plan_remediation(
            session,
            outfall.id,
            PlanInput(RemediationCategory.BAN, date(2023, 4, 1)),
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(InvalidInput, match="deadline"):
        plan_remediation(
            session,
            outfall.id,
            PlanInput(RemediationCategory.BAN, date(2023, 4, 1), measures="封堵", deadline=date(2023, 3, 1)),
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    plan_remediation(
        session,
        outfall.id,
        PlanInput(RemediationCategory.BAN, date(2023, 4, 1), measures="封堵"),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    with pytest.raises(InvalidInput, match="between 0 and 100"):
        record_progress(
            session, outfall.id, date(2023, 4, 2), 120, "x", actor="a", scope=ALL, expected_version=outfall.version
        )
    with pytest.raises(InvalidInput, match="not evidence of this outfall"):
        complete_remediation(
            session,
            outfall.id,
            date(2023, 5, 1),
            evidence=[photo(session, other, tmp_path)],
            note=None,
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    complete_remediation(
        session,
        outfall.id,
        date(2023, 5, 1),
        evidence=[],
        note=None,
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    assert closing_gaps(session, outfall.id, scope=ALL, acceptor="b").missing == ["completion_evidence"]
    with pytest.raises(InvalidTransition, match="completion_evidence"):
        accept_and_close(
            session, outfall.id, date(2023, 5, 2), note=None, actor="b", scope=ALL, expected_version=outfall.version
        )


def test_remediation_records_are_append_only(session: Session, make_outfall):
    outfall = traced(session, make_outfall)
    record = plan_remediation(
        session,
        outfall.id,
        PlanInput(RemediationCategory.BAN, date(2023, 4, 1), measures="封堵"),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("UPDATE remediation_records SET measures = 'x' WHERE id = :id"), {"id": record.id})
    assert session.get(RemediationRecord, record.id) is not None


def test_demo_catalogue_has_remediation_records_behind_its_events(session: Session):
    from outfalls.demo import seed_demo

    seed_demo(session, yellow=60, handan=40, seed=5)
    kinds = [EventKind.REMEDIATION_PLANNED, EventKind.REMEDIATED, EventKind.CLOSED]
    orphans = session.scalar(
        sa.select(sa.func.count())
        .select_from(Event)
        .outerjoin(RemediationRecord, RemediationRecord.event_id == Event.id)
        .where(Event.kind.in_(kinds), RemediationRecord.id.is_(None))
    )
    planned = session.scalar(
        sa.select(sa.func.count())
        .select_from(RemediationRecord)
        .where(RemediationRecord.step == "plan", RemediationRecord.measures.is_not(None))
    )
    assert orphans == 0 and planned
