"""Progress counts per metric, location and day (``area_milestone_days``), kept from ``outfall_milestones`` by a
trigger whose SQL is generated here (revision 0018 froze it): progress as of a date, the monthly trend and the
first day read a few thousand aggregate rows instead of every outfall's milestones.

An outfall adds +1 to a metric on the day it starts to count there (found, and the milestone reached: the later
of the two) and −1 on the day it stops (rejected or merged, if later), exactly as
:func:`outfalls.progress.report.progress` counts it; ``live`` is the denominator and ``found`` counts the
outfalls found that day (rejected or merged later or not), for the first day. Counts are only read from here
when the viewer's scope is a condition on the location alone (the table holds nothing else of an outfall).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, FromClause, Integer, func, literal, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import replacement_traverse

from outfalls.config import PROGRESS_METRICS
from outfalls.models import AreaMilestoneDay, AreaMilestoneMonth, AreaMilestoneYear
from outfalls.progress.statedays import (
    LOCATION,
    TOTAL_DAY,
    counts_behind,
    location_conditions,
    statement_trigger_sql,
)

MILESTONE_DAYS = AreaMilestoneDay.__table__
MILESTONE_MONTHS = AreaMilestoneMonth.__table__
MILESTONE_YEARS = AreaMilestoneYear.__table__
LIVE, FOUND = "live", "found"  # the denominator, and the outfalls found that day


def changes_sql(rows: str, sign: int) -> str:
    """SELECT of the (day, metric, location, n) changes the milestone rows ``rows`` bring, times ``sign``, each on
    its day (``upsert_sql`` adds them up on the ``infinity`` row of the current count).
    """
    gone = "least(m.rejected_on, m.merged_on)"
    values = [f"(m.found_on, '{FOUND}', 1)", f"(m.found_on, '{LIVE}', 1)",
              f"(CASE WHEN {gone} IS NOT NULL THEN greatest(m.found_on, {gone}) END, '{LIVE}', -1)"]  # fmt: skip
    for k in PROGRESS_METRICS:
        reached = f"m.{k}_on"
        values.append(f"(CASE WHEN {reached} IS NOT NULL THEN greatest(m.found_on, {reached}) END, '{k}', 1)")
        values.append(f"(CASE WHEN {reached} IS NOT NULL AND {gone} IS NOT NULL "
                      f"THEN greatest(m.found_on, {reached}, {gone}) END, '{k}', -1)")  # fmt: skip
    loc = ", ".join(f"coalesce(m.{k}, 0)" for k in LOCATION)
    return (
        f"SELECT x.day, x.metric, {loc}, {sign} * x.n "
        f"FROM {rows} AS m CROSS JOIN LATERAL (VALUES {', '.join(values)}) AS x(day, metric, n) "
        f"WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL"
    )


def upsert_sql(changes: str) -> str:
    """One statement adding the summed ``changes`` (a SELECT of day, metric, location, n) to
    ``area_milestone_days`` (each day, and their sum on the ``infinity`` row) and, by month and by year, to
    ``area_milestone_months`` and ``area_milestone_years``. The changes are summed by day once; the current count,
    the months and the years add up those sums, and each table is written in the order of its key (each index page
    visited once, not once a row).
    """
    loc = ", ".join(LOCATION)
    cols = f"day, metric, {loc}"

    def by(period: str, table: str, column: str) -> str:
        start = f"date_trunc('{period}', day::timestamp)::date"
        return (
            f"INSERT INTO {table} AS a ({column}, metric, {loc}, n) SELECT {start}, metric, {loc}, sum(n) "
            f"FROM g GROUP BY {start}, metric, {loc} HAVING sum(n) <> 0 ORDER BY 1, metric, {loc} "
            f"ON CONFLICT ({column}, metric, {loc}) DO UPDATE SET n = a.n + EXCLUDED.n"
        )

    return (
        f"WITH x({cols}, n) AS ({changes}), "
        f"g AS (SELECT {cols}, sum(n)::integer AS n FROM x GROUP BY {cols}), "
        f"d AS (INSERT INTO area_milestone_days AS a ({cols}, n) SELECT {cols}, n FROM g WHERE n <> 0 "
        f"UNION ALL SELECT 'infinity'::date, metric, {loc}, sum(n) FROM g GROUP BY metric, {loc} HAVING sum(n) <> 0 "
        f"ORDER BY {cols} ON CONFLICT ({cols}) DO UPDATE SET n = a.n + EXCLUDED.n), "
        f"mo AS ({by('month', 'area_milestone_months', 'month')}) "
        f"{by('year', 'area_milestone_years', 'year')}"
    )


def backfill_sql() -> str:
    """The statement filling ``area_milestone_days`` from every milestone row."""
    return upsert_sql(changes_sql("outfall_milestones", 1))


def milestone_days_trigger_sql() -> str:
    """The body of the plpgsql function behind the statement triggers on ``outfall_milestones``."""
    return statement_trigger_sql(upsert_sql, changes_sql)


# -- reading -------------------------------------------------------------------------------------------------


def _onto(conditions: Sequence[ColumnElement[bool]], counts: FromClause) -> list[ColumnElement[bool]]:
    """Location conditions on ``area_milestone_days`` rewritten onto the months' or years' table."""

    def onto(element: Any, **_kw: Any) -> Any:
        if getattr(element, "table", None) is MILESTONE_DAYS and element.name in LOCATION:
            return counts.c[element.name]
        return None

    return [replacement_traverse(c, {}, onto) for c in conditions]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def days_conditions(session: Session, conditions: Sequence[ColumnElement[bool]]) -> list[ColumnElement[bool]] | None:
    """Location conditions on ``outfall_milestones`` rewritten onto ``area_milestone_days``; None when one of
    them needs anything else (e.g. a scope on the outfall's own fields) or while milestone rows wait in the
    backlog (the counts lack them), so the caller scans the milestones.
    A missing location is 0 here and NULL there: neither is in any list of ids, nor equal to one.
    """
    moved = location_conditions(conditions, MILESTONE_DAYS)
    return None if moved is None or counts_behind(session) else moved


def located_counts(session: Session, day: date, conditions: Sequence[ColumnElement[bool]],
                   metrics: Sequence[str]) -> list[tuple[Any, ...]]:  # fmt: skip
    """Rows (basin_id, sub_basin_id, river_id, admin_area_id, denominator, *counts of ``metrics``) of every
    location with outfalls in the denominator at the end of ``day``, as the scan of the milestones groups them
    (0 stands for a missing location): the current count minus the changes after the day (whole years from
    ``area_milestone_years``, the rest of the day's year from ``area_milestone_months``, the rest of its month
    from its days).
    """
    d, mo, yr = MILESTONE_DAYS.c, MILESTONE_MONTHS.c, MILESTONE_YEARS.c
    wanted = [LIVE, *metrics]
    changes = union_all(
        select(d.basin_id, d.sub_basin_id, d.river_id, d.admin_area_id, d.metric, d.n).where(
            d.day == TOTAL_DAY, d.metric.in_(wanted), *conditions
        ),
        select(yr.basin_id, yr.sub_basin_id, yr.river_id, yr.admin_area_id, yr.metric, -yr.n).where(
            yr.year > day.replace(month=1, day=1), yr.metric.in_(wanted), *_onto(conditions, MILESTONE_YEARS)
        ),
        select(mo.basin_id, mo.sub_basin_id, mo.river_id, mo.admin_area_id, mo.metric, -mo.n).where(
            mo.month > _month_start(day), mo.month < date(day.year + 1, 1, 1), mo.metric.in_(wanted),
            *_onto(conditions, MILESTONE_MONTHS),
        ),
        select(d.basin_id, d.sub_basin_id, d.river_id, d.admin_area_id, d.metric, -d.n).where(
            d.day > day, d.day < _next_month(day), d.metric.in_(wanted), *conditions
        ),
    ).subquery()
    c = changes.c
    columns = [c.basin_id, c.sub_basin_id, c.river_id, c.admin_area_id]
    query = select(*columns, c.metric, func.sum(c.n).cast(Integer)).group_by(*columns, c.metric)
    by_location: dict[tuple[int, int, int, int], dict[str, int]] = {}
    for row in session.execute(query).all():  # fetched at once, not a row at a time
        by_location.setdefault((row[0], row[1], row[2], row[3]), {})[row[4]] = int(row[5] or 0)
    return [(*loc, counts[LIVE], *(counts.get(k, 0) for k in metrics))
            for loc, counts in sorted(by_location.items()) if counts.get(LIVE, 0) > 0]  # fmt: skip


def monthly_changes(session: Session, day: date, conditions: Sequence[ColumnElement[bool]],
                    metrics: Sequence[str]) -> dict[date, dict[str, int]]:  # fmt: skip
    """Per month up to ``day``: the net change of the denominator (``denominator``) and of each metric; whole
    months from ``area_milestone_months``, the month of ``day`` from its days.
    """
    d, mo = MILESTONE_DAYS.c, MILESTONE_MONTHS.c
    wanted = [LIVE, *metrics]
    first = _month_start(day)
    query = union_all(
        select(mo.month, mo.metric, func.sum(mo.n))
        .where(mo.month < first, mo.metric.in_(wanted), *_onto(conditions, MILESTONE_MONTHS))
        .group_by(mo.month, mo.metric),
        select(literal(first, Date), d.metric, func.sum(d.n))
        .where(d.day >= first, d.day <= day, d.metric.in_(wanted), *conditions)
        .group_by(d.metric),
    )
    out: dict[date, dict[str, int]] = {}
    for when, metric, n in session.execute(query):
        on = when.date() if isinstance(when, datetime) else when
        out.setdefault(on, dict.fromkeys(["denominator", *metrics], 0))
        out[on]["denominator" if metric == LIVE else metric] += int(n)
    return out


def first_found(session: Session, conditions: Sequence[ColumnElement[bool]]) -> date | None:
    """The day the first outfall matching ``conditions`` was found."""
    d = MILESTONE_DAYS.c
    found: date | None = session.scalar(
        select(func.min(d.day)).where(d.metric == FOUND, d.day < TOTAL_DAY, d.n > 0, *conditions)
    )
    return found
