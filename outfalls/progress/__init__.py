"""Progress against the 2023/2024/2025 targets (目标任务), as of any date: counts, shares, the target due next
and the gap, by basin → sub-basin → river and by province → city → county; targets as data with history;
the monthly trend; and the dashboard's vector tiles. Pages, the JSON API, the CLI and the printed report all
call this module, so they never disagree.

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
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from outfalls import clock
from outfalls.config import PROGRESS_METRICS, TargetDefault
from outfalls.errors import InvalidInput, NotFound, PermissionDenied
from outfalls.models import AdminArea, Basin, Outfall, OutfallMilestone, ProgressTarget, River
from outfalls.scope import Scope, area_prefix
from outfalls.types import AdminLevel, BasinLevel, OutfallStatus

Axis = Literal["basin", "area"]
AXES: tuple[Axis, ...] = ("basin", "area")
METRICS = PROGRESS_METRICS
# Target scopes: the whole deployment, a basin, a sub-basin, a river, or an administrative area (GB/T 2260).
TARGET_SCOPE_KINDS = ("all", "basin", "sub_basin", "river", "area")
LEVELS = {"all": 0, "basin": 1, "province": 1, "sub_basin": 2, "city": 2, "river": 3, "county": 3}
ALL_NAME = "全部"
_M = OutfallMilestone.__table__
_MILESTONE_OF = {
    "surveyed": _M.c.surveyed_on,
    "sampled": _M.c.sampled_on,
    "traced": _M.c.traced_on,
    "remediating": _M.c.remediating_on,
    "remediated": _M.c.remediated_on,
    "closed": _M.c.closed_on,
}
_FOREVER = date(1900, 1, 1)  # when the configured national defaults take effect


def today() -> date:
    """The default as-of day: the programme's calendar day."""
    return clock.today()


