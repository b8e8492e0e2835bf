"""Progress of every scope of one axis against the targets due next, as of a date: the counting (from the
per-day aggregate ``area_milestone_days``, or one grouped scan of the milestones when the viewer's scope needs
more than the location), the share, the gap to the target and since when a scope is behind.

Definitions (shown next to every figure):
    denominator: the outfalls in the scope found by the end of the as-of day, less those rejected (not an
    outfall) or merged into another outfall by then. A metric counts the outfalls of the denominator that had
    reached its stage by then (or a later one: an outfall remediated is also traced and surveyed); ``sampled``
    counts those sampled at least once. Outfalls are placed where they are now.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from outfalls.config import TargetDefault
from outfalls.errors import InvalidInput
from outfalls.progress.hierarchy import (
    AXES,
    LEVELS,
    MILESTONE_OF,
    MILESTONES,
    Axis,
    Ref,
    check_as_of,
    live_on,
    load_ref,
    milestone_conditions,
    name_of,
    parent_of,
    scope_keys,
)
from outfalls.progress.milestonedays import days_conditions, located_counts
from outfalls.progress.targets import METRICS, Target, check_metric, schedule, target_chain, targets_in_force
from outfalls.scope import Scope

GapClass = Literal["met", "near", "behind", "far", "none"]
# The gap to the target due next, in percentage points, graded for leadership: met (none left), near (within
# 10 pp), behind (within 25 pp), far; "none" when there is no target or no outfall. (upper bound, class)
GAP_CLASSES: tuple[tuple[float, GapClass], ...] = ((0.0, "met"), (10.0, "near"), (25.0, "behind"), (math.inf, "far"))
GAP_COLORS: dict[GapClass, str] = {"met": "#2e7d32", "near": "#f9a825", "behind": "#ef6c00", "far": "#c62828",
                                   "none": "#b0bec5"}  # fmt: skip
# Outfall states on every map (dashboard, catalogue, take-away maps): cool hues (violet, blue, cyan, teal) and
# browns, so that no state is ever read as a gap class (green, amber, orange, red, grey above).
STATUS_COLORS: dict[str, str] = {
    "candidate": "#9575cd", "surveyed": "#1e88e5", "traced": "#6a1b9a", "remediating": "#00acc1",
    "remediated": "#00897b", "closed": "#004d40", "rejected": "#bcaaa4", "merged": "#795548",
}  # fmt: skip


def gap_class(gap_pp: float | None) -> GapClass:
    """The class of a gap (met, near, behind, far), or none when there is no target or no outfall."""
    if gap_pp is None:
        return "none"
    return next(name for bound, name in GAP_CLASSES if gap_pp <= bound)


@dataclass(frozen=True, slots=True)
class ProgressRow:
    """Progress of one scope on one metric as of a date.

    ``share`` and ``target_share`` are fractions (0..1); ``gap_pp`` is the target share minus the share in
    percentage points (positive: behind); ``gap_count`` is how many more outfalls must reach the metric.
    """

    scope_kind: str  # all, basin, sub_basin, river, province, city, county
    scope_code: str | None
    scope_name: str
    level: int  # 0 all, 1 basin/province, 2 sub-basin/city, 3 river/county
    metric: str
    as_of: date
    count: int
    denominator: int
    share: float | None
    target_share: float | None
    target_deadline: date | None
    gap_pp: float | None
    gap_count: int | None = None
    behind_since: date | None = None  # the oldest passed deadline whose target is still not met
    target_scope: str | None = None  # whose target applies: "all", "area:610000", "basin:HH" ...
    parent_kind: str | None = None
    parent_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The row as the CLI and the JSON API print it (exactly these keys)."""
        return {
            "scope_kind": self.scope_kind, "scope_code": self.scope_code, "scope_name": self.scope_name,
            "level": self.level, "metric": self.metric, "as_of": self.as_of.isoformat(), "count": self.count,
            "denominator": self.denominator, "share": self.share, "target_share": self.target_share,
            "target_deadline": self.target_deadline.isoformat() if self.target_deadline else None,
            "gap_pp": self.gap_pp,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """Every scope of one axis (with the deployment total first), every metric, as of one date."""

    as_of: date
    by: Axis
    rows: list[ProgressRow]
    unplaced: int  # outfalls of the denominator without a basin (or area) on this axis

    def row(self, scope_kind: str, scope_code: str | None, metric: str) -> ProgressRow | None:
        """The row of one scope and metric, if the scope has outfalls."""
        for r in self.rows:
            if r.scope_kind == scope_kind and r.scope_code == scope_code and r.metric == metric:
                return r
        return None

    def children(self, scope_kind: str, scope_code: str | None, metric: str) -> list[ProgressRow]:
        """The rows one level below a scope, for ``metric``, most behind first."""
        rows = [r for r in self.rows if r.metric == metric and r.parent_kind == scope_kind
                and r.parent_code == scope_code]  # fmt: skip
        return sorted(rows, key=_behind_first)


def _behind_first(r: ProgressRow) -> tuple[float, float, str]:
    return (-(r.gap_pp if r.gap_pp is not None else -1e9), -(r.denominator or 0), r.scope_code or "")


@dataclass
class _Counts:
    denominator: int = 0
    metrics: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))

    def add(self, denominator: int, metrics: dict[str, int]) -> None:
        self.denominator += denominator
        for k, v in metrics.items():
            self.metrics[k] += v


