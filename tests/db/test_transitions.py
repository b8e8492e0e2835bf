"""The one event → state rule: the SQL that registers, progress and the milestone trigger use is generated from
``transitions.TRANSITIONS``, and the functions installed in the database are those it generates today."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from outfalls.catalogue import transitions
from outfalls.catalogue.transitions import STAGES, TRANSITIONS, next_status
from outfalls.errors import ConfigError, InvalidTransition
from outfalls.types import EventKind, OutfallStatus


def _installed(session: Session, name: str) -> str:
    return session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}) or ""


def test_the_installed_milestone_functions_are_the_generated_ones(session: Session) -> None:
    # a change of TRANSITIONS fails here until a migration installs the newly generated functions
    assert _installed(session, "outfall_milestones_from_events").strip() == transitions.milestone_trigger_sql().strip()
    assert _installed(session, "outfall_event_rank").strip() == transitions.rank_function_sql().strip()


@pytest.mark.parametrize("kind", list(EventKind))
def test_the_sql_state_of_an_event_is_the_python_one(session: Session, kind: EventKind) -> None:
    payload = {"status": "traced", "restore_status": "surveyed"}
    sql = transitions.state_of_event_sql("CAST(:kind AS text)", "CAST(:payload AS jsonb)")
    in_sql = session.scalar(text(f"SELECT {sql}"), {"kind": kind.value, "payload": '{"status": "traced", '
                                                    '"restore_status": "surveyed"}'})  # fmt: skip
    if kind is EventKind.CREATED:
        assert in_sql == "traced"
        return
    expected = None
    for status in OutfallStatus:
        try:
            after = next_status(status, kind, payload)
        except InvalidTransition:
            continue
        if kind is EventKind.SPLIT or TRANSITIONS.get(kind, (None, None))[1] is not None:
            expected = after.value
    assert in_sql == expected


@pytest.mark.parametrize("kind", list(EventKind))
def test_the_rank_of_an_event_is_its_stage_on_the_ladder(session: Session, kind: EventKind) -> None:
    rank = session.scalar(text("SELECT outfall_event_rank(:k, '{}'::jsonb)"), {"k": kind.value})
    after = TRANSITIONS.get(kind, (None, None))[1]
    if kind is EventKind.CREATED:
        assert rank == STAGES.index(OutfallStatus.SURVEYED)  # an outfall is created surveyed unless told
    else:
        assert rank == (STAGES.index(after) if after in STAGES else None)


def test_a_zone_too_far_from_utc_is_refused() -> None:
    from outfalls.clock import zone_named

    assert zone_named("Asia/Urumqi").key == "Asia/Urumqi"
    with pytest.raises(ConfigError, match="within 11 hours"):
        zone_named("Pacific/Kiritimati")  # UTC+14: local noon is the previous UTC day
    with pytest.raises(ConfigError, match="unknown time zone"):
        zone_named("Mars/Olympus")
