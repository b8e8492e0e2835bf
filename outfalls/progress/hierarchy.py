"""The scopes progress is counted over: the deployment, basin → sub-basin → river and province → city → county;
their names and parents from the reference data; which scopes an outfall counts in; the SQL conditions on the
milestones table that keep one scope's outfalls; and the as-of day.

An outfall counts in a scope only when it also counts in the scope's parent, so no child ever holds more
outfalls than its parent: a river row under a sub-basin counts the outfalls on that river *and* in that
sub-basin (and its basin), not every outfall near the river.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from outfalls import clock
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import AdminArea, Basin, Outfall, OutfallMilestone, River
from outfalls.scope import Scope, area_prefix
from outfalls.types import AdminLevel, BasinLevel

Axis = Literal["basin", "area"]
AXES: tuple[Axis, ...] = ("basin", "area")
LEVELS = {"all": 0, "basin": 1, "province": 1, "sub_basin": 2, "city": 2, "river": 3, "county": 3}
CHILD_KIND = {"basin": {"all": "basin", "basin": "sub_basin", "sub_basin": "river"},
              "area": {"all": "province", "province": "city", "city": "county"}}  # fmt: skip
ALL_NAME = "全部"
MILESTONES = OutfallMilestone.__table__
MILESTONE_OF = {
    "surveyed": MILESTONES.c.surveyed_on,
    "sampled": MILESTONES.c.sampled_on,
    "traced": MILESTONES.c.traced_on,
    "remediating": MILESTONES.c.remediating_on,
    "remediated": MILESTONES.c.remediated_on,
    "closed": MILESTONES.c.closed_on,
}
AREA_KINDS = {AdminLevel.PROVINCE: "province", AdminLevel.CITY: "city", AdminLevel.COUNTY: "county"}


def today() -> date:
    """The default as-of day: the programme's calendar day."""
    return clock.today()


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


def axis_of(scope_kind: str) -> Axis | None:
    """The axis a scope kind belongs to (None for the deployment, which is on both)."""
    if scope_kind in ("basin", "sub_basin", "river"):
        return "basin"
    if scope_kind in ("province", "city", "county"):
        return "area"
    return None


def check_axis(by: str | None, scope_kind: str = "all") -> Axis:
    """The axis to group by: ``by``, or when it is empty the axis of ``scope_kind`` (basin for the deployment).

    Raises:
        InvalidInput: an unknown axis, or a scope kind that is not on it.
    """
    chosen = by or axis_of(scope_kind) or "basin"
    if chosen not in AXES:
        raise InvalidInput(f"unknown grouping {chosen!r}; use basin or area", field="by", value=chosen)
    axis: Axis = "basin" if chosen == "basin" else "area"
    if axis_of(scope_kind) not in (None, axis):
        raise InvalidInput(f"a {scope_kind} is not on the {axis} axis", field="scope", value=scope_kind)
    return axis


def parse_scope(raw: str | None) -> tuple[str, str | None]:
    """A row scope written ``all`` or ``KIND:CODE`` (``basin:HH``, ``county:610112``) as (kind, code).

    Raises:
        InvalidInput: any other text.
    """
    if not raw or raw == "all":
        return ("all", None)
    kind, _sep, code = raw.partition(":")
    if kind not in LEVELS or kind == "all" or not code:
        raise InvalidInput(
            f"scope must be all or KIND:CODE (basin, sub_basin, river, province, city, county), not {raw!r}",
            field="scope", value=raw,
        )  # fmt: skip
    return (kind, code)


# -- reference data -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BasinRef:
    """A basin or sub-basin, without its geometry."""

    id: int
    code: str
    name: str
    name_en: str | None
    level: BasinLevel
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class RiverRef:
    """A river, without its geometry."""

    id: int
    code: str
    name: str
    basin_id: int | None
    sub_basin_id: int | None


@dataclass(frozen=True, slots=True)
class AreaRef:
    """An administrative area, without its geometry."""

    id: int
    code: str
    name: str
    level: AdminLevel
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class Ref:
    """Reference data needed to name scopes and walk up their hierarchies (no geometry: it is not needed)."""

    basins: dict[int, BasinRef]
    rivers: dict[int, RiverRef]
    areas: dict[int, AreaRef]
    area_by_code: dict[str, AreaRef]
    basin_by_code: dict[str, BasinRef]
    river_by_code: dict[str, RiverRef]


def load_ref(session: Session) -> Ref:
    """The basins, rivers and administrative areas (ids, codes, names, parents)."""
    basins = {
        r.id: BasinRef(r.id, r.code, r.name, r.name_en, BasinLevel(r.level), r.parent_id)
        for r in session.execute(select(Basin.id, Basin.code, Basin.name, Basin.name_en, Basin.level, Basin.parent_id))
    }
    rivers = {
        r.id: RiverRef(r.id, r.code, r.name, r.basin_id, r.sub_basin_id)
        for r in session.execute(select(River.id, River.code, River.name, River.basin_id, River.sub_basin_id))
    }
    areas = {
        r.id: AreaRef(r.id, r.code, r.name, AdminLevel(r.level), r.parent_id)
        for r in session.execute(select(AdminArea.id, AdminArea.code, AdminArea.name, AdminArea.level,
                                        AdminArea.parent_id))
    }  # fmt: skip
    return Ref(basins, rivers, areas, {a.code: a for a in areas.values()}, {b.code: b for b in basins.values()},
               {r.code: r for r in rivers.values()})  # fmt: skip