# -- targets ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Target:
    """One version of a target; ``id`` is None for a national default from the configuration."""

    scope_kind: str
    scope_code: str | None
    metric: str
    deadline: date
    share: float | None  # None: withdrawn
    effective_on: date
    note: str | None
    actor: str
    recorded_at: datetime | None
    id: int | None = None

    @property
    def key(self) -> tuple[str, str | None, str, date]:
        """What a later version replaces: the same scope, metric and deadline."""
        return (self.scope_kind, self.scope_code, self.metric, self.deadline)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for the API and the CLI."""
        return {
            "id": self.id, "scope_kind": self.scope_kind, "scope_code": self.scope_code, "metric": self.metric,
            "deadline": self.deadline.isoformat(), "share": self.share, "effective_on": self.effective_on.isoformat(),
            "note": self.note, "actor": self.actor,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
        }  # fmt: skip


def _target(t: ProgressTarget) -> Target:
    return Target(t.scope_kind, t.scope_code, t.metric, t.deadline, t.share, t.effective_on, t.note, t.actor,
                  t.recorded_at, t.id)  # fmt: skip


def _default(d: TargetDefault) -> Target:
    return Target("all", None, d.metric, d.deadline, d.share, _FOREVER, None, "config.toml", None)


def check_metric(metric: str) -> str:
    """``metric`` if it is one progress counts.

    Raises:
        InvalidInput: an unknown metric.
    """
    if metric not in METRICS:
        raise InvalidInput(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}", field="metric", value=metric)
    return metric


def scope_name(session: Session, scope_kind: str, scope_code: str | None) -> str:
    """The name of a target scope.

    Raises:
        InvalidInput: an unknown scope kind, a code missing for a scope that needs one, or one given for ``all``.
        NotFound: no basin, sub-basin, river or area with that code.
    """
    if scope_kind not in TARGET_SCOPE_KINDS:
        raise InvalidInput(
            f"unknown scope kind {scope_kind!r}; use one of {', '.join(TARGET_SCOPE_KINDS)}",
            field="scope_kind", value=scope_kind,
        )  # fmt: skip
    if scope_kind == "all":
        if scope_code:
            raise InvalidInput("a target for the whole deployment takes no scope code", field="scope_code")
        return ALL_NAME
    if not scope_code:
        raise InvalidInput(f"a {scope_kind} target needs a scope code", field="scope_code")
    name: str | None
    if scope_kind in ("basin", "sub_basin"):
        level = BasinLevel.BASIN if scope_kind == "basin" else BasinLevel.SUB_BASIN
        name = session.scalar(select(Basin.name).where(Basin.code == scope_code, Basin.level == level))
    elif scope_kind == "river":
        name = session.scalar(select(River.name).where(River.code == scope_code))
    else:
        name = session.scalar(select(AdminArea.name).where(AdminArea.code == scope_code))
    if name is None:
        raise NotFound(f"no {scope_kind.replace('_', '-')} with code {scope_code!r}", entity=scope_kind, id=scope_code)
    return name


def add_target(
    session: Session,
    *,
    scope_kind: str,
    scope_code: str | None,
    metric: str,
    deadline: date,
    share: float | None,
    actor: str,
    scope: Scope,
    effective_on: date | None = None,
    note: str | None = None,
) -> Target:
    """Set (or, with ``share`` None, withdraw) a target from ``effective_on`` (default today) on. Earlier as-of
    dates keep the version then in force.

    Raises:
        InvalidInput: an unknown scope kind or metric, a share outside 0..1, or a missing code.
        NotFound: no basin, river or area with that code.
        PermissionDenied: the actor's scope does not cover the target's scope (only a national administrator
            sets targets for the whole deployment, basins and rivers).
    """
    scope_code = (scope_code or "").strip() or None
    scope_name(session, scope_kind, scope_code)
    check_metric(metric)
    if share is not None and not (0 <= share <= 1) or (share is not None and math.isnan(share)):
        raise InvalidInput(f"a target share must be between 0 and 100 %, not {share * 100:g} %", field="share")
    if scope_kind == "area":
        if not scope.covers_area(str(scope_code)):
            raise PermissionDenied("this area is outside your scope", field="scope_code")
    elif not scope.is_national:
        raise PermissionDenied("only a national administrator sets targets beyond an administrative area")
    row = ProgressTarget(
        scope_kind=scope_kind, scope_code=scope_code, metric=metric, deadline=deadline, share=share,
        effective_on=effective_on or today(), note=(note or "").strip() or None, actor=actor,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.refresh(row)
    return _target(row)


def target_history(session: Session, defaults: Sequence[TargetDefault] = ()) -> list[Target]:
    """Every version of every target, the configured national defaults first, then by scope, metric, deadline
    and the order they were set.
    """
    rows = session.scalars(
        select(ProgressTarget).order_by(
            ProgressTarget.scope_kind, ProgressTarget.scope_code, ProgressTarget.metric, ProgressTarget.deadline,
            ProgressTarget.effective_on, ProgressTarget.id,
        )
    )  # fmt: skip
    return [_default(d) for d in defaults] + [_target(t) for t in rows]


def targets_in_force(session: Session, as_of: date, defaults: Sequence[TargetDefault] = ()) -> list[Target]:
    """The targets in force on ``as_of``: for each scope, metric and deadline the latest version effective by
    then (the configured national defaults are effective from the start); withdrawn ones are left out.
    """
    latest: dict[tuple[str, str | None, str, date], Target] = {}
    for t in [_default(d) for d in defaults] + [
        _target(t)
        for t in session.scalars(
            select(ProgressTarget)
            .where(ProgressTarget.effective_on <= as_of)
            .order_by(ProgressTarget.effective_on, ProgressTarget.id)
        )
    ]:
        latest[t.key] = t
    return sorted((t for t in latest.values() if t.share is not None), key=lambda t: (t.metric, t.deadline))


# -- progress -----------------------------------------------------------------------------------------------
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


@dataclass(frozen=True, slots=True)
class _BasinRef:
    id: int
    code: str
    name: str
    name_en: str | None
    level: BasinLevel
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class _RiverRef:
    id: int
    code: str
    name: str
    basin_id: int | None
    sub_basin_id: int | None


@dataclass(frozen=True, slots=True)
class _AreaRef:
    id: int
    code: str
    name: str
    level: AdminLevel
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class _Ref:
    """Reference data needed to name scopes and walk up their hierarchies (no geometry: it is not needed)."""

    basins: dict[int, _BasinRef]
    rivers: dict[int, _RiverRef]
    areas: dict[int, _AreaRef]
    area_by_code: dict[str, _AreaRef]
    basin_by_code: dict[str, _BasinRef]
    river_by_code: dict[str, _RiverRef]


def _ref(session: Session) -> _Ref:
    basins = {
        r.id: _BasinRef(r.id, r.code, r.name, r.name_en, BasinLevel(r.level), r.parent_id)
        for r in session.execute(select(Basin.id, Basin.code, Basin.name, Basin.name_en, Basin.level, Basin.parent_id))
    }
    rivers = {
        r.id: _RiverRef(r.id, r.code, r.name, r.basin_id, r.sub_basin_id)
        for r in session.execute(select(River.id, River.code, River.name, River.basin_id, River.sub_basin_id))
    }
    areas = {
        r.id: _AreaRef(r.id, r.code, r.name, AdminLevel(r.level), r.parent_id)
        for r in session.execute(select(AdminArea.id, AdminArea.code, AdminArea.name, AdminArea.level,
                                        AdminArea.parent_id))
    }  # fmt: skip
    return _Ref(basins, rivers, areas, {a.code: a for a in areas.values()}, {b.code: b for b in basins.values()},
                {r.code: r for r in rivers.values()})  # fmt: skip


_LOCATED = ("basin_id", "sub_basin_id", "river_id", "admin_area_id")


def _onto_milestones(element: Any, **_kw: Any) -> Any:
    if getattr(element, "table", None) is Outfall.__table__ and element.name in _LOCATED:
        return _M.c[element.name]
    return None


def _milestone_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's conditions on ``outfalls`` rewritten onto ``outfall_milestones`` (same location columns)."""
    result: list[ColumnElement[bool]] = []
    for cond in scope.conditions():
        used = {getattr(e, "name", None) for e in iterate(cond) if getattr(e, "table", None) is Outfall.__table__}
        if used <= set(_LOCATED):
            result.append(replacement_traverse(cond, {}, _onto_milestones))
        else:  # a condition on another column of the outfall: look it up
            result.append(_M.c.outfall_id.in_(select(Outfall.id).where(cond)))
    return result


