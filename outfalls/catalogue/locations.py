"""Where an outfall is: the sub-basin, basin, administrative area and river derived from its point in one
set-based spatial query (creation and later edits alike), unless a person set them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from outfalls.db.bulk import copy_lines

# Spatial derivation: the containing sub-basin, basin and most detailed administrative area (from the
# subdivided polygons), and the nearest river within ~5 km, for the points in the temporary table
# ``outfall_points`` (i, geom). One set-based query serves both creation and later edits.
#
# The areas are one spatial join with the polygon pieces on the outer side: each piece is read (and
# decompressed) once and tested against the points its box holds through the points' index, instead of every
# point looking up and decompressing the pieces around it (4x faster for 10,000 points).
_AREAS = """
  SELECT q.i,
         min(p.ref_id) FILTER (WHERE p.kind = 'sub_basin') AS sub_basin_id,
         min(p.ref_id) FILTER (WHERE p.kind = 'basin') AS basin_id,
         (array_agg(p.ref_id ORDER BY p.rank, p.ref_id) FILTER (WHERE p.kind = 'admin'))[1] AS admin_area_id
  FROM area_parts p JOIN outfall_points q ON ST_Intersects(p.geom, q.geom)
  GROUP BY q.i
"""
# The nearest river: for a few points, a nearest-neighbour search on the river lines; for many, the lines are
# first cut into pieces of at most 32 vertices (whole lines have up to 3,593, and every distance to a whole
# line walks all of them), which costs ~50 ms once and then 0.01 ms a point instead of 0.3 ms. A river's
# distance is the distance to its nearest piece, so both give the same river.
_NEAREST_ON_LINES = """
  SELECT q.i, (SELECT r.id FROM rivers r WHERE ST_DWithin(r.geom, q.geom, 0.05)
               ORDER BY r.geom <-> q.geom LIMIT 1) AS river_id
  FROM outfall_points q
"""
_NEAREST_ON_PIECES = """
  SELECT DISTINCT ON (q.i) q.i, r.id AS river_id
  FROM river_pieces r JOIN outfall_points q ON ST_DWithin(r.geom, q.geom, 0.05)
  ORDER BY q.i, r.geom <-> q.geom, r.id
"""
_DERIVE = """
  WITH river_pieces AS MATERIALIZED (SELECT id, ST_Subdivide(geom, 32) AS geom FROM rivers),
       areas AS ({areas}),
       nearest AS ({nearest})
  SELECT q.i, a.sub_basin_id, a.basin_id, a.admin_area_id, n.river_id
  FROM outfall_points q LEFT JOIN areas a ON a.i = q.i LEFT JOIN nearest n ON n.i = q.i
"""
_PIECES_FROM = 150  # points; below this, cutting the rivers costs more than it saves


def _derive(pieces: bool) -> str:
    return _DERIVE.format(areas=_AREAS, nearest=_NEAREST_ON_PIECES if pieces else _NEAREST_ON_LINES)


_DERIVE_SQL = {pieces: text(_derive(pieces)) for pieces in (False, True)}
_ASSIGN_SQL = {
    pieces: text(
        "UPDATE outfalls o SET sub_basin_id = d.sub_basin_id, basin_id = d.basin_id, admin_area_id = d.admin_area_id, "
        f"river_id = d.river_id FROM ({_derive(pieces)}) d WHERE o.id = d.i"
    )
    for pieces in (False, True)
}
_POINTS_OF = text(
    "INSERT INTO outfall_points SELECT id, geom FROM outfalls WHERE id = ANY(:ids) AND NOT location_overridden"
)
# The derived columns of new outfalls, before they are written (an UPDATE after writing would write every row
# twice: new entries in all its indexes, foreign keys checked again).
_LOCATIONS_OF_POINTS_SQL = {
    pieces: text(f"CREATE TEMPORARY TABLE outfall_locations ON COMMIT DROP AS {_derive(pieces)}")
    for pieces in (False, True)
}


def _create_points(session: Session) -> None:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.outfall_points"))
    session.execute(text(
        "CREATE TEMPORARY TABLE outfall_points (i bigint NOT NULL, geom geometry(Point, 4490) NOT NULL) ON COMMIT DROP"
    ))  # fmt: skip


def _index_points(session: Session) -> None:
    session.execute(text("CREATE INDEX ON outfall_points USING gist (geom)"))
    session.execute(text("ANALYZE outfall_points"))  # the planner's choice of join order needs the row count


def drop_points(session: Session) -> None:
    """Drop the temporary ``outfall_points`` (and ``outfall_locations``) tables."""
    session.execute(text("DROP TABLE IF EXISTS pg_temp.outfall_points, pg_temp.outfall_locations"))


# The derived ids of one outfall: sub-basin, basin, administrative area, river.
Location = tuple[int | None, int | None, int | None, int | None]


def derive_locations(session: Session, points: Sequence[str]) -> list[Location]:
    """The sub-basin, basin, administrative area and river ids of new outfalls at ``points`` (hex EWKB of
    CGCS2000 points), in the order of ``points``: the points are staged with COPY in the temporary
    ``outfall_points`` and their locations derived in one set-based query, before any outfall row is written.
    """
    _create_points(session)
    copy_lines(session, "outfall_points", ("i", "geom"), (f"{i}\t{p}\n" for i, p in enumerate(points)))
    session.execute(text("CREATE INDEX ON outfall_points USING gist (geom)"))
    session.execute(text("ANALYZE outfall_points"))  # the row count, for the join order
    session.execute(_LOCATIONS_OF_POINTS_SQL[len(points) >= _PIECES_FROM])
    rows = session.execute(
        text("SELECT sub_basin_id, basin_id, admin_area_id, river_id FROM outfall_locations ORDER BY i")
    )
    located = [(r[0], r[1], r[2], r[3]) for r in rows]
    drop_points(session)
    return located


# The planner expects the spatial joins to be far costlier than they are (15x the pairs, 150,000 river pieces),
# so PostgreSQL would compile them to machine code first: 0.65 s of compiling for 0.3 s of work on 10,000
# points. The setting is changed for these statements only and put back (a rollback puts it back by itself).
def assign_locations(session: Session, outfall_ids: Sequence[int]) -> None:
    """Derive basin, sub-basin, river and administrative area of these outfalls from their points,
    except where a person set them (``location_overridden``).
    """
    if not outfall_ids:
        return
    _create_points(session)
    n = session.execute(_POINTS_OF, {"ids": list(outfall_ids)}).rowcount  # type: ignore[attr-defined]
    _index_points(session)
    session.execute(_ASSIGN_SQL[n >= _PIECES_FROM])
    drop_points(session)
