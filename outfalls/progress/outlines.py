"""What the dashboard and the printed report draw around the figures: the drill-down path to a scope, the first
day there is anything to show, and SVG outlines of basins, rivers and areas for the printed map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, func, literal, select, union_all
from sqlalchemy.orm import Session

from outfalls.errors import NotFound
from outfalls.models import AdminArea, Basin, River
from outfalls.progress.hierarchy import (
    ALL_NAME,
    MILESTONES,
    load_ref,
    milestone_conditions,
    name_of,
    parent_of,
    scope_kind_of,
)
from outfalls.progress.milestonedays import days_conditions, first_found
from outfalls.scope import Scope


@dataclass(frozen=True, slots=True)
class ScopeStep:
    """One step of a drill-down path."""

    kind: str
    code: str | None
    name: str
    name_en: str | None


def scopes_extent(session: Session, kind: str, codes: Sequence[str]) -> tuple[float, float, float, float] | None:
    """The bounding box (west, south, east, north) of the basins, rivers or areas of ``kind`` with these codes, so
    a map opens where it will show them instead of moving there once their shapes have come (None: none has a
    shape).
    """
    if not codes:
        return None
    if kind in ("basin", "sub_basin"):
        geom, code = Basin.__table__.c.geom, Basin.__table__.c.code
    elif kind == "river":
        geom, code = River.__table__.c.geom, River.__table__.c.code
    elif kind in ("province", "city", "county"):
        geom, code = AdminArea.__table__.c.geom, AdminArea.__table__.c.code
    else:
        return None
    box = func.ST_Extent(geom)
    row = session.execute(select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))
                          .where(code.in_(list(codes)))).one()  # fmt: skip
    return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def scope_path(session: Session, scope_kind: str, scope_code: str | None) -> list[ScopeStep]:
    """The drill-down path from the deployment to a scope (basin → sub-basin → river, province → city → county).

    Raises:
        NotFound: no basin, river or area of that kind with that code.
    """
    if scope_kind == "all" or scope_code is None:
        return [ScopeStep("all", None, ALL_NAME, None)]
    if scope_kind_of(session, scope_code) != scope_kind:
        raise NotFound(f"no {scope_kind.replace('_', '-')} with code {scope_code!r}", entity=scope_kind, id=scope_code)
    ref = load_ref(session)
    steps: list[ScopeStep] = []
    kind: str | None = scope_kind
    code: str | None = scope_code
    while kind is not None and kind != "all" and code is not None:
        name_en = ref.basin_by_code[code].name_en if kind in ("basin", "sub_basin") else None
        steps.append(ScopeStep(kind, code, name_of(ref, kind, code), name_en))
        kind, code = parent_of(ref, kind, code)
    steps.append(ScopeStep("all", None, ALL_NAME, None))
    return steps[::-1]


def first_day(session: Session, scope: Scope) -> date | None:
    """The day the first outfall ``scope`` may see was found (the start of the as-of range)."""
    conditions = milestone_conditions(scope)
    moved = days_conditions(session, conditions)
    if moved is not None:
        return first_found(session, moved)
    found: date | None = session.scalar(select(func.min(MILESTONES.c.found_on)).where(*conditions))
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
        # every part names its columns: a union takes its column names from its first part, whatever kind it is
        table: type[Basin] | type[River] | type[AdminArea]
        if kind in ("basin", "sub_basin"):
            table, where = Basin, [Basin.code == code]
        elif kind == "river":
            table, where = River, [River.code == code]
        elif kind in ("province", "city", "county"):
            table, where = AdminArea, [AdminArea.code == code, AdminArea.geom.is_not(None)]
        else:
            continue
        parts.append(select(literal(kind, String).label("kind"), table.code.label("code"), table.name.label("name"),
                            table.geom.label("geom")).where(*where))  # fmt: skip
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


def scope_shapes(
    session: Session, scopes: Sequence[tuple[str, str]], *, tolerance_deg: float = 0.005
) -> list[tuple[str, str, str, Any]]:
    """Basins, sub-basins, rivers and administrative areas as (kind, code, name, shapely geometry in degrees),
    simplified for a map; scopes without a geometry are left out.
    """
    from shapely import wkb

    out: list[tuple[str, str, str, Any]] = []
    for kind, code in scopes:
        table: type[Basin] | type[River] | type[AdminArea]
        if kind in ("basin", "sub_basin"):
            table = Basin
        elif kind == "river":
            table = River
        elif kind in ("province", "city", "county"):
            table = AdminArea
        else:
            continue
        row = session.execute(
            select(table.name, func.ST_AsBinary(func.ST_SimplifyPreserveTopology(table.geom, tolerance_deg)))
            .where(table.code == code, table.geom.is_not(None))
        ).first()  # fmt: skip
        if row is not None and row[1] is not None:
            out.append((kind, code, str(row[0]), wkb.loads(bytes(row[1]))))
    return out