def _live(as_of: date) -> list[ColumnElement[bool]]:
    m = _M.c
    return [
        m.found_on <= as_of,
        or_(m.rejected_on.is_(None), m.rejected_on > as_of),
        or_(m.merged_on.is_(None), m.merged_on > as_of),
    ]


def _area_chain(ref: _Ref, area_id: int | None) -> list[_AreaRef]:
    """The area and its ancestors, most detailed first."""
    chain: list[_AreaRef] = []
    seen: set[int] = set()
    while area_id is not None and area_id in ref.areas and area_id not in seen:
        seen.add(area_id)
        area = ref.areas[area_id]
        chain.append(area)
        area_id = area.parent_id
    return chain


_AREA_KINDS = {AdminLevel.PROVINCE: "province", AdminLevel.CITY: "city", AdminLevel.COUNTY: "county"}


def _scope_keys(ref: _Ref, by: Axis, basin_id: int | None, sub_basin_id: int | None, river_id: int | None,
                area_id: int | None) -> list[tuple[str, str]]:  # fmt: skip
    keys: list[tuple[str, str]] = []
    if by == "basin":
        if basin_id in ref.basins:
            keys.append(("basin", ref.basins[basin_id].code))
        if sub_basin_id in ref.basins:
            keys.append(("sub_basin", ref.basins[sub_basin_id].code))
        if river_id in ref.rivers:
            keys.append(("river", ref.rivers[river_id].code))
    else:
        for area in _area_chain(ref, area_id):
            kind = _AREA_KINDS.get(area.level)
            if kind:
                keys.append((kind, area.code))
    return keys