def area_chain(ref: Ref, area_id: int | None) -> list[AreaRef]:
    """The area and its ancestors, most detailed first."""
    chain: list[AreaRef] = []
    seen: set[int] = set()
    while area_id is not None and area_id in ref.areas and area_id not in seen:
        seen.add(area_id)
        area = ref.areas[area_id]
        chain.append(area)
        area_id = area.parent_id
    return chain


def parent_of(ref: Ref, kind: str, code: str) -> tuple[str, str | None]:
    """The scope one level up (the deployment for a basin or province)."""
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
    for area in area_chain(ref, ref.area_by_code[code].id)[1:]:
        parent_kind = AREA_KINDS.get(area.level)
        if parent_kind:
            return (parent_kind, area.code)
    return ("all", None)


def name_of(ref: Ref, kind: str, code: str | None) -> str:
    """The name of a row scope."""
    if kind == "all" or code is None:
        return ALL_NAME
    if kind in ("basin", "sub_basin"):
        return ref.basin_by_code[code].name
    if kind == "river":
        return ref.river_by_code[code].name
    return ref.area_by_code[code].name


def scope_keys(ref: Ref, by: Axis, basin_id: int | None, sub_basin_id: int | None, river_id: int | None,
               area_id: int | None) -> list[tuple[str, str]]:  # fmt: skip
    """The scopes of one axis an outfall located at these ids counts in, top down. A scope is kept only when
    its parent is (the deployment always is), so every scope's outfalls are among its parent's.
    """
    candidates: list[tuple[str, str]] = []
    if by == "basin":
        if basin_id in ref.basins:
            candidates.append(("basin", ref.basins[basin_id].code))
        if sub_basin_id in ref.basins:
            candidates.append(("sub_basin", ref.basins[sub_basin_id].code))
        if river_id in ref.rivers:
            candidates.append(("river", ref.rivers[river_id].code))
    else:
        for area in reversed(area_chain(ref, area_id)):
            kind = AREA_KINDS.get(area.level)
            if kind:
                candidates.append((kind, area.code))
    kept: set[tuple[str, str | None]] = {("all", None)}
    keys: list[tuple[str, str]] = []
    for key in candidates:
        if parent_of(ref, *key) in kept:
            kept.add(key)
            keys.append(key)
    return keys


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
    if level is not None and AdminLevel(level) in AREA_KINDS:
        return AREA_KINDS[AdminLevel(level)]
    raise NotFound(f"no basin, river or area with code {code!r}", entity="scope", id=code)


# -- SQL conditions on outfall_milestones ---------------------------------------------------------------------
AREA_KIND_NAMES = frozenset(AREA_KINDS.values())


def in_areas_like(pattern: str | ColumnElement[str]) -> ColumnElement[bool]:
    """The milestone rows of the areas whose code matches the ``LIKE`` pattern (a value, or a bound parameter)."""
    return MILESTONES.c.admin_area_id.in_(select(AdminArea.id).where(AdminArea.code.like(pattern)))


def within_scope(session: Session, kind: str, code: str | None) -> list[ColumnElement[bool]]:
    """Conditions on ``outfall_milestones`` keeping the outfalls one row scope counts (none for the
    deployment): the same outfalls as :func:`scope_keys`, so a river keeps only those also in its sub-basin
    and basin.
    """
    m = MILESTONES.c
    if kind == "all" or code is None:
        return []
    if kind in AREA_KIND_NAMES:
        return [in_areas_like(area_prefix(code) + "%")]
    if kind == "river":
        river = session.execute(select(River.id, River.basin_id, River.sub_basin_id).where(River.code == code)).first()
        if river is None:
            return [false()]
        if river.sub_basin_id is not None:
            sub = session.execute(select(Basin.code).where(Basin.id == river.sub_basin_id)).scalar_one()
            return [m.river_id == river.id, *within_scope(session, "sub_basin", sub)]
        return [m.river_id == river.id, *([m.basin_id == river.basin_id] if river.basin_id is not None else [])]
    basin = session.execute(select(Basin.id, Basin.level, Basin.parent_id).where(Basin.code == code)).first()
    if basin is None:
        return [false()]
    if BasinLevel(basin.level) == BasinLevel.BASIN:
        return [m.basin_id == basin.id]
    cond: list[ColumnElement[bool]] = [m.sub_basin_id == basin.id]
    if basin.parent_id is not None:
        cond.append(m.basin_id == basin.parent_id)
    return [and_(*cond)]


_LOCATED = ("basin_id", "sub_basin_id", "river_id", "admin_area_id")


def _onto_milestones(element: Any, **_kw: Any) -> Any:
    if getattr(element, "table", None) is Outfall.__table__ and element.name in _LOCATED:
        return MILESTONES.c[element.name]
    return None


def milestone_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's conditions on ``outfalls`` rewritten onto ``outfall_milestones`` (same location columns)."""
    result: list[ColumnElement[bool]] = []
    for cond in scope.conditions():
        used = {getattr(e, "name", None) for e in iterate(cond) if getattr(e, "table", None) is Outfall.__table__}
        if used <= set(_LOCATED):
            result.append(replacement_traverse(cond, {}, _onto_milestones))
        else:  # a condition on another column of the outfall: look it up
            result.append(MILESTONES.c.outfall_id.in_(select(Outfall.id).where(cond)))
    return result


def live_on(as_of: date) -> list[ColumnElement[bool]]:
    """Conditions on ``outfall_milestones`` keeping the denominator of ``as_of``: found by then, and neither
    rejected nor merged by then.
    """
    m = MILESTONES.c
    return [
        m.found_on <= as_of,
        or_(m.rejected_on.is_(None), m.rejected_on > as_of),
        or_(m.merged_on.is_(None), m.merged_on > as_of),
    ]
