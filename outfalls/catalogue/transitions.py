"""The one event → state rule (生命周期): which event may follow which state and where it leads, and the stage
ladder the programme counts progress on. Every other form of the rule is generated from ``TRANSITIONS`` here:
the state an event leads to in SQL (registers replay a whole catalogue in one query), the stage rank and the
milestone trigger function (installed by a migration; a test compares the installed function with what this
table generates), and the state on a day read from milestones (progress, tiles).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case
from sqlalchemy.sql import ColumnElement

from outfalls.errors import InvalidTransition
from outfalls.types import EventKind, OutfallStatus

ACTIVE = frozenset({OutfallStatus.SURVEYED, OutfallStatus.TRACED, OutfallStatus.REMEDIATING, OutfallStatus.REMEDIATED})
# event kind -> (states it may follow, state it leads to; None = unchanged)
TRANSITIONS: dict[EventKind, tuple[frozenset[OutfallStatus], OutfallStatus | None]] = {
    EventKind.SURVEYED: (frozenset({OutfallStatus.CANDIDATE}), OutfallStatus.SURVEYED),
    EventKind.REJECTED: (frozenset({OutfallStatus.CANDIDATE}), OutfallStatus.REJECTED),
    EventKind.TRACED: (frozenset({OutfallStatus.SURVEYED, OutfallStatus.TRACED}), OutfallStatus.TRACED),
    EventKind.REMEDIATION_PLANNED: (
        frozenset({OutfallStatus.SURVEYED, OutfallStatus.TRACED}),
        OutfallStatus.REMEDIATING,
    ),
    EventKind.REMEDIATED: (
        frozenset({OutfallStatus.SURVEYED, OutfallStatus.TRACED, OutfallStatus.REMEDIATING}),
        OutfallStatus.REMEDIATED,
    ),
    EventKind.CLOSED: (frozenset({OutfallStatus.REMEDIATED}), OutfallStatus.CLOSED),
    EventKind.MERGED: (ACTIVE | {OutfallStatus.CANDIDATE}, OutfallStatus.MERGED),
    EventKind.SAMPLED: (ACTIVE | {OutfallStatus.CANDIDATE}, None),
    EventKind.TRACE_UPDATED: (ACTIVE, None),
    # the checklist concerns outfalls that stay: it is kept up after closing out too
    EventKind.STANDARDISATION_CHECKED: (ACTIVE | {OutfallStatus.CLOSED}, None),
    EventKind.REMEDIATION_PROGRESS: (frozenset({OutfallStatus.REMEDIATING}), None),
    # codes go to confirmed outfalls only, and stay with them (closed out included; never to a candidate)
    EventKind.CODED: (ACTIVE | {OutfallStatus.CLOSED}, None),
    EventKind.REPORT_LINKED: (ACTIVE | {OutfallStatus.CANDIDATE, OutfallStatus.CLOSED}, None),
}
# The stages progress counts, in the only order the lifecycle moves through them (rank = position).
STAGES: tuple[OutfallStatus, ...] = (
    OutfallStatus.CANDIDATE,
    OutfallStatus.SURVEYED,
    OutfallStatus.TRACED,
    OutfallStatus.REMEDIATING,
    OutfallStatus.REMEDIATED,
    OutfallStatus.CLOSED,
)
# States off the ladder: an outfall that is one of these is out of the denominators while it is.
OFF_LADDER: tuple[OutfallStatus, ...] = (OutfallStatus.MERGED, OutfallStatus.REJECTED)
# A created event carries the state an outfall starts in (imports of registers start further up); a split
# restores the state kept in its payload.
CREATED_STATUS_SQL = "coalesce({payload}->>'status', 'surveyed')"
SPLIT_STATUS_SQL = "{payload}->>'restore_status'"
# The calendar day of an event in SQL. Events of a day are stored at the programme zone's local noon
# (``clock.event_time``), whose UTC date is that day in every zone ``clock`` accepts (within 11 hours of UTC),
# so the milestone trigger needs no configuration to agree with the programme's calendar.
EVENT_DAY_SQL = "({effective_at} AT TIME ZONE 'UTC')::date"


def apply_transition(status: OutfallStatus, kind: EventKind) -> OutfallStatus:
    """The state after ``kind`` happens in ``status``.

    Raises:
        InvalidTransition: the event is not allowed in this state.
    """
    rule = TRANSITIONS.get(kind)
    if rule is None:
        return status
    allowed, after = rule
    if status not in allowed:
        raise InvalidTransition(
            f"an outfall that is {status.value} cannot be {kind.value}", status=status.value, event=kind.value
        )
    return after or status


def changes_state(kind: EventKind) -> bool:
    """Whether an event of this kind can move an outfall to another state (rather than only need one)."""
    rule = TRANSITIONS.get(kind)
    return kind is EventKind.SPLIT or (rule is not None and rule[1] is not None)


def next_status(status: OutfallStatus, kind: EventKind, payload: dict[str, Any]) -> OutfallStatus:
    """The state after an event, payload included: a ``split`` undoes a merge and restores the state the
    outfall had before it (kept in the event's payload).

    Raises:
        InvalidTransition: the event is not allowed in this state.
    """
    if kind is EventKind.SPLIT:
        if status is not OutfallStatus.MERGED:
            raise InvalidTransition(f"only a merged outfall can be split off again, not one that is {status.value}",
                                    status=status.value, event=kind.value)  # fmt: skip
        return OutfallStatus(payload["restore_status"])
    return apply_transition(status, kind)


def _leading(to: tuple[OutfallStatus, ...] | None = None) -> list[tuple[EventKind, OutfallStatus]]:
    """The events that lead to a state (to one of ``to``), in the table's order."""
    return [(k, after) for k, (_, after) in TRANSITIONS.items() if after is not None and (to is None or after in to)]


def state_of_event_sql(kind: str = "e.kind", payload: str = "e.payload") -> str:
    """SQL: the state an event leads to (NULL for an event that changes none)."""
    whens = [f"WHEN 'created' THEN {CREATED_STATUS_SQL.format(payload=payload)}",
             f"WHEN 'split' THEN {SPLIT_STATUS_SQL.format(payload=payload)}"]  # fmt: skip
    whens += [f"WHEN '{k.value}' THEN '{after.value}'" for k, after in _leading()]
    return f"CASE {kind} " + " ".join(whens) + " END"


def event_day_sql(effective_at: str = "effective_at") -> str:
    """SQL: the programme day of an event."""
    return EVENT_DAY_SQL.format(effective_at=effective_at)


def rank_function_sql() -> str:
    """SQL body of ``outfall_event_rank(kind, payload)``: the stage an event shows the outfall reached."""
    created = " ".join(f"WHEN '{s.value}' THEN {i}" for i, s in enumerate(STAGES))
    events = " ".join(f"WHEN '{k.value}' THEN {STAGES.index(after)}" for k, after in _leading(STAGES))
    return (f"SELECT CASE kind WHEN 'created' THEN CASE {CREATED_STATUS_SQL.format(payload='payload')} {created} END "
            f"{events} END")  # fmt: skip


MILESTONE_COLUMNS: tuple[str, ...] = (
    "found_on", *(f"{s.value}_on" for s in OFF_LADDER[::-1]), "surveyed_on", "sampled_on",
    *(f"{s.value}_on" for s in STAGES[2:]),
)  # fmt: skip


def _milestone_filters() -> dict[str, str]:
    """Each milestone column and the events whose first day it is."""
    filters = {"found_on": "e.kind = 'created'"}
    for state in OFF_LADDER[::-1]:
        kinds = ", ".join(f"'{k.value}'" for k, _ in _leading((state,)))
        filters[f"{state.value}_on"] = f"e.kind IN ({kinds})"
    for rank, state in enumerate(STAGES[1:], start=1):
        filters[f"{state.value}_on"] = f"e.rank >= {rank}"
    filters["sampled_on"] = f"e.kind = '{EventKind.SAMPLED.value}'"
    return {c: filters[c] for c in MILESTONE_COLUMNS}


def milestone_trigger_sql() -> str:
    """SQL body of the statement-level trigger function ``outfall_milestones_from_events()`` (plpgsql).

    The first day of each milestone of the outfalls whose events were just inserted (``new_events``), upserted
    with ``LEAST`` (events are never changed or deleted, so a milestone can only move earlier); events that move
    no milestone are skipped before the upsert; a split undoes a merge, so the outfall counts again.
    """
    relevant = ", ".join(f"'{k}'" for k in ("created", *(k.value for k, _ in _leading(OFF_LADDER)),
                                           EventKind.SAMPLED.value))  # fmt: skip
    aggregate = (
        "SELECT e.outfall_id, o.basin_id, o.sub_basin_id, o.river_id, o.admin_area_id, "
        + ", ".join(f"min(e.day) FILTER (WHERE {f}) AS {c}" for c, f in _milestone_filters().items())
        + f" FROM (SELECT outfall_id, kind, {event_day_sql()} AS day, outfall_event_rank(kind, payload) AS rank "
        f"FROM new_events WHERE kind IN ({relevant}) OR outfall_event_rank(kind, payload) IS NOT NULL) e "
        "JOIN outfalls o ON o.id = e.outfall_id "
        "GROUP BY e.outfall_id, o.basin_id, o.sub_basin_id, o.river_id, o.admin_area_id"
    )
    upsert = (
        "INSERT INTO outfall_milestones AS m (outfall_id, basin_id, sub_basin_id, river_id, admin_area_id, "
        + ", ".join(MILESTONE_COLUMNS) + ") " + aggregate
        + " ON CONFLICT (outfall_id) DO UPDATE SET basin_id = EXCLUDED.basin_id, sub_basin_id = EXCLUDED.sub_basin_id, "
        "river_id = EXCLUDED.river_id, admin_area_id = EXCLUDED.admin_area_id, "
        + ", ".join(f"{c} = LEAST(m.{c}, EXCLUDED.{c})" for c in MILESTONE_COLUMNS)
    )
    split = (
        f"UPDATE outfall_milestones m SET {OutfallStatus.MERGED.value}_on = NULL FROM new_events e "
        f"WHERE e.kind = '{EventKind.SPLIT.value}' AND m.outfall_id = e.outfall_id"
    )
    return f" BEGIN {upsert}; {split}; RETURN NULL; END "


def state_from_milestones(milestones: Any, day: Any) -> ColumnElement[str]:
    """SQL expression: an outfall's state on ``day`` from its milestone row (``milestones`` is the table's
    column collection): off-ladder states first, then the highest stage reached, else a candidate.
    """
    whens = [(getattr(milestones, f"{s.value}_on") <= day, s.value) for s in OFF_LADDER]
    whens += [(getattr(milestones, f"{s.value}_on") <= day, s.value) for s in STAGES[:0:-1]]
    return case(*whens, else_=OutfallStatus.CANDIDATE.value)
