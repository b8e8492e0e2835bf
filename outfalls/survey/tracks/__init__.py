"""GPS tracks of the foot survey and the coverage they give: reading tracks from GPX, KML/KMZ and GeoPackage
files, storing them per crew and local day, and measuring, per river, how much of its line lies within the
corridor of the walked tracks (walked km against river km).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyogrio
import shapely
from geoalchemy2.shape import from_shape
from pyproj import Geod
from shapely.geometry import LineString, MultiPoint
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.errors import InvalidInput, NotFound
from outfalls.geo import parse_crs, transform_geometry
from outfalls.models import River, SurveyTrack
from outfalls.survey.photos import photo_basename
from outfalls.types import CGCS2000, BBox

__all__ = [
    "TRACK_SUFFIXES",
    "CoverageRow",
    "CrewDay",
    "ReadTrack",
    "StoredTrack",
    "TrackReport",
    "coverage",
    "crew_days",
    "import_tracks",
    "read_tracks",
    "retire_track",
    "tracks_geojson",
]

TRACK_SUFFIXES: Final = (".gpx", ".kml", ".kmz", ".gpkg")
# Feature fields that may carry a line's time when its points have none (KML TimeStamp/TimeSpan, GeoPackages).
TIME_FIELDS: Final = ("timestamp", "time", "begin", "when", "datetime", "date", "start_time", "starttime", "start")
END_TIME_FIELDS: Final = ("end", "end_time", "endtime", "stop")
NAME_FIELDS: Final = ("name", "Name", "NAME", "title", "track_name")

_GEOD: Final = Geod(ellps="GRS80")  # CGCS2000's ellipsoid


@dataclass(frozen=True, slots=True)
class ReadTrack:
    """One line of a file, for one local day: CGCS2000 (lon, lat) vertices in walking order."""

    name: str | None
    day: date | None  # local day (UTC+8); None when the file gives no time
    started_at: datetime | None
    ended_at: datetime | None
    coords: tuple[tuple[float, float], ...]

    @property
    def length_m(self) -> float:
        """Geodesic length on the GRS80 ellipsoid."""
        lons, lats = zip(*self.coords, strict=True)
        return float(_GEOD.line_length(lons, lats))


@dataclass(frozen=True, slots=True)
class StoredTrack:
    """A stored track as reported back."""

    id: int
    crew: str
    day: date | None
    name: str | None
    part: int
    point_count: int
    length_m: float
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class TrackReport:
    """What an import of one track file did."""

    file: str
    sha256: str
    crew: str
    tracks: tuple[StoredTrack, ...]  # added now, or (when already imported) those stored before
    already_imported: bool
    notes: tuple[str, ...] = ()  # what was left out: empty tracks, a day with a single point

    @property
    def added(self) -> int:
        """How many tracks this import stored."""
        return 0 if self.already_imported else len(self.tracks)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (dates as ISO strings)."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "crew": self.crew,
            "already_imported": self.already_imported,
            "added": self.added,
            "tracks": [
                {
                    "id": t.id,
                    "crew": t.crew,
                    "day": t.day.isoformat() if t.day else None,
                    "name": t.name,
                    "part": t.part,
                    "points": t.point_count,
                    "length_km": round(t.length_m / 1000, 3),
                    "started_at": t.started_at.isoformat() if t.started_at else None,
                    "ended_at": t.ended_at.isoformat() if t.ended_at else None,
                }
                for t in self.tracks
            ],
            "notes": list(self.notes),
        }


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


# -- reading -------------------------------------------------------------------------------------------
def read_tracks(path: Path, *, name: str | None = None, layer: str | None = None) -> tuple[list[ReadTrack], list[str]]:
    """Read the lines of a GPX, KML/KMZ or GeoPackage file, split per local day (UTC+8), in CGCS2000.

    GPX: every track segment and every route; the times of its points give the day(s). KML/KMZ and GeoPackage:
    every line (parts of multi-lines separately) of every line layer, or of ``layer``; a feature's time field
    (KML TimeStamp or TimeSpan) gives its day. Untimed points of a partly timed track belong to the day of the
    timed point before them.

    Args:
        path: The file.
        name: The file name as received (for messages); defaults to the path's name.
        layer: One layer of a multi-layer file (GeoPackage).

    Returns:
        The day lines, in file order, and notes on what was left out (empty tracks, a day with one point).

    Raises:
        InvalidInput: the file cannot be read, holds no line or track, has a track of one point, or has
            coordinates that are not valid in its CRS.
    """
    label = photo_basename(name or path.name)
    try:
        layers = [(str(n), str(t)) for n, t in pyogrio.list_layers(path)]
        driver = pyogrio.read_info(path, layer=layers[0][0])["driver"] if layers else None
    except Exception as err:  # pyogrio raises DataSourceError and plain GDAL errors
        raise InvalidInput(f"{label} is not a GPX, KML/KMZ or GeoPackage file that can be read", field="file") from err
    notes: list[str] = []
    if driver == "GPX":
        raw = _gpx_tracks(path, label)
    else:
        raw = _layer_tracks(path, label, layers, layer)
    lines: list[ReadTrack] = []
    for track in raw:
        if len(track.coords) == 0:
            notes.append(f"{track.label} has no points and was left out")
            continue
        if len(track.coords) < 2:
            raise InvalidInput(
                f"{track.label} in {label} has only one point; a track needs at least two", field="file", value=label
            )
        lines.extend(_split_by_day(track, notes))
    if not lines:
        raise InvalidInput(f"{label} holds no track or line with points", field="file", value=label)
    return lines, notes


@dataclass(slots=True)
class _RawTrack:
    label: str  # how messages name it: 'track "ACTIVE LOG" (segment 2)'
    name: str | None
    coords: np.ndarray[Any, np.dtype[np.float64]]  # (n, 2) CGCS2000
    times: list[datetime | None] | None  # per point, or None
    feature_times: tuple[datetime | None, datetime | None] = (None, None)  # (start, end) of the whole line


def _to_cgcs2000(coords: np.ndarray[Any, np.dtype[np.float64]], crs: str, label: str) -> np.ndarray[Any, Any]:
    if len(coords) == 0:
        return coords
    try:
        return np.asarray(shapely.get_coordinates(transform_geometry(MultiPoint(coords[:, :2]), crs)))
    except InvalidInput as err:
        raise InvalidInput(f"{label}: {err.message}", field="file") from err


def _gpx_tracks(path: Path, label: str) -> list[_RawTrack]:
    out: list[_RawTrack] = []
    for kind, line_layer, points_layer, fid_field, order_field, seg_field in (
        ("track", "tracks", "track_points", "track_fid", "track_seg_point_id", "track_seg_id"),
        ("route", "routes", "route_points", "route_fid", "route_point_id", None),
    ):
        try:
            _m, fids, _g, (names,) = pyogrio.raw.read(path, layer=line_layer, columns=["name"], return_fids=True)[:4]
            columns = [fid_field, order_field, "time"] + ([seg_field] if seg_field else [])
            meta, _f, geoms, values = pyogrio.raw.read(path, layer=points_layer, columns=columns,
                                                       datetime_as_string=True)[:4]  # fmt: skip
        except Exception as err:
            raise InvalidInput(f"{label} is not a GPX file that can be read: {err}", field="file") from err
        name_of = {int(f): (str(n) if n else None) for f, n in zip(fids, names, strict=True)}
        column = dict(zip((str(f) for f in meta["fields"]), values, strict=True))  # GDAL keeps the layer's order
        points = shapely.get_coordinates(shapely.from_wkb(geoms)) if len(geoms) else np.empty((0, 2))
        track_fids = np.asarray(column[fid_field], dtype=np.int64)
        order = np.asarray(column[order_field], dtype=np.int64)
        segs = np.asarray(column[seg_field], dtype=np.int64) if seg_field else np.zeros(len(order), dtype=np.int64)
        times = [_parse_time(t) for t in column["time"]]
        crs = meta.get("crs") or "EPSG:4326"  # GPX is WGS84 by definition
        seen: set[tuple[int, int]] = set()
        for fid in sorted(name_of):
            seg_ids = sorted({int(s) for s in segs[track_fids == fid]}) or [0]
            for seg in seg_ids:
                seen.add((fid, seg))
                idx = np.flatnonzero((track_fids == fid) & (segs == seg))
                idx = idx[np.argsort(order[idx], kind="stable")]
                what = f'{kind} "{name_of[fid]}"' if name_of[fid] else f"{kind} {fid + 1}"
                if len(seg_ids) > 1:
                    what += f" (segment {seg + 1})"
                coords = _to_cgcs2000(points[idx, :2], crs, what)
                out.append(_RawTrack(what, name_of[fid], coords, [times[i] for i in idx]))
    return out


def _field(names: Sequence[str], wanted: Sequence[str]) -> int | None:
    lowered = {n.lower(): i for i, n in enumerate(names)}
    for w in wanted:
        if w.lower() in lowered:
            return lowered[w.lower()]
    return None


def _fields(names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """The indexes of every wanted field present, in the order of ``wanted``."""
    lowered = {n.lower(): i for i, n in enumerate(names)}
    return [lowered[w.lower()] for w in wanted if w.lower() in lowered]


def _first_time(values: Sequence[Any], columns: Sequence[int], row: int) -> datetime | None:
    """The first of these columns that holds a time in this row (KML has both TimeStamp and TimeSpan fields)."""
    for column in columns:
        moment = _parse_time(values[column][row])
        if moment is not None:
            return moment
    return None


def _layer_tracks(path: Path, label: str, layers: list[tuple[str, str]], layer: str | None) -> list[_RawTrack]:
    if layer is not None:
        if layer not in {n for n, _t in layers}:
            raise InvalidInput(
                f"{label} has no layer {layer!r}; its layers are {', '.join(n for n, _t in layers)}",
                field="layer", value=layer,
            )  # fmt: skip
        chosen = [n for n, _t in layers if n == layer]
    else:  # every layer that may hold lines ("Unknown" is how KML folders with mixed geometries are listed)
        chosen = [n for n, t in layers if "LineString" in t or t in ("Unknown", "Geometry", "GeometryCollection")]
    out: list[_RawTrack] = []
    for layer_name in chosen:
        try:
            meta, _fids, geoms, values = pyogrio.raw.read(path, layer=layer_name, datetime_as_string=True)[:4]
        except Exception as err:
            raise InvalidInput(f"cannot read layer {layer_name!r} of {label}: {err}", field="file") from err
        fields = [str(f) for f in meta["fields"]]
        crs = meta.get("crs")
        if crs is None:
            raise InvalidInput(f"layer {layer_name!r} of {label} declares no coordinate system", field="file")
        crs = parse_crs(str(crs))
        name_i = _field(fields, NAME_FIELDS)
        start_columns, end_columns = _fields(fields, TIME_FIELDS), _fields(fields, END_TIME_FIELDS)
        for row, wkb in enumerate(geoms):
            geom = shapely.from_wkb(wkb) if wkb is not None else None
            if geom is None or geom.is_empty:
                continue
            parts = [g for g in shapely.get_parts(geom) if g.geom_type == "LineString"]
            if geom.geom_type == "GeometryCollection":
                parts = [
                    p for g in shapely.get_parts(geom) for p in shapely.get_parts(g) if p.geom_type == "LineString"
                ]
            feature_name = str(values[name_i][row]) if name_i is not None and values[name_i][row] else None
            start = _first_time(values, start_columns, row)
            end = _first_time(values, end_columns, row)
            for k, part in enumerate(parts):
                what = f'line "{feature_name}"' if feature_name else f"line {row + 1} of layer {layer_name!r}"
                if len(parts) > 1:
                    what += f" (part {k + 1})"
                coords = _to_cgcs2000(np.asarray(shapely.get_coordinates(part)), crs, what)
                out.append(_RawTrack(what, feature_name, coords, None, (start, end or start)))
    if not out and layer is None and not chosen:
        kinds = ", ".join(f"{n} ({t})" for n, t in layers) or "none"
        raise InvalidInput(f"{label} holds no line or track layer; its layers are: {kinds}", field="file", value=label)
    return out


def _parse_time(value: Any) -> datetime | None:
    """A timezone-aware datetime from a GDAL value (ISO text; a time without zone is taken as China time)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text_value = str(value).strip()
        if not text_value:
            return None
        try:
            moment = datetime.fromisoformat(text_value.replace("/", "-"))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=clock.zone())