def _parent(ref: _Ref, kind: str, code: str) -> tuple[str, str | None]:
    if kind in ("basin", "province"):
        return ("all", None)
    if kind == "sub_basin":
        parent = ref.basins.get(ref.basin_by_code[code].parent_id or -1)
        return ("basin", parent.code) if parent else ("all", None)
    if kind == "river":
        river = ref.river_by_code[code]
        sub = ref.basins.get(river.sub_basin_id or -1)
        if sub is not None:
            return ("sub_basin", sub.code)
        basin = ref.basins.get(river.basin_id or -1)
        return ("basin", basin.code) if basin else ("all", None)
    for area in _area_chain(ref, ref.area_by_code[code].id)[1:]:
        parent_kind = _AREA_KINDS.get(area.level)
        if parent_kind:
            return (parent_kind, area.code)
    return ("all", None)


def _name(ref: _Ref, kind: str, code: str | None) -> str:
    if kind == "all" or code is None:
        return ALL_NAME
    if kind in ("basin", "sub_basin"):
        return ref.basin_by_code[code].name
    if kind == "river":
        return ref.river_by_code[code].name
    return ref.area_by_code[code].name


def _target_chain(ref: _Ref, kind: str, code: str | None, viewer: Scope) -> list[tuple[str, str | None]]:
    """Target scopes that apply to a row, most specific first; the deployment last."""
    chain: list[tuple[str, str | None]] = []
    if kind in ("basin", "sub_basin", "river") and code is not None:
        if kind == "river":
            river = ref.river_by_code[code]
            chain.append(("river", code))
            for bid in (river.sub_basin_id, river.basin_id):
                if bid in ref.basins:
                    b = ref.basins[bid]
                    chain.append((b.level.value, b.code))
        else:
            b = ref.basin_by_code[code]
            chain.append((b.level.value, b.code))
            if b.parent_id in ref.basins:
                chain.append(("basin", ref.basins[b.parent_id].code))
    elif kind in ("province", "city", "county") and code is not None:
        chain += [("area", a.code) for a in _area_chain(ref, ref.area_by_code[code].id)]
    if kind not in ("province", "city", "county") and len(viewer.area_codes) == 1:
        # a provincial leader's basins (and total) follow the province's targets
        area = ref.area_by_code.get(viewer.area_codes[0])
        if area is not None:
            chain += [("area", a.code) for a in _area_chain(ref, area.id)]
    chain.append(("all", None))
    return chain


def schedule(targets: Sequence[Target], chain: Sequence[tuple[str, str | None]], metric: str) -> list[Target]:
    """The deadlines that apply to a scope for ``metric``: every deadline set on the scope or above it, each
    with the share set by the most specific scope that names it; earliest first.
    """
    rank = {key: i for i, key in enumerate(chain)}
    best: dict[date, Target] = {}
    for t in targets:
        where = rank.get((t.scope_kind, t.scope_code))
        if t.metric != metric or where is None:
            continue
        current = best.get(t.deadline)
        if current is None or where < rank[(current.scope_kind, current.scope_code)]:
            best[t.deadline] = t
    return [best[d] for d in sorted(best)]


def _due(plan: Sequence[Target], as_of: date) -> Target | None:
    """The target due next; when every deadline has passed, the last one."""
    upcoming = [t for t in plan if t.deadline >= as_of]
    if upcoming:
        return upcoming[0]
    return plan[-1] if plan else None


def _row(ref: _Ref, kind: str, code: str | None, metric: str, as_of: date, counts: _Counts,
         targets: Sequence[Target], viewer: Scope) -> ProgressRow:  # fmt: skip
    n, d = counts.metrics[metric], counts.denominator
    exact = n / d if d else None
    plan = schedule(targets, _target_chain(ref, kind, code, viewer), metric)
    due = _due(plan, as_of)
    gap_pp = gap_count = behind = None
    if due is not None and exact is not None and due.share is not None:
        gap_pp = round((due.share - exact) * 100, 2)
        gap_count = max(0, math.ceil(due.share * d - 1e-9) - n)
        missed = [t for t in plan if t.deadline < as_of and t.share is not None and exact < t.share - 1e-12]
        behind = missed[0].deadline if missed else None
    parent = _parent(ref, kind, code) if code is not None else (None, None)
    return ProgressRow(
        scope_kind=kind, scope_code=code, scope_name=_name(ref, kind, code), level=LEVELS[kind], metric=metric,
        as_of=as_of, count=n, denominator=d, share=round(exact, 4) if exact is not None else None,
        target_share=due.share if due else None, target_deadline=due.deadline if due else None, gap_pp=gap_pp,
        gap_count=gap_count, behind_since=behind,
        target_scope=(f"{due.scope_kind}:{due.scope_code}" if due.scope_code else due.scope_kind) if due else None,
        parent_kind=parent[0], parent_code=parent[1],
    )  # fmt: skip


