"""Bulk work on cases: assignment, deadlines and remediation categories for a selection, with a result per
outfall and nothing changed for the refused ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls.cases.assignment import assign_cases, set_categories, set_deadlines
from outfalls.cases.remediation import PlanInput
from outfalls.catalogue.lifecycle import CaseState, HistoryItem, record_event, state_as_of
from outfalls.errors import InvalidInput
from outfalls.models import Event, Outfall, User
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus, RemediationCategory, SurveyLevel

ALL = Scope.national()
HANBIN = (109.03, 32.69)  # Ankang, Hanbin district: outside Xi'an


def _events(session: Session, outfall_id: int, kind: EventKind) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.outfall_id == outfall_id, Event.kind == kind)))


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user("officer_xian", roles=("case_officer",), areas=("610100",))


def test_assign_many_writes_one_event_each_and_reports_every_outfall(
    session: Session, make_outfall: Callable[..., Outfall], officer: User
) -> None:
    a, b, c = make_outfall(), make_outfall(), make_outfall()
    report = assign_cases(session, [a.id, b.id, c.id, a.id], "officer_xian", actor="lead", scope=ALL,
                          on=date(2023, 3, 1))  # fmt: skip

    assert [r.outfall_id for r in report.results] == [a.id, b.id, c.id]  # duplicates count once
    assert report.changed == 3 and not report.refused
    for o in (a, b, c):
        session.refresh(o)
        assert o.assigned_to == "officer_xian" and o.version == 2
        [event] = _events(session, o.id, EventKind.ASSIGNED)
        assert event.payload == {"officer": "officer_xian", "previous": None}
        assert event.actor == "lead" and event.outfall_version == 2
        assert event.effective_at.date() == date(2023, 3, 1)
    assert [r.version for r in report.results] == [2, 2, 2]


def test_refused_outfalls_are_reported_and_left_unchanged(
    session: Session, make_outfall: Callable[..., Outfall], make_user: Callable[..., User], officer: User
) -> None:
    ok = make_outfall()
    stale = make_outfall()
    closed = make_outfall(found_by=SurveyLevel.DRONE, history=(HistoryItem(EventKind.REJECTED, date(2022, 6, 1)),))
    far = make_outfall(lonlat=HANBIN)
    already = make_outfall()
    assign_cases(session, [already.id], "officer_xian", actor="lead", scope=ALL)
    record_event(session, stale.id, EventKind.TRACED, actor="x", scope=ALL, expected_version=1)
    session.refresh(already)

    report = assign_cases(
        session, [ok.id, stale.id, closed.id, far.id, already.id, 99_999_999], "officer_xian", actor="lead",
        scope=ALL, expected_versions={ok.id: 1, stale.id: 1, already.id: already.version},
    )  # fmt: skip

    codes = {r.outfall_id: (r.ok, r.code) for r in report.results}
    assert codes == {
        ok.id: (True, None),
        stale.id: (False, "stale_edit"),
        closed.id: (False, "invalid_transition"),
        far.id: (False, "outside_officer_scope"),
        already.id: (True, "unchanged"),
        99_999_999: (False, "not_found"),
    }
    assert report.changed == 1 and len(report.refused) == 4
    assert "610100" in next(r.message for r in report.results if r.code == "outside_officer_scope")
    for o in (stale, closed, far):
        session.refresh(o)
        assert o.assigned_to is None and not _events(session, o.id, EventKind.ASSIGNED)
    assert len(_events(session, already.id, EventKind.ASSIGNED)) == 1  # "unchanged" writes no event


def test_the_caller_only_reaches_outfalls_in_scope(
    session: Session, make_outfall: Callable[..., Outfall], officer: User
) -> None:
    far = make_outfall(lonlat=HANBIN)
    xian = Scope(area_codes=("610100",))
    report = assign_cases(session, [far.id], "officer_xian", actor="lead", scope=xian)
    assert report.results[0].code == "not_found"  # out of the caller's scope is "not found", as everywhere


def test_a_category_for_outfalls_outside_the_scope_reveals_nothing_of_them(
    session: Session, make_outfall: Callable[..., Outfall]
) -> None:
    traced = (HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "某厂"}),)
    far = make_outfall(lonlat=HANBIN, history=traced)
    mine = make_outfall(history=traced)
    xian = Scope(area_codes=("610100",))
    plan = PlanInput(RemediationCategory.BAN, date(2023, 2, 1), measures="封堵排口")
    far_version, mine_version = far.version, mine.version
    report = set_categories(session, [far.id, mine.id], plan, actor="lead", scope=xian)
    assert [(r.ok, r.code, r.version) for r in report.results] == [
        (False, "not_found", None), (True, None, mine_version + 1)]  # fmt: skip
    assert report.results[0].message == "outfall does not exist"  # as if it did not exist, like the other actions
    session.refresh(far)
    assert far.remediation_category is None and far.version == far_version


def test_the_officer_must_be_an_active_case_officer(
    session: Session, make_outfall: Callable[..., Outfall], make_user: Callable[..., User]
) -> None:
    o = make_outfall()
    make_user("boss", roles=("leader",))
    events = session.scalar(select(func.count()).select_from(Event))
    for login, words in (("boss", "not a case officer"), ("nobody", "not an active user")):
        with pytest.raises(InvalidInput, match=words):
            assign_cases(session, [o.id], login, actor="lead", scope=ALL)
    with pytest.raises(InvalidInput, match="at least one"):
        assign_cases(session, [], None, actor="lead", scope=ALL)
    assert session.scalar(select(func.count()).select_from(Event)) == events


def test_unassigning_records_the_previous_officer(
    session: Session, make_outfall: Callable[..., Outfall], officer: User
) -> None:
    o = make_outfall()
    assign_cases(session, [o.id], "officer_xian", actor="lead", scope=ALL)
    report = assign_cases(session, [o.id], None, actor="lead", scope=ALL)
    assert report.changed == 1
    session.refresh(o)
    assert o.assigned_to is None
    assert _events(session, o.id, EventKind.ASSIGNED)[-1].payload == {"officer": None, "previous": "officer_xian"}


def test_deadlines_are_set_and_cleared_and_never_in_the_past(
    session: Session, make_outfall: Callable[..., Outfall]
) -> None:
    a, b = make_outfall(), make_outfall()
    report = set_deadlines(session, [a.id, b.id], date(2024, 6, 30), actor="lead", scope=ALL, on=date(2024, 1, 2))
    assert report.changed == 2
    session.refresh(a)
    assert a.case_deadline == date(2024, 6, 30)
    assert _events(session, a.id, EventKind.DEADLINE_SET)[0].payload == {"deadline": "2024-06-30", "previous": None}
    with pytest.raises(InvalidInput, match="before"):
        set_deadlines(session, [a.id], date(2023, 12, 31), actor="lead", scope=ALL, on=date(2024, 1, 2))
    set_deadlines(session, [a.id], None, actor="lead", scope=ALL)
    session.refresh(a)
    assert a.case_deadline is None
    assert state_as_of(session, a.id, date(2024, 1, 2), scope=ALL).case_deadline == date(2024, 6, 30)


def test_the_same_category_for_a_selection_goes_through_the_case_rules(
    session: Session, make_outfall: Callable[..., Outfall]
) -> None:
    traced = make_outfall(history=(HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "某厂"}),))
    surveyed = make_outfall()
    closed = make_outfall(found_by=SurveyLevel.DRONE, history=(HistoryItem(EventKind.REJECTED, date(2022, 6, 1)),))
    plan = PlanInput(RemediationCategory.BAN, date(2023, 2, 1), measures="封堵排口")

    report = set_categories(session, [traced.id, surveyed.id, closed.id], plan, actor="lead", scope=ALL)

    assert [(r.ok, r.code) for r in report.results] == [(True, None), (True, None), (False, "invalid_transition")]
    session.refresh(traced)
    session.refresh(closed)
    assert traced.remediation_category is RemediationCategory.BAN and traced.status is OutfallStatus.REMEDIATING
    assert closed.status is OutfallStatus.REJECTED and closed.remediation_category is None
    with pytest.raises(InvalidInput, match="merge"):
        set_categories(session, [traced.id], PlanInput(RemediationCategory.MERGE, date(2023, 2, 1), measures="x"),
                       actor="lead", scope=ALL)  # fmt: skip


def test_replayed_state_includes_assignment_and_deadline(
    session: Session, make_outfall: Callable[..., Outfall], officer: User
) -> None:
    o = make_outfall()
    assign_cases(session, [o.id], "officer_xian", actor="lead", scope=ALL, on=date(2023, 1, 5))
    set_deadlines(session, [o.id], date(2023, 9, 30), actor="lead", scope=ALL, on=date(2023, 1, 6))
    session.refresh(o)
    assert state_as_of(session, o.id, scope=ALL) == CaseState.of(o)
    before = state_as_of(session, o.id, date(2023, 1, 5), scope=ALL)
    assert before is not None and before.assigned_to == "officer_xian" and before.case_deadline is None


def test_a_selection_larger_than_the_parameter_limit(
    session: Session, make_outfall: Callable[..., Outfall], officer: User
) -> None:
    real = make_outfall()
    ids = [real.id, *range(10_000_000, 10_070_000)]  # 70,001 ids: more than one statement's 65,535 parameters
    report = assign_cases(session, ids, "officer_xian", actor="lead", scope=ALL)
    assert report.changed == 1 and len(report.refused) == 70_000
    assert {r.code for r in report.refused} == {"not_found"}
