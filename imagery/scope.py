"""Regional scope of the imagery: which cells, orthophotos, marks and verification tasks a user may see and
change. Imagery has no administrative area of its own, so it is placed by its geometry: a cell or a footprint
belongs to every area it overlaps (a cell on a boundary is both sides' work), and, when the scope names basins,
to a basin that is its own or that it overlaps. A mark goes with its cell, a task with its stops (every one of
them). Anything outside the scope is "not found", as for outfalls (``outfalls.scope``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select
from sqlalchemy.dialects import postgresql

from imagery.models import ImageryMark, InterpretationCell, Orthophoto, VerificationStop, VerificationTask
from outfalls.models import AdminArea, Basin
from outfalls.scope import Scope, area_prefix


def _overlaps(geom: Any, scope: Scope, basin_id: Any = None) -> list[ColumnElement[bool]]:
    """Conditions keeping the rows whose ``geom`` overlaps the scope's areas (and basins)."""
    if scope.is_national:
        return []
    if not scope.area_codes:
        return [false()]
    in_area = exists().where(
        or_(*(AdminArea.code.like(area_prefix(c) + "%") for c in scope.area_codes)),
        AdminArea.geom.is_not(None),
        func.ST_Intersects(AdminArea.geom, geom),
    )
    cond: list[ColumnElement[bool]] = [in_area]
    if scope.basin_codes:
        in_basin: ColumnElement[bool] = exists().where(
            Basin.code.in_(scope.basin_codes), func.ST_Intersects(Basin.geom, geom)
        )
        if basin_id is not None:
            in_basin = or_(basin_id.in_(select(Basin.id).where(Basin.code.in_(scope.basin_codes))), in_basin)
        cond.append(in_basin)
    return cond


def cell_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """SQL conditions on ``InterpretationCell`` that keep only what ``scope`` may see."""
    return _overlaps(InterpretationCell.geom, scope, InterpretationCell.basin_id)


def orthophoto_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Orthophoto`` (its valid-pixel footprint) that keep only what ``scope`` may see."""
    return _overlaps(Orthophoto.footprint, scope)


def visible_cells(scope: Scope) -> Select[Any]:
    """The ids of the cells ``scope`` may see."""
    return select(InterpretationCell.id).where(*cell_conditions(scope))


def mark_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """SQL conditions on ``ImageryMark``: marks of the cells ``scope`` may see."""
    if scope.is_national:
        return []
    return [ImageryMark.cell_id.in_(visible_cells(scope))]


def task_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """SQL conditions on ``VerificationTask``: tasks whose every stop lies in cells ``scope`` may see."""
    if scope.is_national:
        return []
    outside = exists().where(
        VerificationStop.task_id == VerificationTask.id,
        ImageryMark.id == VerificationStop.mark_id,
        not_(and_(*mark_conditions(scope))),
    )
    return [not_(outside)]


def sql_filter(column: str, ids: Select[Any], *, is_national: bool) -> str:
    """``column IN (ids)`` as SQL text with literal values, for the hand-written reports (``TRUE`` for the
    national scope). The values are the scope's own codes, quoted by the dialect.
    """
    if is_national:
        return "TRUE"
    compiled = ids.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[no-untyped-call]
    return f"{column} IN ({compiled})"