def check_as_of(as_of: date | None) -> date:
    """The as-of day (today when None).

    Raises:
        InvalidInput: a day after tomorrow (nothing has happened yet) or before 1990.
    """
    day = as_of or today()
    if day > today() + timedelta(days=1):
        raise InvalidInput(f"the as-of date {day} is in the future", field="as_of", value=day.isoformat())
    if day.year < 1990:
        raise InvalidInput(f"the as-of date {day} is before the programme", field="as_of", value=day.isoformat())
    return day


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
    m = _M.c
    columns = [m.basin_id, m.sub_basin_id, m.river_id, m.admin_area_id]
    query = (
        select(*columns, func.count(), *(func.count().filter(_MILESTONE_OF[k] <= day) for k in metrics))
        .where(*_live(day), *_milestone_conditions(scope))
        .group_by(*columns)
    )
    ref = _ref(session)
    totals: dict[tuple[str, str | None], _Counts] = defaultdict(_Counts)
    totals[("all", None)] = _Counts()
    unplaced = 0
    for basin_id, sub_basin_id, river_id, area_id, denominator, *values in session.execute(query):
        counts = dict(zip(metrics, values, strict=True))
        keys: list[tuple[str, str | None]] = [("all", None)]
        keys += _scope_keys(ref, axis, basin_id, sub_basin_id, river_id, area_id)
        if len(keys) == 1:
            unplaced += denominator
        for key in keys:
            totals[key].add(denominator, counts)
    targets = targets_in_force(session, day, defaults)
    order = {k: i for i, k in enumerate(LEVELS)}
    rows = [
        _row(ref, kind, code, metric, day, counts, targets, scope)
        for (kind, code), counts in sorted(totals.items(), key=lambda kv: (LEVELS[kv[0][0]], order[kv[0][0]],
                                                                             kv[0][1] or ""))
        for metric in metrics
    ]  # fmt: skip
    return ProgressReport(as_of=day, by=axis, rows=rows, unplaced=unplaced)


def scope_kind_of(session: Session, code: str) -> str:
    """The row kind (basin, sub_basin, river, province, city, county) of a scope code.

    Raises:
        NotFound: no basin, river or area has this code.
    """
    basin = session.scalar(select(Basin.level).where(Basin.code == code))
    if basin is not None:
        return BasinLevel(basin).value
    if session.scalar(select(River.id).where(River.code == code)) is not None:
        return "river"
    level = session.scalar(select(AdminArea.level).where(AdminArea.code == code))
    if level is not None and AdminLevel(level) in _AREA_KINDS:
        return _AREA_KINDS[AdminLevel(level)]
    raise NotFound(f"no basin, river or area with code {code!r}", entity="scope", id=code)


def _within(session: Session, kind: str, code: str | None) -> list[ColumnElement[bool]]:
    """Conditions on ``outfall_milestones`` keeping one row scope (the deployment when ``kind`` is all)."""
    m = _M.c
    if kind == "all" or code is None:
        return []
    if kind in ("basin", "sub_basin"):
        bid = select(Basin.id).where(Basin.code == code).scalar_subquery()
        return [or_(m.basin_id == bid, m.sub_basin_id == bid)]
    if kind == "river":
        return [m.river_id == select(River.id).where(River.code == code).scalar_subquery()]
    return [m.admin_area_id.in_(select(AdminArea.id).where(AdminArea.code.like(area_prefix(code) + "%")))]


