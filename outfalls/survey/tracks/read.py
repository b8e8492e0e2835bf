"""Reading GPS tracks from GPX, KML/KMZ and GeoPackage files: every track, route or line, in CGCS2000, split
per local day (China time), with notes on what was left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyogrio
import shapely
from pyproj import Geod
from shapely.geometry import MultiPoint

from outfalls import clock
from outfalls.errors import InvalidInput
from outfalls.geo import parse_crs, transform_geometry
from outfalls.survey.photos import photo_basename

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
