"""Where survey objects lie, for regional scope: a field record (review items, uploads) or a GPS track belongs to
the areas and basins its geometry touches, so another area's objects are "not found", exactly like its outfalls.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import QueryableAttribute

from outfalls.models import AdminArea, AreaPart, Basin
from outfalls.scope import Scope, area_prefix


def within(geom: QueryableAttribute[Any] | ColumnElement[Any], scope: Scope) -> list[ColumnElement[bool]]:
    """SQL conditions that keep a geometry (a column of the enclosing query) touching ``scope``: one of its
    administrative areas and, when the scope names basins, one of those (the same test intake applies to rows).
    """
    if scope.is_national:
        return []
    if not scope.area_codes:
        return [false()]
    areas = or_(*(AdminArea.code.like(area_prefix(c) + "%") for c in scope.area_codes))
    conditions: list[ColumnElement[bool]] = [
        select(AreaPart.id).join(AdminArea, AdminArea.id == AreaPart.ref_id)
        .where(AreaPart.kind == "admin", areas, func.ST_Intersects(AreaPart.geom, geom)).exists()
    ]  # fmt: skip
    if scope.basin_codes:
        conditions.append(
            select(AreaPart.id).join(Basin, Basin.id == AreaPart.ref_id)
            .where(AreaPart.kind.in_(("basin", "sub_basin")), Basin.code.in_(scope.basin_codes),
                   func.ST_Intersects(AreaPart.geom, geom)).exists()
        )  # fmt: skip
    return conditions


_WITHIN_SQL = (
    "(CAST(:scope_national AS boolean) OR (EXISTS (SELECT 1 FROM area_parts ap JOIN admin_areas a ON a.id = ap.ref_id "
    "WHERE ap.kind = 'admin' AND a.code LIKE ANY(CAST(:scope_prefixes AS text[])) AND ST_Intersects(ap.geom, {geom})) "
    "AND (cardinality(CAST(:scope_basins AS text[])) = 0 OR EXISTS (SELECT 1 FROM area_parts bp "
    "JOIN basins b ON b.id = bp.ref_id WHERE bp.kind IN ('basin', 'sub_basin') "
    "AND b.code = ANY(CAST(:scope_basins AS text[])) AND ST_Intersects(bp.geom, {geom})))))"
)


def within_sql(geom: str) -> str:
    """``within`` for hand-written SQL: a condition on the SQL expression ``geom``, with ``within_params``."""
    return _WITHIN_SQL.format(geom=geom)


def within_params(scope: Scope) -> dict[str, object]:
    """The parameters of ``within_sql`` for ``scope``."""
    return {"scope_national": scope.is_national, "scope_prefixes": [area_prefix(c) + "%" for c in scope.area_codes],
            "scope_basins": list(scope.basin_codes)}  # fmt: skip
