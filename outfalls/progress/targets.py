"""Targets (目标任务) as data: scope (the deployment, a basin, sub-basin, river or administrative area) × metric ×
deadline × share, each change a new version effective from a day, so an earlier as-of date keeps the version
then in force; the configured national defaults under them; and the schedule of deadlines that applies to a
scope.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.config import PROGRESS_METRICS, TargetDefault
from outfalls.errors import InvalidInput, NotFound, PermissionDenied
from outfalls.models import AdminArea, Basin, ProgressTarget, River
from outfalls.progress.hierarchy import ALL_NAME, Ref, area_chain, today
from outfalls.scope import Scope
from outfalls.types import BasinLevel

METRICS = PROGRESS_METRICS
# Target scopes: the whole deployment, a basin, a sub-basin, a river, or an administrative area (GB/T 2260).
TARGET_SCOPE_KINDS = ("all", "basin", "sub_basin", "river", "area")
_FOREVER = date(1900, 1, 1)  # when the configured national defaults take effect


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
            raise InvalidInput("a target for the whole deployment takes no scope code", field="scope_code",
                               reason="no_scope_code")  # fmt: skip
        return ALL_NAME
    if not scope_code:
        raise InvalidInput(f"a {scope_kind} target needs a scope code", field="scope_code", reason="required")
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


def target_chain(ref: Ref, kind: str, code: str | None, viewer: Scope) -> list[tuple[str, str | None]]:
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
        chain += [("area", a.code) for a in area_chain(ref, ref.area_by_code[code].id)]
    if kind not in ("province", "city", "county") and len(viewer.area_codes) == 1:
        # a provincial leader's basins (and total) follow the province's targets
        area = ref.area_by_code.get(viewer.area_codes[0])
        if area is not None:
            chain += [("area", a.code) for a in area_chain(ref, area.id)]
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
