"""The dashboard's vector tiles of outfalls (``ST_AsMVT``): points from a zoom on, clusters on a grid below it
and counts per administrative area at national zooms; the state of each outfall as of any day, read from the
milestones table.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any, cast

from geoalchemy2 import Geometry
from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    Integer,
    String,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from outfalls.catalogue.transitions import state_from_milestones
from outfalls.db.engine import DriverStatement, driver_statement, read_row
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Outfall
from outfalls.progress.hierarchy import (
    AREA_KIND_NAMES,
    MILESTONES,
    check_as_of,
    in_areas_like,
    milestone_conditions,
    today,
    within_scope,
)
from outfalls.progress.statedays import (
    STATE_DAYS,
    TOTAL_DAY,
    counts_as_of,
    counts_behind,
    location_conditions,
    state_days_conditions,
)
from outfalls.scope import Scope, area_prefix
from outfalls.types import CGCS2000, BBox, OutfallStatus

_M = MILESTONES


def _state_as_of(day: Any) -> ColumnElement[str]:
    return state_from_milestones(_M.c, day)


AREA_CLUSTERS_BELOW_ZOOM = 9  # below this zoom a tile counts outfalls per administrative area
# where an area's count is drawn: its centroid, kept with the reference data (migration 0022)
AREA_CENTRES = table("admin_area_centres", column("id", Integer), column("centre", Geometry("POINT", srid=CGCS2000)))


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
    if z < min(AREA_CLUSTERS_BELOW_ZOOM, cluster_below_zoom):
        env = func.ST_TileEnvelope(z, x, y)
        box = func.ST_Transform(func.ST_TileEnvelope(z, x, y, literal_column("margin => 0.015625")), 4490)  # + 64 px
        inner = _area_clusters(session, env, box, scope=scope, day=day or today(), state=state, within=within)
        t = inner.subquery("t")
        tile = session.scalar(select(func.ST_AsMVT(literal_column("t.*"), "outfalls", 4096, "geom")).select_from(t))
        return bytes(tile or b"")
    return _outfall_points(session, z, x, y, scope=scope, day=day, state=state, within=within,
                           clustered=z < cluster_below_zoom)  # fmt: skip


KEPT_TILE_OVERHEAD = 512  # bytes a kept tile costs besides its own: its key (scope, zoom, day …) and cache entry


def kept_tile_bytes(tile: bytes) -> int:
    """What keeping ``tile`` in a tile cache costs in memory: its bytes and its key, so that empty tiles (most tiles
    of a country are empty) count too and a client asking for every tile of a zoom cannot grow the cache beyond its
    bound.
    """
    return len(tile) + KEPT_TILE_OVERHEAD


def area_clusters_extent(
    session: Session, *, scope: Scope, within: tuple[str, str | None] = ("all", None)
) -> BBox | None:
    """The box (west, south, east, north) of every point a tile counting outfalls per area may hold: the centres of
    the areas with outfalls in ``scope`` and ``within``, on any day and in any state (None: there are none), so a
    map asks only for the national tiles that can hold something. Read from the current rows of the per-area
    counts; a scope on other columns of the outfall widens it to every area with outfalls. While milestone rows
    wait in the backlog (the counts lack them) the areas are those of the milestones.
    """
    s, a = STATE_DAYS.c, AREA_CENTRES.c
    conditions = [*milestone_conditions(scope), *within_scope(session, *within)]
    if counts_behind(session):
        areas = select(_M.c.admin_area_id).where(_M.c.found_on.is_not(None), *conditions)
    else:
        located = location_conditions(conditions, STATE_DAYS) or []
        areas = select(s.admin_area_id).where(s.day == TOTAL_DAY, s.n > 0, *located)
    box = func.ST_Extent(a.centre)
    row = session.execute(select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))
                          .where(a.id.in_(areas))).one()  # fmt: skip
    return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def _state_filter(status: Any, state: str | None) -> ColumnElement[bool]:
    if state is not None:
        return cast(ColumnElement[bool], status == state)
    return cast(ColumnElement[bool], status.not_in([OutfallStatus.REJECTED.value, OutfallStatus.MERGED.value]))


def _area_clusters(session: Session, env: Any, box: Any, *, scope: Scope, day: date, state: str | None,
                   within: tuple[str, str | None]) -> Any:  # fmt: skip
    located = [*milestone_conditions(scope), *within_scope(session, *within)]
    moved = state_days_conditions(session, located)
    if moved is not None:
        # the counts kept per area, state and day by the milestones' triggers: no scan of every outfall
        per_state = counts_as_of(day, moved, lambda s: _state_filter(s, state)).subquery()
    else:  # a scope on other columns of the outfall: count its milestones
        m = _M.c
        status = _state_as_of(day)
        # counted per area and state first (a hash aggregate, no sort of a million states), then per area
        per_state = (
            select(m.admin_area_id, status.label("state"), func.count().label("n"))
            .where(m.found_on <= day, _state_filter(status, state), *located)
            .group_by(m.admin_area_id, status)
            .subquery()
        )
    counts = (
        select(per_state.c.admin_area_id, func.sum(per_state.c.n).cast(Integer).label("n"),
               _most_common(per_state.c.state, per_state.c.n).label("state"))
        .group_by(per_state.c.admin_area_id)
        .subquery()
    )  # fmt: skip
    a = AREA_CENTRES.c
    return (
        select(func.ST_AsMVTGeom(func.ST_Transform(a.centre, 3857), env, 4096, 64, True).label("geom"),
               counts.c.n, counts.c.state)
        .select_from(counts.join(AREA_CENTRES, a.id == counts.c.admin_area_id))
        .where(a.centre.op("&&")(box), func.ST_Intersects(a.centre, box))
    )  # fmt: skip


def _most_common(state: Any, n: Any) -> Any:
    """The state with the most outfalls of a group; of two as common, the first by name, so that a tile made again
    shows the same colour.
    """
    return _first(func.array_agg(aggregate_order_by(state, n.desc(), state)))


def _first(array: Any) -> Any:
    """The first element of a SQL array of text."""
    return type_coerce(array, ARRAY(String))[1]


def _outfall_points(session: Session, z: int, x: int, y: int, *, scope: Scope, day: date | None,
                    state: str | None, within: tuple[str, str | None], clustered: bool) -> bytes:  # fmt: skip
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "cell": 360.0 / 2**z / 64, "day": day}
    kind, code = within
    if kind == "all" or code is None or kind in AREA_KIND_NAMES:  # no lookup: one statement per shape
        in_area = kind != "all" and code is not None
        if in_area:  # the area's code is a value of the call, not part of the compiled statement
            params["within_like"] = area_prefix(str(code)) + "%"
        statement = _points_statement(scope, day is not None, state, in_area, clustered, z >= _PREPARED_FROM_ZOOM,
                                      session.get_bind().dialect)  # fmt: skip
        row = read_row(session, statement, **params)
        return bytes(row[0] or b"") if row else b""
    located = within_scope(session, *within)  # a basin or a river: its ids are looked up on every call
    query = _as_mvt(_points_query(scope, day is not None, state, located, clustered))
    return bytes(session.scalar(query, params) or b"")


# Tiles from this zoom on are read with a prepared statement: a small tile's rows take a fraction of a
# millisecond, as much as planning its statement (z14 at 10⁶ outfalls: 0.46 against 0.67 ms, z12 1.6 against
# 2.0 ms), and one plan (the spatial index) serves all of them. A larger tile's best plan depends on how many
# outfalls it holds, and a generic plan made a dense z9 tile slower (197 against 159 ms as of a day at 10⁶).
_PREPARED_FROM_ZOOM = 12


@functools.lru_cache(maxsize=512)
def _points_statement(scope: Scope, dated: bool, state: str | None, in_area: bool, clustered: bool, prepared: bool,
                      dialect: Dialect) -> DriverStatement:  # fmt: skip
    """Compiled once per reader's scope and shape; an area's ``LIKE`` pattern is bound as ``within_like``."""
    located = [in_areas_like(bindparam("within_like", type_=String))] if in_area else []
    query = _as_mvt(_points_query(scope, dated, state, located, clustered))
    # A large tile without parallel workers: every row goes to ST_AsMVT in the leader, and gathering thousands of
    # points from two workers made a dense z10 tile at 10⁶ outfalls slower (54 against 37 ms, EXPLAIN ANALYZE). A
    # small tile (prepared) holds too few rows for the planner to use workers; the SET would cost two round trips.
    return driver_statement(query, dialect, prepared=prepared, serial=not prepared)


def _as_mvt(inner: Any) -> Any:
    t = inner.subquery("t")
    return select(func.ST_AsMVT(literal_column("t.*"), "outfalls", 4096, "geom")).select_from(t)


def _points_query(scope: Scope, dated: bool, state: str | None, located: list[ColumnElement[bool]],
                  clustered: bool) -> Any:  # fmt: skip
    """The tile's rows: outfalls as points, or clustered per grid cell (``z``, ``x``, ``y``, ``cell`` (degrees),
    ``day`` are bound at execution).
    """
    z, x, y = (bindparam(k, type_=Integer) for k in ("z", "x", "y"))
    env = func.ST_TileEnvelope(z, x, y)
    box = func.ST_Transform(func.ST_TileEnvelope(z, x, y, literal_column("margin => 0.015625")), 4490)  # + 64 px
    outfalls = Outfall.__table__
    o = outfalls.c
    cond: list[Any] = [o.geom.op("&&")(box), *scope.conditions()]
    if located:
        cond.append(o.id.in_(select(_M.c.outfall_id).where(*located)))
    source: Any = outfalls
    if dated:
        day = bindparam("day", type_=Date)
        # one index lookup per outfall in the tile (joined laterally: once, for the filter and the value alike),
        # not the whole milestones table; outfalls not found by then have no row
        then = (
            select(_state_as_of(day).label("state"))
            .where(_M.c.outfall_id == o.id, _M.c.found_on <= day)
            .lateral("then")
        )
        source, status = outfalls.join(then, true()), then.c.state
    else:
        status = o.status
    cond.append(_state_filter(status, state))
    # The tile's outfalls first, planned on their own (OFFSET 0 keeps the subquery from being merged into the
    # query around it): the planner weighs the costly per-row functions (ST_AsMVTGeom, ST_Transform) apart from
    # the scan, which otherwise made a parallel scan of the whole table look cheaper than the spatial index
    # (100 ms instead of 1.5 ms for a z10 tile at 10⁵ outfalls).
    rows = (
        select(o.geom, o.id, o.name, status.label("state"))
        .select_from(source)
        .where(*cond)
        .offset(0)
        .subquery("tile_rows")
    )
    r = rows.c
    if not clustered:
        return select(
            func.ST_AsMVTGeom(func.ST_Transform(r.geom, 3857), env, 4096, 64, True).label("geom"),
            r.id.label("id"), r.name.label("name"), r.state,
        )  # fmt: skip
    cell = bindparam("cell", type_=Float)  # degrees: snapping before projecting keeps the transform to one per cluster
    gx, gy = func.floor(func.ST_X(r.geom) / cell), func.floor(func.ST_Y(r.geom) / cell)
    # per cell and state first (a hash aggregate), then per cell with the most common state
    per_state = (
        select(gx.label("gx"), gy.label("gy"), r.state, func.count().label("n"),
               func.sum(func.ST_X(r.geom)).label("sx"), func.sum(func.ST_Y(r.geom)).label("sy"))
        .group_by(gx, gy, r.state)
        .subquery()
    )  # fmt: skip
    c = per_state.c
    n = func.sum(c.n)
    centre = func.ST_SetSRID(func.ST_MakePoint(func.sum(c.sx) / n, func.sum(c.sy) / n), 4490)
    return select(
        func.ST_AsMVTGeom(func.ST_Transform(centre, 3857), env, 4096, 64, True).label("geom"),
        n.cast(Integer).label("n"),
        _most_common(c.state, c.n).label("state"),
    ).group_by(c.gx, c.gy)