# -- trend --------------------------------------------------------------------------------------------------
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
    m = _M.c
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
        reached = _MILESTONE_OF[k]
        keys.append((k, 1, month(func.greatest(m.found_on, reached), m.found_on, reached)))
        keys.append((k, -1, month(func.greatest(m.found_on, reached, gone), m.found_on, reached, gone)))
    cond = [*_milestone_conditions(scope), *_within(session, scope_kind, scope_code)]
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
    ref = _ref(session)
    targets = targets_in_force(session, day, defaults)
    chain = _target_chain(ref, scope_kind, scope_code, scope)
    return Trend(scope_kind, scope_code, _name(ref, scope_kind, scope_code), day, points,
                 {k: schedule(targets, chain, k) for k in metrics})  # fmt: skip


# -- vector tiles -------------------------------------------------------------------------------------------
def _state_as_of(day: date) -> ColumnElement[str]:
    m = _M.c
    whens = [(m.merged_on <= day, OutfallStatus.MERGED.value), (m.rejected_on <= day, OutfallStatus.REJECTED.value)]
    for state, col in (("closed", m.closed_on), ("remediated", m.remediated_on), ("remediating", m.remediating_on),
                       ("traced", m.traced_on), ("surveyed", m.surveyed_on)):  # fmt: skip
        whens.append((col <= day, state))
    return case(*whens, else_=OutfallStatus.CANDIDATE.value)


AREA_CLUSTERS_BELOW_ZOOM = 9  # below this zoom a tile counts outfalls per administrative area


def outfall_tile(
    session: Session,
    z: int,
    x: int,
    y: int,
    *,
    scope: Scope,
    as_of: date | None = None,
    state: str | None = None,
    within: tuple[str, str | None] = ("all", None),
    cluster_below_zoom: int = 10,
) -> bytes:
    """One Mapbox vector tile (layer ``outfalls``) of the outfalls ``scope`` may see, made by ``ST_AsMVT``.

    From ``cluster_below_zoom`` on each outfall is a point with ``id``, ``name`` and ``state``. Below it outfalls
    are clustered on a 64 × 64 grid per tile, and below ``AREA_CLUSTERS_BELOW_ZOOM`` counted per (most detailed)
    administrative area at its centroid, from the narrow milestones table: points with ``n`` and the most common
    ``state``, so a tile stays small and quick at national scale. With ``as_of`` the state is the one of that day
    and outfalls not yet found are left out; rejected and merged outfalls are left out unless ``state`` asks for
    them.

    Raises:
        NotFound: a tile outside the zoom range 0..22 or its grid.
        InvalidInput: an unknown state, or an as-of date in the future.
    """
    if not (0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"no tile {z}/{x}/{y}", entity="tile", id=f"{z}/{x}/{y}")
    if state is not None and state not in {s.value for s in OutfallStatus}:
        raise InvalidInput(f"unknown state {state!r}", field="state", value=state)
    day = check_as_of(as_of) if as_of is not None else None
    env = func.ST_TileEnvelope(z, x, y)
    box = func.ST_Transform(func.ST_TileEnvelope(z, x, y, literal_column("margin => 0.015625")), 4490)  # + 64 px
    if z < min(AREA_CLUSTERS_BELOW_ZOOM, cluster_below_zoom):
        inner = _area_clusters(session, env, box, scope=scope, day=day or today(), state=state, within=within)
    else:
        inner = _outfall_points(session, z, env, box, scope=scope, day=day, state=state, within=within,
                                clustered=z < cluster_below_zoom)  # fmt: skip
    t = inner.subquery("t")
    tile = session.scalar(select(func.ST_AsMVT(literal_column("t.*"), "outfalls", 4096, "geom")).select_from(t))
    return bytes(tile or b"")


def _state_filter(status: Any, state: str | None) -> ColumnElement[bool]:
    if state is not None:
        return cast(ColumnElement[bool], status == state)
    return cast(ColumnElement[bool], status.not_in([OutfallStatus.REJECTED.value, OutfallStatus.MERGED.value]))


