"""Property: any sequence of valid operations leaves the denormalised state equal to the state replayed from
the events, and the replay as of each operation's day gives the state of that moment."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from outfalls.cases.assignment import assign_cases, set_deadlines
from outfalls.cases.remediation import PlanInput, accept_and_close, complete_remediation, plan_remediation
from outfalls.cases.sampling import VisitInput, record_visit
from outfalls.cases.tracing import PartyInput, TraceInput, record_trace
from outfalls.catalogue.lifecycle import CaseState, record_event, state_as_of, status_as_of
from outfalls.errors import InvalidInput, InvalidTransition
from outfalls.scope import Scope
from outfalls.types import DischargeState, EventKind, RemediationCategory, SurveyLevel, TraceMethod

ALL = Scope.national()


def test_random_operation_sequences_replay_to_the_same_state(session: Session, make_outfall, make_user):
    make_user("officer", roles=("case_officer",))
    rng = random.Random(20231231)
    finals: set[str] = set()
    for n in range(12):
        outfall = make_outfall(found_by=rng.choice([SurveyLevel.DRONE, SurveyLevel.FOOT]), found_on=date(2021, 1, 1))
        day = date(2021, 1, 1)
        seen: list[tuple[date, str]] = [(day, outfall.status.value)]
        for _step in range(rng.randrange(3, 12)):
            day += timedelta(days=rng.randrange(1, 40))
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=3)
            op = rng.choice(
                ["survey", "reject", "visit", "trace", "plan", "complete", "close", "merge", "assign", "deadline"]
            )
            v, actor = outfall.version, rng.choice(["a", "b"])
            try:
                if op == "survey":
                    record_event(
                        session, outfall.id, EventKind.SURVEYED, actor=actor, scope=ALL, expected_version=v, on=day
                    )
                elif op == "reject":
                    record_event(
                        session, outfall.id, EventKind.REJECTED, actor=actor, scope=ALL, expected_version=v, on=day
                    )
                elif op == "assign":
                    assign_cases(session, [outfall.id], rng.choice(["officer", None]), actor=actor, scope=ALL, on=day)
                    session.refresh(outfall)
                elif op == "deadline":
                    when = rng.choice([None, day + timedelta(days=90)])
                    set_deadlines(session, [outfall.id], when, actor=actor, scope=ALL, on=day)
                    session.refresh(outfall)
                elif op == "merge":
                    record_event(
                        session, outfall.id, EventKind.MERGED, actor=actor, scope=ALL, expected_version=v, on=day
                    )
                elif op == "visit":
                    record_visit(
                        session,
                        outfall.id,
                        VisitInput(at, DischargeState.DRY),
                        actor=actor,
                        scope=ALL,
                        expected_version=v,
                    )
                elif op == "trace":
                    record_trace(
                        session,
                        outfall.id,
                        TraceInput(
                            at,
                            TraceMethod.RECORDS,
                            (PartyInput("厂", is_main=True),),
                            sewage_source=rng.choice([None, "废水"]),
                        ),
                        actor=actor,
                        scope=ALL,
                        expected_version=v,
                    )
                elif op == "plan":
                    plan_remediation(
                        session,
                        outfall.id,
                        PlanInput(RemediationCategory.BAN, day, measures="封堵"),
                        actor=actor,
                        scope=ALL,
                        expected_version=v,
                    )
                elif op == "complete":
                    complete_remediation(
                        session, outfall.id, day, evidence=[], note=None, actor=actor, scope=ALL, expected_version=v
                    )
                else:
                    accept_and_close(session, outfall.id, day, note=None, actor=actor, scope=ALL, expected_version=v)
            except (InvalidTransition, InvalidInput):
                assert outfall.version == v  # a refused operation changes nothing
            seen.append((day, outfall.status.value))
            assert status_as_of(session, outfall.id, scope=ALL) is outfall.status, (n, op)
            # every denormalised column, not only the state, equals the replay of the events
            assert state_as_of(session, outfall.id, scope=ALL) == CaseState.of(outfall), (n, op)
        # as of every day seen, the replay gives the state that held at the end of that day
        last_by_day: dict[date, str] = {}
        for d, state in seen:
            last_by_day[d] = state
        for d, state in last_by_day.items():
            assert status_as_of(session, outfall.id, d, scope=ALL).value == state, (n, d)
        assert status_as_of(session, outfall.id, date(2020, 12, 31), scope=ALL) is None
        finals.add(outfall.status.value)
    assert len(finals) >= 4  # the sequences reached several different states
