"""Interpretation cells: the river corridor of a basin (the river lines buffered by the waterward and landward
widths, DOMAIN.md §4.1), intersected with the footprints of the orthophotos and cut into squares laid in a UTM
grid. Each cell has a status (to do, in progress, done, reviewed) and an analyst; an analyst takes the next cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from imagery.models import CellStatus, InterpretationCell
from imagery.scope import cell_conditions, sql_filter, visible_cells
from outfalls.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from outfalls.models import Basin
from outfalls.scope import Scope

_ZONES = text(
    """
    SELECT CASE WHEN ST_Y(c) >= 0 THEN 32600 ELSE 32700 END + floor((ST_X(c) + 180) / 6)::int + 1 AS srid,
           array_agg(id) AS ids
    FROM (SELECT id, ST_Centroid(footprint) AS c FROM orthophotos) o GROUP BY 1
    """
)
# Rivers are clipped to the imagery (plus the corridor width) before they are buffered: a whole river is
# hundreds of km, and only the stretch under the imagery matters.
_BUILD = text(
    """
    WITH fp AS (SELECT ST_Transform(ST_Union(footprint), :srid) AS g FROM orthophotos WHERE id = ANY(:ids)),
    reach AS (
      SELECT ST_Intersection(ST_Transform(r.geom, :srid), ST_Buffer(fp.g, :width)) AS g
      FROM rivers r, fp
      WHERE (r.basin_id = :basin OR r.sub_basin_id = :basin)
        AND ST_Intersects(r.geom, ST_Transform(ST_Buffer(ST_Envelope(fp.g), :width), 4490))),
    area AS (SELECT ST_Intersection((SELECT ST_Union(ST_Buffer(g, :width)) FROM reach WHERE NOT ST_IsEmpty(g)),
                                    fp.g) AS g FROM fp),
    grid AS (SELECT s.i, s.j, ST_Intersection(s.geom, area.g) AS g
             FROM area, ST_SquareGrid(:cell, area.g) s WHERE area.g IS NOT NULL AND ST_Intersects(s.geom, area.g))
    INSERT INTO interpretation_cells (basin_id, grid_srid, grid_i, grid_j, geom, area_m2, status, version)
    SELECT :basin, :srid, i, j, ST_Multi(ST_CollectionExtract(ST_Transform(g, 4490), 3)), ST_Area(g), 'todo', 1
    FROM grid WHERE ST_Area(g) >= :min_area
    ON CONFLICT (basin_id, grid_srid, grid_i, grid_j)
      DO UPDATE SET geom = EXCLUDED.geom, area_m2 = EXCLUDED.area_m2
    RETURNING (xmax = 0) AS created
    """
)


@dataclass(frozen=True, slots=True)
class CellLayout:
    """What laying out the cells of a basin did."""

    basin: str
    created: int
    updated: int

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {"basin": self.basin, "created": self.created, "updated": self.updated}


def build_cells(session: Session, basin_code: str, *, landward_m: float, waterward_m: float,
                cell_m: float) -> CellLayout:  # fmt: skip
    """Lay out (or extend, after new imagery) the interpretation cells of a basin; cells already there keep
    their status and analyst, and their shape follows the imagery.

    Raises:
        NotFound: no basin with this code.
    """
    basin = session.scalar(select(Basin).where(Basin.code == basin_code))
    if basin is None:
        raise NotFound(f"no basin with code {basin_code!r}", entity="basin", id=basin_code)
    created = updated = 0
    width = landward_m + waterward_m  # the lines are centre lines: the bank lies within waterward_m of them
    for srid, ids in session.execute(_ZONES).all():
        rows = session.execute(_BUILD, {"srid": srid, "ids": list(ids), "basin": basin.id, "width": width,
                                        "cell": cell_m, "min_area": cell_m * cell_m * 0.001}).all()  # fmt: skip
        created += sum(1 for r in rows if r.created)
        updated += sum(1 for r in rows if not r.created)
    return CellLayout(basin_code, created, updated)


def get_cell(session: Session, cell_id: int, *, scope: Scope) -> InterpretationCell:
    """A cell by id, within ``scope``.

    Raises:
        NotFound: no such cell, or one outside the scope (the same message for both).
    """
    cell = session.scalar(
        select(InterpretationCell).where(InterpretationCell.id == cell_id, *cell_conditions(scope))
    )
    if cell is None:
        raise NotFound("interpretation cell does not exist", entity="cell", id=cell_id)
    return cell


@dataclass(frozen=True, slots=True)
class CellOutline:
    """A cell's shape for the map: its GeoJSON geometry and a point inside it where the view opens."""

    geometry: dict[str, Any]
    anchor: tuple[float, float]


def cell_outline(cell: InterpretationCell) -> CellOutline:
    """The cell's geometry as GeoJSON (lon/lat) and a point surely inside it."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import mapping

    shape = to_shape(cell.geom)
    point = shape.representative_point()
    return CellOutline(dict(mapping(shape)), (float(point.x), float(point.y)))


def current_cell(session: Session, *, analyst: str, scope: Scope) -> InterpretationCell | None:
    """The analyst's cell in progress within ``scope``, if any (reads only)."""
    return session.scalar(
        select(InterpretationCell)
        .where(InterpretationCell.analyst == analyst, InterpretationCell.status == CellStatus.IN_PROGRESS,
               *cell_conditions(scope))
        .order_by(InterpretationCell.id)
        .limit(1)
    )  # fmt: skip