def _area_clusters(session: Session, env: Any, box: Any, *, scope: Scope, day: date, state: str | None,
                   within: tuple[str, str | None]) -> Any:  # fmt: skip
    m = _M.c
    status = _state_as_of(day)
    # counted per area and state first (a hash aggregate, no sort of a million states), then per area
    per_state = (
        select(m.admin_area_id, status.label("state"), func.count().label("n"))
        .where(m.found_on <= day, _state_filter(status, state), *_milestone_conditions(scope),
               *_within(session, *within))
        .group_by(m.admin_area_id, status)
        .subquery()
    )  # fmt: skip
    counts = (
        select(per_state.c.admin_area_id, func.sum(per_state.c.n).cast(Integer).label("n"),
               _first(func.array_agg(aggregate_order_by(per_state.c.state, per_state.c.n.desc()))).label("state"))
        .group_by(per_state.c.admin_area_id)
        .subquery()
    )  # fmt: skip
    centre = func.ST_Transform(func.ST_Centroid(AdminArea.geom), 3857)
    return (
        select(func.ST_AsMVTGeom(centre, env, 4096, 64, True).label("geom"), counts.c.n, counts.c.state)
        .select_from(counts.join(AdminArea, AdminArea.id == counts.c.admin_area_id))
        .where(AdminArea.geom.op("&&")(box), func.ST_Intersects(func.ST_Centroid(AdminArea.geom), box))
    )


def _first(array: Any) -> Any:
    """The first element of a SQL array of text."""
    return type_coerce(array, ARRAY(String))[1]


def _outfall_points(session: Session, z: int, env: Any, box: Any, *, scope: Scope, day: date | None,
                    state: str | None, within: tuple[str, str | None], clustered: bool) -> Any:  # fmt: skip
    o = Outfall.__table__.c
    cond: list[Any] = [o.geom.op("&&")(box), *scope.conditions()]
    if within[0] != "all":
        cond.append(o.id.in_(select(_M.c.outfall_id).where(*_within(session, *within))))
    if day is not None:
        # one index lookup per outfall in the tile: the tile's few outfalls, not the whole milestones table
        found = _M.c.found_on <= day
        status: Any = select(case((found, _state_as_of(day)))).where(_M.c.outfall_id == o.id).scalar_subquery()
        cond.append(status.is_not(None))
    else:
        status = o.status
    cond.append(_state_filter(status, state))
    if not clustered:
        return select(
            func.ST_AsMVTGeom(func.ST_Transform(o.geom, 3857), env, 4096, 64, True).label("geom"),
            o.id.label("id"), o.name.label("name"), status.label("state"),
        ).where(*cond)  # fmt: skip
    cell = 360.0 / 2**z / 64  # degrees: snapping before projecting keeps the transform to one per cluster
    gx, gy = func.floor(func.ST_X(o.geom) / cell), func.floor(func.ST_Y(o.geom) / cell)
    # per cell and state first (a hash aggregate), then per cell with the most common state
    per_state = (
        select(gx.label("gx"), gy.label("gy"), status.label("state"), func.count().label("n"),
               func.sum(func.ST_X(o.geom)).label("sx"), func.sum(func.ST_Y(o.geom)).label("sy"))
        .where(*cond)
        .group_by(gx, gy, status)
        .subquery()
    )  # fmt: skip
    c = per_state.c
    n = func.sum(c.n)
    centre = func.ST_SetSRID(func.ST_MakePoint(func.sum(c.sx) / n, func.sum(c.sy) / n), 4490)
    return select(
        func.ST_AsMVTGeom(func.ST_Transform(centre, 3857), env, 4096, 64, True).label("geom"),
        n.cast(Integer).label("n"),
        _first(func.array_agg(aggregate_order_by(c.state, c.n.desc()))).label("state"),
    ).group_by(c.gx, c.gy)


# -- helpers for the dashboard and the printed report --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScopeStep:
    """One step of a drill-down path."""

    kind: str
    code: str | None
    name: str
    name_en: str | None


