"""规范化建设 checklist: latest check per item, append-only, kept up after closing out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.cases.standardisation import checklist, record_check
from outfalls.errors import InvalidInput, InvalidTransition, NotFound
from outfalls.scope import Scope
from outfalls.types import StandardisationItem, SurveyLevel

ALL = Scope.national()


def test_latest_check_per_item_is_current(session: Session, make_outfall):
    outfall = make_outfall()
    assert [line.is_done for line in checklist(session, outfall.id, scope=ALL)] == [False] * 5
    record_check(
        session,
        outfall.id,
        StandardisationItem.SIGN_BOARD,
        True,
        date(2023, 5, 1),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    record_check(
        session,
        outfall.id,
        StandardisationItem.SAMPLING_POINT,
        True,
        date(2023, 5, 2),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    record_check(
        session,
        outfall.id,
        StandardisationItem.SIGN_BOARD,
        False,
        date(2023, 7, 1),
        note="标识牌损坏",
        actor="b",
        scope=ALL,
        expected_version=outfall.version,
    )
    lines = {line.item: line for line in checklist(session, outfall.id, scope=ALL)}
    assert lines[StandardisationItem.SAMPLING_POINT].is_done
    assert not lines[StandardisationItem.SIGN_BOARD].is_done and lines[StandardisationItem.SIGN_BOARD].actor == "b"
    assert [line.item for line in checklist(session, outfall.id, scope=ALL)] == list(StandardisationItem)


def test_refusals(session: Session, make_outfall):
    candidate = make_outfall(found_by=SurveyLevel.DRONE)
    with pytest.raises(InvalidTransition):
        record_check(
            session,
            candidate.id,
            StandardisationItem.ARCHIVE,
            True,
            date(2023, 5, 1),
            actor="a",
            scope=ALL,
            expected_version=candidate.version,
        )
    outfall = make_outfall()
    with pytest.raises(InvalidInput, match="future"):
        record_check(
            session,
            outfall.id,
            StandardisationItem.ARCHIVE,
            True,
            date(2999, 1, 1),
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(InvalidInput, match="not evidence"):
        record_check(
            session,
            outfall.id,
            StandardisationItem.ARCHIVE,
            True,
            date(2023, 5, 1),
            evidence=[999999],
            actor="a",
            scope=ALL,
            expected_version=outfall.version,
        )
    with pytest.raises(NotFound):
        record_check(
            session,
            outfall.id,
            StandardisationItem.ARCHIVE,
            True,
            date(2023, 5, 1),
            actor="a",
            scope=Scope(area_codes=("610902",)),
            expected_version=outfall.version,
        )
    check = record_check(
        session,
        outfall.id,
        StandardisationItem.ARCHIVE,
        True,
        date(2023, 5, 1),
        actor="a",
        scope=ALL,
        expected_version=outfall.version,
    )
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("UPDATE standardisation_checks SET is_done = false WHERE id = :id"), {"id": check.id})


def test_checklist_on_the_page(make_outfall, make_user, login_as):
    outfall = make_outfall()
    client = login_as(make_user("officer", roles=("case_officer",), areas=("610100",)))
    saved = client.post(
        f"/outfalls/{outfall.id}/standardisation",
        data={
            "item": "inspection_well",
            "is_done": "on",
            "on": "2023-05-01",
            "version": outfall.version,
            "csrf_token": client.csrf,
        },
    )
    assert saved.status_code == 302
    page = client.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert 'class="done"><span class="mark">✓</span> 检查井' in page
    bad = client.post(
        f"/outfalls/{outfall.id}/standardisation",
        data={"item": "", "on": "2023-05-01", "version": outfall.version, "csrf_token": client.csrf},
    )
    assert bad.status_code == 422


def test_the_programme_s_today_is_not_the_future_at_any_hour(session: Session, make_outfall):
    """From 16:00 UTC the programme's day is already the next UTC day: that day is today, not the future."""
    outfall = make_outfall()
    record_check(session, outfall.id, StandardisationItem.SIGN_BOARD, True, clock.today(), actor="a", scope=ALL,
                 expected_version=outfall.version)  # fmt: skip
    with pytest.raises(InvalidInput, match="future"):
        record_check(session, outfall.id, StandardisationItem.ARCHIVE, True, clock.today() + timedelta(days=1),
                     actor="a", scope=ALL, expected_version=outfall.version)  # fmt: skip
