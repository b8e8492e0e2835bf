"""The monthly trend of one scope: month-end counts from its first outfall to the as-of day, counted with the
same definitions as :func:`outfalls.progress.report.progress` (its last point equals that day's progress row),
with the deadlines that apply to the scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from outfalls.config import TargetDefault
from outfalls.errors import InvalidInput, NotFound
from outfalls.progress.hierarchy import (
    LEVELS,
    MILESTONE_OF,
    MILESTONES,
    check_as_of,
    load_ref,
    milestone_conditions,
    name_of,
    scope_kind_of,
    within_scope,
)
from outfalls.progress.milestonedays import days_conditions, monthly_changes
from outfalls.progress.targets import Target, check_metric, schedule, target_chain, targets_in_force
from outfalls.scope import Scope


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """Counts at the end of one month (the last point is the as-of day itself)."""

    on: date
    denominator: int
    counts: dict[str, int]

    def share(self, metric: str) -> float | None:
        """The share of ``metric`` (None when there are no outfalls yet)."""
        return round(self.counts[metric] / self.denominator, 4) if self.denominator else None


@dataclass(frozen=True, slots=True)
class Trend:
    """Month-end progress of one scope, with the targets that apply to it."""

    scope_kind: str
    scope_code: str | None
    scope_name: str
    as_of: date
    points: list[TrendPoint]
    targets: dict[str, list[Target]]  # metric -> its deadlines

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the API and the chart."""
        return {
            "scope_kind": self.scope_kind, "scope_code": self.scope_code, "scope_name": self.scope_name,
            "as_of": self.as_of.isoformat(),
            "points": [{"on": p.on.isoformat(), "denominator": p.denominator, "counts": p.counts,
                        "shares": {k: p.share(k) for k in p.counts}} for p in self.points],
            "targets": {k: [{"deadline": t.deadline.isoformat(), "share": t.share, "scope": t.scope_kind,
                             "scope_code": t.scope_code} for t in v] for k, v in self.targets.items()},
        }  # fmt: skip


def _month_ends(first: date, last: date) -> list[date]:
    ends: list[date] = []
    year, month = first.year, first.month
    while True:
        nxt = date(year + month // 12, month % 12 + 1, 1)
        end = nxt - timedelta(days=1)
        if end >= last:
            break
        ends.append(end)
        year, month = nxt.year, nxt.month
    return ends + [last]


def scanned_months(session: Session, day: date, cond: Sequence[ColumnElement[bool]],
                   metrics: Sequence[str]) -> dict[date, dict[str, int]]:  # fmt: skip
    """Per month up to ``day``: the net change of the denominator and of each metric, in one scan of the
    milestones matching ``cond``.
    """
    m = MILESTONES.c
    gone = func.least(m.rejected_on, m.merged_on)

    # An outfall adds 1 to a count from the day it starts to count and -1 from the day it stops (rejected or
    # merged): the sum up to a day is the count of that day, exactly as progress() counts it. Each kind of change
    # is summed by month in one scan (GROUPING SETS). GREATEST and LEAST skip NULLs: hence the CASEs.
    def month(when: Any, *needed: Any) -> Any:
        return case((and_(*(c.is_not(None) for c in needed), when <= day), func.date_trunc("month", when)))

    keys: list[tuple[str, int, Any]] = [
        ("denominator", 1, month(m.found_on, m.found_on)),
        ("denominator", -1, month(func.greatest(m.found_on, gone), m.found_on, gone)),
    ]
    for k in metrics:
        reached = MILESTONE_OF[k]
        keys.append((k, 1, month(func.greatest(m.found_on, reached), m.found_on, reached)))
        keys.append((k, -1, month(func.greatest(m.found_on, reached, gone), m.found_on, reached, gone)))
    inner = select(*(expr.label(f"k{i}") for i, (_k, _d, expr) in enumerate(keys))).where(*cond).subquery()
    columns = list(inner.c)
    rows = session.execute(
        select(*columns, *(func.grouping(c) for c in columns), func.count()).group_by(func.grouping_sets(*columns))
    ).all()
    by_month: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(["denominator", *metrics], 0))
    for row in rows:
        values, grouped, n = row[: len(keys)], row[len(keys) : 2 * len(keys)], row[-1]
        for (name, sign, _expr), value, flag in zip(keys, values, grouped, strict=True):
            if flag == 0 and value is not None:
                by_month[value.date() if isinstance(value, datetime) else value][name] += sign * int(n)
    return dict(by_month)


def progress_trend(
    session: Session,
    *,
    scope: Scope,
    scope_kind: str = "all",
    scope_code: str | None = None,
    as_of: date | None = None,
    metrics: Sequence[str] = ("traced", "remediated", "closed"),
    defaults: Sequence[TargetDefault] = (),
) -> Trend:
    """The month-end counts of one scope from its first outfall to ``as_of``, computed with the same
    definitions as :func:`progress` (its last point equals the progress row of that day).

    Raises:
        InvalidInput: an unknown metric or scope kind, or an as-of date in the future.
        NotFound: an unknown scope code.
    """
    day = check_as_of(as_of)
    for metric in metrics:
        check_metric(metric)
    if scope_kind not in LEVELS:
        raise InvalidInput(f"unknown scope kind {scope_kind!r}", field="scope_kind", value=scope_kind)
    if scope_kind != "all" and scope_kind_of(session, str(scope_code)) != scope_kind:
        raise NotFound(f"no {scope_kind} with code {scope_code!r}", entity=scope_kind, id=scope_code)
    cond = [*milestone_conditions(scope), *within_scope(session, scope_kind, scope_code)]
    moved = days_conditions(session, cond)
    if moved is None:  # the scope needs more than the location: count the milestones themselves
        by_month = scanned_months(session, day, cond, metrics)
    else:
        by_month = monthly_changes(session, day, moved, metrics)
    first = min((mo for mo, d in by_month.items() if d["denominator"]), default=day)
    points: list[TrendPoint] = []
    running = dict.fromkeys(["denominator", *metrics], 0)
    months = sorted(by_month)
    i = 0
    for end in _month_ends(first, day):
        while i < len(months) and months[i] <= end:
            for name, delta in by_month[months[i]].items():
                running[name] += delta
            i += 1
        points.append(TrendPoint(end, running["denominator"], {k: running[k] for k in metrics}))
    ref = load_ref(session)
    targets = targets_in_force(session, day, defaults)
    chain = target_chain(ref, scope_kind, scope_code, scope)
    return Trend(scope_kind, scope_code, name_of(ref, scope_kind, scope_code), day, points,
                 {k: schedule(targets, chain, k) for k in metrics})  # fmt: skip
