"""Survey coverage: per river, how much of its line lies within the corridor of the walked tracks (walked km
against river km, all crews together and per crew); the tracks per crew and day; the tracks as a map layer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from outfalls.errors import InvalidInput, NotFound
from outfalls.models import River, SurveyTrack
from outfalls.scope import Scope
from outfalls.survey.areas import within, within_params, within_sql
from outfalls.types import CGCS2000, BBox


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """Survey coverage of one river: its length, the length of it walked (all crews together) and per crew."""

    river_code: str
    river: str
    river_km: float
    walked_km: float
    share: float  # walked_km / river_km, 0..1
    by_crew: dict[str, float] = field(default_factory=dict)  # crew -> walked km of this river

    def as_dict(self) -> dict[str, Any]:
        """The form ``outfalls survey coverage --json`` prints."""
        return {
            "river": self.river,
            "river_km": self.river_km,
            "walked_km": self.walked_km,
            "share": self.share,
            "by_crew": dict(self.by_crew),
        }


@dataclass(frozen=True, slots=True)
class CrewDay:
    """The tracks of one crew on one local day."""

    crew: str
    day: date | None
    tracks: int
    points: int
    length_km: float


# The coverage of a river is the stretch of its line that crews walked beside, within ``corridor_m``:
# - Each line of the river (a part of its multi-line) gets a corridor: a buffer on the geography (PostGIS buffers
#   in a metric projection of the line's own area). River lines are smooth and few, so this is cheap, while
#   buffering GPS tracks, which zig-zag with every fix, is not.
# - The part of each track inside the corridor is projected onto the line (ST_LineLocatePoint of its points,
#   the track first simplified by ~5 m): each step from one point to the next covers the stretch of river
#   between their projections. A step whose projections jump much farther along the river than the step itself
#   (across the neck of a meander) covers nothing. A track crossing the river on a bridge covers only the width
#   of its own path, and a track covers the river up to where it stops and no farther.
# - The stretches are merged per line and crew, and per line for all crews together (gaps and islands on the
#   positions along the line), so a stretch walked twice — by one crew or two, on one bank or both, with GPS
#   scatter — counts once, and walked km never exceed river km. Merging positions rather than geometries is
#   exact: two walks of the same stretch never differ by rounding.
# - Each merged stretch is measured as the geodesic length of that part of the river (ST_LineSubstring).
COVERAGE_SQL: Final = """
WITH r AS (
  SELECT id, code, name, geom FROM rivers WHERE (CAST(:river AS text) IS NULL OR name = :river OR code = :river)
), lines AS MATERIALIZED (
  SELECT r.id AS river_id, d.path[1] AS part, d.geom AS line FROM r CROSS JOIN LATERAL ST_Dump(r.geom) d
), pairs AS MATERIALIZED (  -- tracks whose box comes near a line's box (the GiST index of survey_tracks)
  SELECT l.river_id, l.part, t.id AS track_id
  FROM lines l JOIN survey_tracks t ON t.geom && ST_Expand(l.line, :margin_deg) AND t.retired_at IS NULL
    AND /*tracks in scope*/
), tracks AS MATERIALIZED (
  SELECT t.id AS track_id, t.crew, ST_Simplify(t.geom, :simplify_deg) AS track
  FROM survey_tracks t WHERE t.id IN (SELECT track_id FROM pairs)
), near AS (
  SELECT p.river_id, p.part, t.crew, t.track FROM pairs p JOIN tracks t USING (track_id)
), corridors AS MATERIALIZED (
  SELECT l.river_id, l.part, l.line,
         ST_SetSRID(ST_Buffer(l.line::geography, :corridor_m, 'quad_segs=8')::geometry, 4490) AS area
  FROM lines l WHERE (l.river_id, l.part) IN (SELECT river_id, part FROM pairs)
), pieces AS (
  SELECT n.river_id, n.part, n.crew, c.line, row_number() OVER () AS piece, piece.geom
  FROM near n JOIN corridors c USING (river_id, part)
  CROSS JOIN LATERAL ST_Dump(ST_Intersection(n.track, c.area)) piece
  WHERE n.track && c.area AND GeometryType(piece.geom) = 'LINESTRING'
), points AS (
  SELECT p.river_id, p.part, p.crew, p.piece, v.path[1] AS i, ST_LineLocatePoint(p.line, v.geom) AS pos,
         ST_Length(p.line) AS line_deg, v.geom AS pt
  FROM pieces p CROSS JOIN LATERAL ST_DumpPoints(p.geom) v
), steps AS (
  SELECT river_id, part, crew, pos, lag(pos) OVER w AS prev_pos, line_deg,
         ST_Distance(pt, lag(pt) OVER w) AS step_deg
  FROM points WINDOW w AS (PARTITION BY piece ORDER BY i)
), spans AS (  -- one span per step along the track; a jump along the river much longer than the step is not walked
  SELECT river_id, part, crew, LEAST(pos, prev_pos) AS lo, GREATEST(pos, prev_pos) AS hi FROM steps
  WHERE prev_pos IS NOT NULL AND abs(pos - prev_pos) * line_deg <= :jump_factor * step_deg + :jump_deg
), both_ AS (
  SELECT river_id, part, crew, lo, hi FROM spans
  UNION ALL  -- crew NULL: all crews together
  SELECT river_id, part, NULL, lo, hi FROM spans
), ordered AS (
  SELECT *, MAX(hi) OVER (PARTITION BY river_id, part, crew ORDER BY lo, hi
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM both_
), islands AS (
  SELECT *, SUM(CASE WHEN reach IS NULL OR lo > reach THEN 1 ELSE 0 END)
              OVER (PARTITION BY river_id, part, crew ORDER BY lo, hi) AS island
  FROM ordered
), merged AS (
  SELECT river_id, part, crew, MIN(lo) AS lo, MAX(hi) AS hi FROM islands GROUP BY river_id, part, crew, island
), walked AS (
  SELECT m.river_id, m.crew, SUM(ST_Length(ST_LineSubstring(l.line, m.lo, m.hi)::geography)) / 1000 AS km
  FROM merged m JOIN lines l ON (l.river_id, l.part) = (m.river_id, m.part)
  WHERE m.hi > m.lo
  GROUP BY m.river_id, m.crew
)
SELECT r.code, r.name, ST_Length(r.geom::geography) / 1000 AS river_km,
       COALESCE((SELECT w.km FROM walked w WHERE w.river_id = r.id AND w.crew IS NULL), 0) AS walked_km,
       COALESCE((SELECT json_object_agg(w.crew, w.km ORDER BY w.crew) FROM walked w
                 WHERE w.river_id = r.id AND w.crew IS NOT NULL AND w.km > 0), '{}'::json) AS by_crew
FROM r
"""
NATIONAL: Final = Scope.national()  # the command line's operators see every track
SIMPLIFY_DEG: Final = 0.00005  # ~5 m: tracks are simplified this much before they are projected on a river
JUMP_FACTOR: Final = 3  # a step covering more river than this many times its own length, plus 2 corridors, is a jump


def coverage(
    session: Session, *, river: str | None = None, corridor_m: float, scope: Scope = NATIONAL
) -> list[CoverageRow]:
    """Survey coverage per river: river km, walked km (all crews together) and walked km per crew.

    Retired tracks do not count, nor tracks outside ``scope`` (another area's crews walked them). A stretch
    walked twice counts once (see ``COVERAGE_SQL``).

    Args:
        session: The catalogue.
        river: Only the river(s) of this name or code; None for every river.
        corridor_m: How near (metres) a track must be to a river line to count as walking its bank.
        scope: Only the tracks touching these areas (a regional user's).

    Returns:
        One row per river, the most walked first (then by name).

    Raises:
        InvalidInput: a corridor that is not a positive number of metres.
        NotFound: no river of that name or code.
    """
    if not (math.isfinite(corridor_m) and 0 < corridor_m <= 10_000):
        raise InvalidInput(f"the corridor must be between 0 and 10000 m, not {corridor_m}", field="corridor_m")
    if river is not None and not session.scalar(
        select(func.count()).select_from(River).where((River.name == river) | (River.code == river))
    ):
        raise NotFound(f"no river named {river!r}", entity="river", id=river)
    # a cheap planar pre-filter in degrees; one degree of longitude is > 36 km up to 66°N, so this is generous
    margin_deg = corridor_m / 36_000.0
    rows = session.execute(
        text(COVERAGE_SQL.replace("/*tracks in scope*/", within_sql("t.geom"))),
        {
            **within_params(scope),
            "river": river,
            "corridor_m": corridor_m,
            "margin_deg": margin_deg,
            "simplify_deg": SIMPLIFY_DEG,
            "jump_factor": JUMP_FACTOR,
            "jump_deg": 2 * corridor_m / 111_000.0,  # two corridors, in degrees (of latitude)
        },
    ).mappings()
    out = []
    for r in rows:
        by_crew = r["by_crew"] if isinstance(r["by_crew"], dict) else json.loads(r["by_crew"])
        river_km = float(r["river_km"])
        walked_km = min(float(r["walked_km"]), river_km)
        out.append(
            CoverageRow(
                river_code=r["code"],
                river=r["name"],
                river_km=round(river_km, 3),
                walked_km=round(walked_km, 3),
                share=round(walked_km / river_km, 4) if river_km > 0 else 0.0,
                by_crew={str(k): round(float(v), 3) for k, v in by_crew.items()},
            )
        )
    out.sort(key=lambda c: (-c.walked_km, c.river, c.river_code))
    return out


def crew_days(session: Session, *, crew: str | None = None, scope: Scope = NATIONAL) -> list[CrewDay]:
    """The walked tracks in ``scope`` per crew and local day (retired tracks left out), the latest day first."""
    query = (
        select(
            SurveyTrack.crew,
            SurveyTrack.day,
            func.count(),
            func.sum(SurveyTrack.point_count),
            func.sum(SurveyTrack.length_m),
        )
        .where(SurveyTrack.retired_at.is_(None), *within(SurveyTrack.geom, scope))
        .group_by(SurveyTrack.crew, SurveyTrack.day)
        .order_by(SurveyTrack.day.desc().nulls_last(), SurveyTrack.crew)
    )
    if crew is not None:
        query = query.where(SurveyTrack.crew == crew)
    return [
        CrewDay(c, d, int(n), int(p or 0), round(float(m or 0) / 1000, 3)) for c, d, n, p, m in session.execute(query)
    ]


def tracks_geojson(
    session: Session,
    *,
    bbox: BBox | None = None,
    tolerance_deg: float = 0.00002,
    limit: int = 5000,
    scope: Scope = NATIONAL,
) -> dict[str, Any]:
    """The walked tracks (not retired) in ``scope`` as GeoJSON for the map, simplified (about 2 m by default).

    Args:
        session: The catalogue.
        bbox: Only tracks crossing this (west, south, east, north) box.
        tolerance_deg: Simplification tolerance in degrees.
        limit: At most this many tracks, the latest first; ``truncated`` tells when there were more.

    Returns:
        A FeatureCollection whose features carry crew, day, name, length_km and points.
    """
    sql = (
        "SELECT id, crew, day, name, point_count, length_m, "
        "ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tol), 6, 0)::json AS g FROM survey_tracks "
        f"WHERE retired_at IS NULL AND {within_sql('survey_tracks.geom')}"
    )
    params: dict[str, Any] = {"tol": tolerance_deg, "limit": limit + 1, **within_params(scope)}
    if bbox is not None:
        sql += f" AND geom && ST_MakeEnvelope(:w, :s, :e, :n, {CGCS2000})"
        params |= dict(zip(("w", "s", "e", "n"), bbox, strict=True))
    sql += " ORDER BY day DESC NULLS LAST, id DESC LIMIT :limit"
    rows = list(session.execute(text(sql), params).mappings())
    features = [
        {
            "type": "Feature",
            "id": r["id"],
            "geometry": r["g"],
            "properties": {
                "crew": r["crew"],
                "day": r["day"].isoformat() if r["day"] else None,
                "name": r["name"],
                "points": r["point_count"],
                "length_km": round(r["length_m"] / 1000, 3),
            },
        }
        for r in rows[:limit]
    ]
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > limit}
