"""Outfalls per state, location and day (``area_state_days``), kept from ``outfall_milestones`` by a trigger
whose SQL is generated here from the state rule of :mod:`outfalls.catalogue.transitions` (revision 0018 froze
it): national maps count outfalls per area without reading a million milestone rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, column, func, literal_column, or_, select, table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from outfalls.catalogue.transitions import OFF_LADDER, STAGES, state_from_milestones
from outfalls.models import AreaStateDay, MilestoneCountBacklog, Outfall
from outfalls.progress.hierarchy import MILESTONES

STATE_DAYS = AreaStateDay.__table__
BACKLOG = MilestoneCountBacklog.__table__
BACKLOG_COLUMNS = tuple(c.name for c in BACKLOG.c if c.name not in ("id", "sign"))
# the SQL function (revision 0026) telling whether a statement of that many milestone rows leaves them to the backlog
LATER = "outfalls_counts_later"
LOCATION = ("admin_area_id", "basin_id", "sub_basin_id", "river_id")
TOTAL_DAY: ColumnElement[Any] = literal_column("'infinity'::date")  # the row holding the current count
# the days an outfall's state can change on
_DAYS = ("found_on", *(f"{s.value}_on" for s in OFF_LADDER), *(f"{s.value}_on" for s in STAGES[1:]))


def _sql(expr: Any) -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(expr.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def changes_sql(rows: str, sign: int) -> str:
    """SELECT of the (day, state, location, n) changes the milestone rows ``rows`` bring, times ``sign``: on each
    distinct day the state can change on (from the day found), +1 to the state of that day and −1 to the state of
    the day before; +1 to the current state on the ``infinity`` row. One pass over the rows, no per-row sort.
    """
    m = table("m", *(column(c) for c in (*_DAYS, *LOCATION)))
    s = table("s", column("at"))
    state = _sql(state_from_milestones(m.c, s.c.at))
    final = _sql(state_from_milestones(m.c, TOTAL_DAY))
    loc = ", ".join(f"coalesce(m.{k}, 0)" for k in LOCATION)
    # each day once: a day is left out where an earlier column holds the same day
    days = ", ".join(
        f"(m.{d}, " + (" AND ".join(f"m.{d} IS DISTINCT FROM m.{e}" for e in _DAYS[:i]) or "true") + ")"
        for i, d in enumerate(_DAYS)
    )
    return (
        f"SELECT c.day, {state}, {loc}, {sign} * s.n FROM {rows} AS m "
        f"CROSS JOIN LATERAL (VALUES {days}) AS c(day, first) "
        f"CROSS JOIN LATERAL (VALUES (c.day, 1), (c.day - 1, -1)) AS s(at, n) "
        f"WHERE c.first AND c.day >= m.found_on AND (s.n = 1 OR c.day > m.found_on) "
        f"UNION ALL SELECT 'infinity'::date, {final}, {loc}, {sign} FROM {rows} AS m WHERE m.found_on IS NOT NULL"
    )


def upsert_sql(changes: str) -> str:
    """INSERT ... ON CONFLICT adding the summed ``changes`` (a SELECT of day, state, location, n), in the order of
    the key (each index page is then visited once, not once a row).
    """
    cols = ", ".join(("day", "state", *LOCATION))
    return (
        f"INSERT INTO area_state_days AS a ({cols}, n) SELECT {cols}, sum(n) FROM ({changes}) AS x({cols}, n) "
        f"GROUP BY {cols} HAVING sum(n) <> 0 ORDER BY {cols} "
        f"ON CONFLICT ({cols}) DO UPDATE SET n = a.n + EXCLUDED.n"
    )


def backfill_sql() -> str:
    """The statement filling ``area_state_days`` from every milestone row."""
    return upsert_sql(changes_sql("outfall_milestones", 1))


def statement_trigger_sql(upsert: Callable[[str], str], changes: Callable[[str, int], str]) -> str:
    """The body of a plpgsql function behind statement triggers on ``outfall_milestones`` that keep per-location
    counts: ``upsert`` of the ``changes`` the new rows bring, less those of the old rows; nothing for a statement
    of so many rows that it leaves them to the backlog (``outfalls_counts_later``, revision 0026).
    """

    def unless_later(rows: str, statement: str) -> str:
        return f"IF NOT {LATER}((SELECT count(*) FROM {rows})) THEN {statement}; END IF; "

    return (
        " BEGIN IF TG_OP = 'INSERT' THEN "
        + unless_later("new_rows", upsert(changes("new_rows", 1)))
        + "ELSIF TG_OP = 'UPDATE' THEN "
        + unless_later("new_rows", upsert(changes("new_rows", 1) + " UNION ALL " + changes("old_rows", -1)))
        + "ELSE "
        + unless_later("old_rows", upsert(changes("old_rows", -1)))
        + "END IF; RETURN NULL; END "
    )


def backlog_trigger_sql() -> str:
    """The body of the plpgsql function behind the statement triggers on ``outfall_milestones`` that leave the
    rows of a statement of many rows (``outfalls_counts_later``) in ``milestone_count_backlog``, signed: +1 the
    new rows, −1 the old ones.
    """
    cols = ", ".join(BACKLOG_COLUMNS)

    def later(rows: str, select: str) -> str:
        return (f"IF {LATER}((SELECT count(*) FROM {rows})) THEN "
                f"INSERT INTO milestone_count_backlog (sign, {cols}) {select}; END IF; ")  # fmt: skip

    new, old = f"SELECT 1, {cols} FROM new_rows", f"SELECT -1, {cols} FROM old_rows"
    return (
        f" BEGIN IF TG_OP = 'INSERT' THEN {later('new_rows', new)}"
        f"ELSIF TG_OP = 'UPDATE' THEN {later('new_rows', f'{old} UNION ALL {new}')}"
        f"ELSE {later('old_rows', old)}END IF; RETURN NULL; END "
    )


def counts_behind(session: Session) -> bool:
    """True while milestone rows wait in the backlog: the counts per area and day lack them, so whoever reads
    counts reads the milestones instead (exact, slower). One look at the first row of the backlog's key.
    """
    first = session.scalar(select(BACKLOG.c.id).order_by(BACKLOG.c.id).limit(1))
    return first is not None


def state_days_trigger_sql() -> str:
    """The body of the plpgsql function behind the statement triggers on ``outfall_milestones``."""
    return statement_trigger_sql(upsert_sql, changes_sql)


def location_conditions(conditions: Sequence[ColumnElement[bool]], counts: Any) -> list[ColumnElement[bool]] | None:
    """Location conditions on ``outfall_milestones`` rewritten onto the table of counts ``counts`` (None when one
    of them needs another column, e.g. a scope on the outfall's own fields, so the caller scans the milestones).
    """

    def onto(element: Any, **_kw: Any) -> Any:
        if getattr(element, "table", None) is MILESTONES and element.name in LOCATION:
            return counts.c[element.name]
        return None

    result = []
    for cond in conditions:
        moved = replacement_traverse(cond, {}, onto)
        if {getattr(e, "table", None) for e in iterate(moved)} & {MILESTONES, Outfall.__table__}:
            return None
        result.append(moved)
    return result


def state_days_conditions(session: Session, conditions: list[ColumnElement[bool]]) -> list[ColumnElement[bool]] | None:
    """Location conditions on ``outfall_milestones`` rewritten onto ``area_state_days`` (None when one of them
    needs another column, e.g. a scope on the outfall's own fields, or while the counts are behind).
    """
    moved = location_conditions(conditions, STATE_DAYS)
    return None if moved is None or counts_behind(session) else moved


def counts_as_of(day: Any, conditions: list[ColumnElement[bool]], state_filter: Any) -> Any:
    """Per (admin area, state): the outfalls in that state on ``day``; the current count minus the changes
    after the day, so today's count reads only the current rows.
    """
    s = STATE_DAYS.c
    n = func.sum(case((s.day == TOTAL_DAY, s.n), else_=-s.n))
    return (
        select(s.admin_area_id, s.state.label("state"), n.cast(Integer).label("n"))
        .where(or_(s.day == TOTAL_DAY, s.day > day), state_filter(s.state), *conditions)
        .group_by(s.admin_area_id, s.state)
        .having(n > 0)
    )