def _local_day(moment: datetime | None) -> date | None:
    return clock.day_of(moment) if moment is not None else None


def _split_by_day(track: _RawTrack, notes: list[str]) -> list[ReadTrack]:
    coords = [(float(x), float(y)) for x, y in track.coords]
    if track.times is None or not any(track.times):
        start, end = track.feature_times
        return [ReadTrack(track.name, _local_day(start), start, end, tuple(coords))]
    days: list[date | None] = []
    current: date | None = next(_local_day(t) for t in track.times if t is not None)  # leading untimed points
    for moment in track.times:
        if moment is not None:
            current = _local_day(moment)
        days.append(current)
    out: list[ReadTrack] = []
    i = 0
    while i < len(coords):
        j = i
        while j < len(coords) and days[j] == days[i]:
            j += 1
        stamps = [t for t in track.times[i:j] if t is not None]
        if j - i < 2:
            notes.append(f"{track.label}: the single point recorded on {days[i]} was left out")
        else:
            out.append(ReadTrack(track.name, days[i], min(stamps), max(stamps), tuple(coords[i:j])))
        i = j
    return out


# -- storing -------------------------------------------------------------------------------------------
def import_tracks(
    session: Session,
    source: Path | bytes,
    name: str,
    *,
    crew: str,
    actor: str,
    bbox: BBox,
    layer: str | None = None,
) -> TrackReport:
    """Store the tracks of a GPX, KML/KMZ or GeoPackage file as walked by ``crew``, one row per line and day.

    The same file (same bytes) imported again adds nothing and reports the tracks stored the first time.

    Args:
        session: The catalogue; the caller commits.
        source: The file, as a path or its bytes.
        name: The file name as received (its extension tells the format when ``source`` is bytes).
        crew: The crew who walked, as the uploader names it.
        actor: Who imports.
        bbox: The deployment's region (west, south, east, north): a track outside it is refused.
        layer: One layer of a multi-layer GeoPackage.

    Returns:
        The report: tracks added (or already there) and notes on what was left out.

    Raises:
        InvalidInput: no crew; an unreadable file; no line or track; a track of one point; coordinates
            outside ``bbox`` or invalid in the file's CRS.
    """
    crew = " ".join(crew.split())
    if not crew:
        raise InvalidInput("name the crew who walked these tracks", field="crew")
    if len(crew) > 128:
        raise InvalidInput("a crew name has at most 128 characters", field="crew", value=crew)
    label = photo_basename(name)
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    if not data:
        raise InvalidInput(f"{label} is empty", field="file", value=label)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = list(
        session.scalars(
            select(SurveyTrack)
            .where(SurveyTrack.source_sha256 == sha256, SurveyTrack.retired_at.is_(None))
            .order_by(SurveyTrack.part)
        )
    )
    if existing:
        return TrackReport(label, sha256, existing[0].crew, tuple(_stored(t) for t in existing), True)
    suffix = Path(label).suffix.lower()
    if suffix not in TRACK_SUFFIXES:
        raise InvalidInput(
            f"{label}: tracks are read from GPX, KML, KMZ or GeoPackage files, "
            f"not {suffix or 'a file without extension'}",
            field="file", value=label,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tracks-") as tmp:
        path = Path(tmp) / f"track{suffix}"
        path.write_bytes(data)
        lines, notes = read_tracks(path, name=label, layer=layer)
    _check_region(lines, bbox, label)
    added = []
    for part, line in enumerate(lines):
        track = SurveyTrack(
            crew=crew,
            day=line.day,
            name=line.name,
            source_name=label,
            source_sha256=sha256,
            part=part,
            started_at=line.started_at,
            ended_at=line.ended_at,
            point_count=len(line.coords),
            length_m=round(line.length_m, 2),
            geom=from_shape(LineString(line.coords), srid=CGCS2000),
            imported_by=actor,
        )
        session.add(track)
        added.append(track)
    session.flush()
    return TrackReport(label, sha256, crew, tuple(_stored(t) for t in added), False, tuple(notes))


def _check_region(lines: Sequence[ReadTrack], bbox: BBox, label: str) -> None:
    west, south, east, north = bbox
    for line in lines:
        xs = [c[0] for c in line.coords]
        ys = [c[1] for c in line.coords]
        if min(xs) < west or max(xs) > east or min(ys) < south or max(ys) > north:
            what = f'track "{line.name}"' if line.name else "a track"
            raise InvalidInput(
                f"{what} in {label} lies outside the region: lon {min(xs):.5f}–{max(xs):.5f}, "
                f"lat {min(ys):.5f}–{max(ys):.5f} is not within [{west}, {south}, {east}, {north}]",
                field="file", value=label,
            )  # fmt: skip


def _stored(t: SurveyTrack) -> StoredTrack:
    return StoredTrack(t.id, t.crew, t.day, t.name, t.part, t.point_count, t.length_m, t.started_at, t.ended_at)


def retire_track(session: Session, track_id: int, *, actor: str, reason: str) -> SurveyTrack:
    """Take a wrong track out of coverage and the map; the row stays, marked retired.

    Raises:
        NotFound: no such track.
        InvalidInput: no reason given, or the track is already retired.
    """
    track = session.get(SurveyTrack, track_id, with_for_update=True)
    if track is None:
        raise NotFound("no such track", entity="track", id=track_id)
    if not reason.strip():
        raise InvalidInput("say why the track is retired", field="reason")
    if track.retired_at is not None:
        raise InvalidInput(f"track {track_id} was retired already", field="track", value=track_id)
    track.retired_at = session.scalar(select(func.now()))
    track.retired_by = actor
    track.retired_reason = reason.strip()
    session.flush()
    return track


# -- coverage ------------------------------------------------------------------------------------------
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
SIMPLIFY_DEG: Final = 0.00005  # ~5 m: tracks are simplified this much before they are projected on a river
JUMP_FACTOR: Final = 3  # a step covering more river than this many times its own length, plus 2 corridors, is a jump


def coverage(session: Session, *, river: str | None = None, corridor_m: float) -> list[CoverageRow]:
    """Survey coverage per river: river km, walked km (all crews together) and walked km per crew.

    Retired tracks do not count. A stretch walked twice counts once (see ``COVERAGE_SQL``).

    Args:
        session: The catalogue.
        river: Only the river(s) of this name or code; None for every river.
        corridor_m: How near (metres) a track must be to a river line to count as walking its bank.

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
        text(COVERAGE_SQL),
        {
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


def crew_days(session: Session, *, crew: str | None = None) -> list[CrewDay]:
    """The walked tracks per crew and local day (retired tracks left out), the latest day first."""
    query = (
        select(
            SurveyTrack.crew,
            SurveyTrack.day,
            func.count(),
            func.sum(SurveyTrack.point_count),
            func.sum(SurveyTrack.length_m),
        )
        .where(SurveyTrack.retired_at.is_(None))
        .group_by(SurveyTrack.crew, SurveyTrack.day)
        .order_by(SurveyTrack.day.desc().nulls_last(), SurveyTrack.crew)
    )
    if crew is not None:
        query = query.where(SurveyTrack.crew == crew)
    return [
        CrewDay(c, d, int(n), int(p or 0), round(float(m or 0) / 1000, 3)) for c, d, n, p, m in session.execute(query)
    ]


def tracks_geojson(
    session: Session, *, bbox: BBox | None = None, tolerance_deg: float = 0.00002, limit: int = 5000
) -> dict[str, Any]:
    """The walked tracks (not retired) as GeoJSON for the map, simplified (about 2 m by default).

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
        "WHERE retired_at IS NULL"
    )
    params: dict[str, Any] = {"tol": tolerance_deg, "limit": limit + 1}
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