def scope_path(session: Session, scope_kind: str, scope_code: str | None) -> list[ScopeStep]:
    """The drill-down path from the deployment to a scope (basin → sub-basin → river, province → city → county).

    Raises:
        NotFound: no basin, river or area of that kind with that code.
    """
    if scope_kind == "all" or scope_code is None:
        return [ScopeStep("all", None, ALL_NAME, None)]
    if scope_kind_of(session, scope_code) != scope_kind:
        raise NotFound(f"no {scope_kind.replace('_', '-')} with code {scope_code!r}", entity=scope_kind, id=scope_code)
    ref = _ref(session)
    steps: list[ScopeStep] = []
    kind: str | None = scope_kind
    code: str | None = scope_code
    while kind is not None and kind != "all" and code is not None:
        name_en = ref.basin_by_code[code].name_en if kind in ("basin", "sub_basin") else None
        steps.append(ScopeStep(kind, code, _name(ref, kind, code), name_en))
        kind, code = _parent(ref, kind, code)
    steps.append(ScopeStep("all", None, ALL_NAME, None))
    return steps[::-1]


CHILD_KIND = {"basin": {"all": "basin", "basin": "sub_basin", "sub_basin": "river"},
              "area": {"all": "province", "province": "city", "city": "county"}}  # fmt: skip


def axis_of(scope_kind: str) -> Axis | None:
    """The axis a scope kind belongs to (None for the deployment, which is on both)."""
    if scope_kind in ("basin", "sub_basin", "river"):
        return "basin"
    if scope_kind in ("province", "city", "county"):
        return "area"
    return None


def first_day(session: Session, scope: Scope) -> date | None:
    """The day the first outfall ``scope`` may see was found (the start of the as-of range)."""
    found: date | None = session.scalar(select(func.min(_M.c.found_on)).where(*_milestone_conditions(scope)))
    return found


@dataclass(frozen=True, slots=True)
class Outline:
    """A scope's polygon (or river line) as an SVG path in a shared view box."""

    kind: str
    code: str
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class Outlines:
    """Outlines of several scopes: SVG paths in degrees, longitudes scaled by the cosine of the middle latitude
    so that the shapes keep their proportions, with the view box (min x, min y, width, height) that holds them.
    """

    shapes: list[Outline]
    view_box: tuple[float, float, float, float]


def outlines(session: Session, scopes: Sequence[tuple[str, str]], *, tolerance_deg: float = 0.01) -> Outlines:
    """SVG outlines of basins, sub-basins, rivers and administrative areas (for the printed report's map)."""
    parts: list[Any] = []
    for kind, code in scopes:
        if kind in ("basin", "sub_basin"):
            parts.append(select(literal_column(f"'{kind}'").label("kind"), Basin.code, Basin.name, Basin.geom)
                         .where(Basin.code == code))  # fmt: skip
        elif kind == "river":
            parts.append(
                select(literal_column("'river'"), River.code, River.name, River.geom).where(River.code == code)
            )
        elif kind in ("province", "city", "county"):
            parts.append(select(literal_column(f"'{kind}'"), AdminArea.code, AdminArea.name, AdminArea.geom)
                         .where(AdminArea.code == code, AdminArea.geom.is_not(None)))  # fmt: skip
    if not parts:
        return Outlines([], (0.0, 0.0, 1.0, 1.0))
    u = union_all(*parts).subquery()
    mid = select(func.ST_Y(func.ST_Centroid(func.ST_Extent(u.c.geom)))).scalar_subquery()
    scaled = func.ST_Scale(func.ST_SimplifyPreserveTopology(u.c.geom, tolerance_deg), func.cos(func.radians(mid)), 1)
    rows = session.execute(
        select(u.c.kind, u.c.code, u.c.name, func.ST_AsSVG(scaled, 0, 4),
               func.ST_XMin(scaled), func.ST_YMin(scaled), func.ST_XMax(scaled), func.ST_YMax(scaled))
    ).all()  # fmt: skip
    if not rows:
        return Outlines([], (0.0, 0.0, 1.0, 1.0))
    x0, y0 = min(r[4] for r in rows), min(r[5] for r in rows)
    x1, y1 = max(r[6] for r in rows), max(r[7] for r in rows)
    pad = max(x1 - x0, y1 - y0) * 0.03
    # SVG's y grows downwards: ST_AsSVG writes -latitude, so the box starts at -max
    box = (x0 - pad, -y1 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
    return Outlines([Outline(k, c, n, p) for k, c, n, p, *_ in rows], box)