def _due(plan: Sequence[Target], as_of: date) -> Target | None:
    """The target due next; when every deadline has passed, the last one."""
    upcoming = [t for t in plan if t.deadline >= as_of]
    if upcoming:
        return upcoming[0]
    return plan[-1] if plan else None


def _rows(ref: Ref, kind: str, code: str | None, metrics: Sequence[str], as_of: date, counts: _Counts,
          targets: Sequence[Target], viewer: Scope) -> list[ProgressRow]:  # fmt: skip
    """One scope's rows, a row per metric (its target chain, parent and name found once for all of them)."""
    chain = target_chain(ref, kind, code, viewer)
    parent = parent_of(ref, kind, code) if code is not None else (None, None)
    name, level, d = name_of(ref, kind, code), LEVELS[kind], counts.denominator
    rows = []
    for metric in metrics:
        n = counts.metrics[metric]
        exact = n / d if d else None
        plan = schedule(targets, chain, metric)
        due = _due(plan, as_of)
        gap_pp = gap_count = behind = None
        if due is not None and exact is not None and due.share is not None:
            gap_pp = round((due.share - exact) * 100, 2)
            gap_count = max(0, math.ceil(due.share * d - 1e-9) - n)
            missed = [t for t in plan if t.deadline < as_of and t.share is not None and exact < t.share - 1e-12]
            behind = missed[0].deadline if missed else None
        rows.append(ProgressRow(
            scope_kind=kind, scope_code=code, scope_name=name, level=level, metric=metric,
            as_of=as_of, count=n, denominator=d, share=round(exact, 4) if exact is not None else None,
            target_share=due.share if due else None, target_deadline=due.deadline if due else None, gap_pp=gap_pp,
            gap_count=gap_count, behind_since=behind,
            target_scope=(f"{due.scope_kind}:{due.scope_code}" if due.scope_code else due.scope_kind) if due else None,
            parent_kind=parent[0], parent_code=parent[1],
        ))  # fmt: skip
    return rows


def scanned_counts(session: Session, day: date, conditions: Sequence[ColumnElement[bool]],
                   metrics: Sequence[str]) -> list[tuple[Any, ...]]:  # fmt: skip
    """Rows (basin_id, sub_basin_id, river_id, admin_area_id, denominator, *counts of ``metrics``) of every
    location with outfalls in the denominator at the end of ``day``: one grouped scan of the milestones.
    """
    m = MILESTONES.c
    columns = [m.basin_id, m.sub_basin_id, m.river_id, m.admin_area_id]
    query = (
        select(*columns, func.count(), *(func.count().filter(MILESTONE_OF[k] <= day) for k in metrics))
        .where(*live_on(day), *conditions)
        .group_by(*columns)
    )
    return [tuple(r) for r in session.execute(query)]


def progress(
    session: Session,
    *,
    scope: Scope,
    by: str = "basin",
    as_of: date | None = None,
    defaults: Sequence[TargetDefault] = (),
    metrics: Sequence[str] = METRICS,
) -> ProgressReport:
    """Progress of every scope on one axis (``basin``: basins, sub-basins, rivers; ``area``: provinces,
    cities, counties) and the deployment total, on every metric, as of the end of ``as_of`` (default today),
    counting only the outfalls ``scope`` may see.

    Raises:
        InvalidInput: an unknown axis or metric, or an as-of date in the future.
    """
    if by not in AXES:
        raise InvalidInput(f"unknown grouping {by!r}; use basin or area", field="by", value=by)
    axis: Axis = "basin" if by == "basin" else "area"
    for metric in metrics:
        check_metric(metric)
    day = check_as_of(as_of)
    conditions = milestone_conditions(scope)
    moved = days_conditions(session, conditions)
    if moved is None:  # the scope needs more than the location: count the milestones themselves
        grouped = scanned_counts(session, day, conditions, metrics)
    else:
        grouped = located_counts(session, day, moved, metrics)
    ref = load_ref(session)
    totals: dict[tuple[str, str | None], _Counts] = defaultdict(_Counts)
    totals[("all", None)] = _Counts()
    unplaced = 0
    for basin_id, sub_basin_id, river_id, area_id, denominator, *values in grouped:
        counts = dict(zip(metrics, values, strict=True))
        keys: list[tuple[str, str | None]] = [("all", None)]
        keys += scope_keys(ref, axis, basin_id, sub_basin_id, river_id, area_id)
        if len(keys) == 1:
            unplaced += denominator
        for key in keys:
            totals[key].add(denominator, counts)
    targets = targets_in_force(session, day, defaults)
    order = {k: i for i, k in enumerate(LEVELS)}
    rows = [
        row
        for (kind, code), counts in sorted(totals.items(), key=lambda kv: (LEVELS[kv[0][0]], order[kv[0][0]],
                                                                             kv[0][1] or ""))
        for row in _rows(ref, kind, code, metrics, day, counts, targets, scope)
    ]  # fmt: skip
    return ProgressReport(as_of=day, by=axis, rows=rows, unplaced=unplaced)