def next_cell(session: Session, *, analyst: str, scope: Scope) -> InterpretationCell | None:
    """The analyst's cell in progress, else the next cell to do within ``scope``, which is assigned to them;
    None when all of them are taken. Two analysts asking at once get different cells.
    """
    mine = current_cell(session, analyst=analyst, scope=scope)
    if mine is not None:
        return mine
    cell = session.scalar(
        select(InterpretationCell)
        .where(InterpretationCell.status == CellStatus.TODO, *cell_conditions(scope))
        .order_by(InterpretationCell.basin_id, InterpretationCell.grid_srid, InterpretationCell.grid_j.desc(),
                  InterpretationCell.grid_i)
        .limit(1)
        .with_for_update(skip_locked=True)
    )  # fmt: skip
    if cell is None:
        return None
    cell.status, cell.analyst, cell.started_at = CellStatus.IN_PROGRESS, analyst, datetime.now(UTC)
    session.flush()
    return cell


def finish_cell(session: Session, cell_id: int, *, actor: str, scope: Scope) -> InterpretationCell:
    """The analyst is done with the cell: it waits for review.

    Raises:
        NotFound: no such cell in ``scope``. PermissionDenied: someone else's cell.
        InvalidTransition: not in progress.
    """
    cell = get_cell(session, cell_id, scope=scope)
    if cell.analyst != actor:
        raise PermissionDenied("only the cell's analyst can finish it", id=cell_id)
    if cell.status is not CellStatus.IN_PROGRESS:
        raise InvalidTransition(f"the cell is {cell.status.value}, not in progress", status=cell.status.value)
    cell.status, cell.done_at = CellStatus.DONE, datetime.now(UTC)
    session.flush()
    return cell


def finish_review(session: Session, cell_id: int, *, actor: str, scope: Scope) -> InterpretationCell:
    """The reviewer has decided every mark of the cell: it is reviewed.

    Raises:
        NotFound: no such cell in ``scope``. PermissionDenied: the reviewer is the cell's analyst.
        InvalidTransition: the cell is not done. Conflict: marks still wait for a decision.
    """
    from imagery.models import ImageryMark, MarkReview

    cell = get_cell(session, cell_id, scope=scope)
    if cell.analyst == actor:
        raise PermissionDenied("a cell is reviewed by someone other than its analyst", id=cell_id)
    if cell.status is not CellStatus.DONE:
        raise InvalidTransition(f"the cell is {cell.status.value}: only a done cell is reviewed", status=cell.status)
    waiting = session.scalar(
        select(ImageryMark.id).where(ImageryMark.cell_id == cell_id, ImageryMark.review == MarkReview.PENDING).limit(1)
    )
    if waiting is not None:
        raise Conflict("some marks of this cell still wait for a decision", id=cell_id)
    cell.status, cell.reviewer, cell.reviewed_at = CellStatus.REVIEWED, actor, datetime.now(UTC)
    session.flush()
    return cell


_CELLS_GEOJSON = """
    SELECT coalesce(json_agg(json_build_object(
      'type', 'Feature', 'id', c.id, 'geometry', ST_AsGeoJSON(c.geom, 7)::json,
      'properties', json_build_object('id', c.id, 'status', c.status, 'analyst', c.analyst, 'reviewer', c.reviewer,
                                      'basin', b.code, 'marks', (SELECT count(*) FROM imagery_marks m
                                                                 WHERE m.cell_id = c.id)))
      ORDER BY c.id), '[]'::json)
    FROM interpretation_cells c JOIN basins b ON b.id = c.basin_id
    WHERE (CAST(:cell AS int) IS NULL OR c.id = :cell) AND {scope}
"""


def cells_geojson(session: Session, *, scope: Scope, cell_id: int | None = None) -> dict[str, Any]:
    """The cells of ``scope`` (or one) as a GeoJSON FeatureCollection with status, analyst and mark count."""
    where = sql_filter("c.id", visible_cells(scope), is_national=scope.is_national)
    features = session.scalar(text(_CELLS_GEOJSON.format(scope=where)), {"cell": cell_id})
    return {"type": "FeatureCollection", "features": features or []}


@dataclass(frozen=True, slots=True)
class CellProgress:
    """How many cells are in each status."""

    todo: int
    in_progress: int
    done: int
    reviewed: int

    @property
    def total(self) -> int:
        """All cells."""
        return self.todo + self.in_progress + self.done + self.reviewed


def cell_progress(session: Session, *, scope: Scope) -> CellProgress:
    """Cells of ``scope`` per status."""
    rows = session.execute(
        select(InterpretationCell.status, func.count())
        .where(*cell_conditions(scope))
        .group_by(InterpretationCell.status)
    )
    counts: dict[str, int] = {str(status): int(n) for status, n in rows}
    return CellProgress(**{s.value: int(counts.get(s.value, 0)) for s in CellStatus})
