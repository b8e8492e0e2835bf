"""Coordinate normalisation: every stored geometry is CGCS2000 (EPSG:4490), lon/lat order.

Users declare the CRS of what they give us: WGS84, CGCS2000, any EPSG CRS (Gauss-Krüger, UTM, ...) or
the Chinese obfuscated datums GCJ-02 (高德/腾讯) and BD-09 (百度). This module converts to CGCS2000 and back.
"""

from __future__ import annotations

import functools
import math
import re
from enum import StrEnum
from typing import Any, Final, TypeAlias

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from outfalls.errors import InvalidInput
from outfalls.offsets import (
    _bd_to_wgs,
    _gcj_to_wgs,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    is_outside_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from outfalls.types import BBox

__all__ = [
    "CGCS2000",
    "CRS84",
    "WGS84",
    "Datum",
    "LonLat",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "distance_m",
    "from_cgcs2000",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "is_outside_china",
    "parse_bbox",
    "parse_crs",
    "split_antimeridian",
    "to_cgcs2000",
    "transform_geometry",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CGCS2000: Final = 4490
WGS84: Final = 4326
# WGS 84 with longitude first: the GeoJSON and OGC API default. EPSG:4326 itself puts latitude first, which
# only matters where axis order is read from the CRS (OGC API ``crs``/``bbox-crs``); here x is always east.
CRS84: Final = "OGC:CRS84"

LonLat: TypeAlias = tuple[float, float]
_Array: TypeAlias = NDArray[np.float64]


class Datum(StrEnum):
    """The canonical spellings of the CRSs that get special treatment; other CRSs are ``EPSG:<code>``."""

    WGS84 = "EPSG:4326"
    CGCS2000 = "EPSG:4490"
    GCJ02 = "GCJ-02"
    BD09 = "BD-09"


# --- declared CRS ---------------------------------------------------------------------------------------

_ALIASES: Final[dict[str, Datum]] = {
    "WGS84": Datum.WGS84,
    "WGS1984": Datum.WGS84,
    "EPSG4326": Datum.WGS84,
    "4326": Datum.WGS84,
    "CGCS2000": Datum.CGCS2000,
    "CGCS": Datum.CGCS2000,
    "EPSG4490": Datum.CGCS2000,
    "4490": Datum.CGCS2000,
    "GCJ02": Datum.GCJ02,
    "GCJ": Datum.GCJ02,
    "GCJ02LL": Datum.GCJ02,
    "BD09": Datum.BD09,
    "BD09LL": Datum.BD09,
    "BAIDU": Datum.BD09,
}
_EPSG_RE: Final = re.compile(r"(?:EPSG)?:*(\d+)")
# OGC APIs and GML name a CRS by URI or URN (the version part is ignored).
_OGC_NAME_RE: Final = re.compile(
    r"https?://www\.opengis\.net/def/crs/(EPSG|OGC)/[^/]*/([^/]+)|urn:ogc:def:crs:(EPSG|OGC):[^:]*:([^:]+)",
    re.IGNORECASE,
)

# Datums whose ballpark (no-op) transformation to CGCS2000 is right to well under a metre. WGS84 and
# ITRF realisations differ from CGCS2000 (ITRF97 at epoch 2000.0) by centimetres to decimetres.
_NEAR_CGCS2000_DATUMS: Final = ("China 2000", "World Geodetic System 1984", "International Terrestrial")


@functools.lru_cache(maxsize=64)
def _check_epsg(code: int) -> str:
    """Return ``EPSG:<code>`` after checking that points in it can be taken to CGCS2000 and back."""
    name = f"EPSG:{code}"
    try:
        crs = CRS.from_epsg(code)
    except CRSError:
        raise InvalidInput(f"unknown coordinate system {name!r}: EPSG has no such code", crs=name) from None
    if crs.is_geocentric or not (crs.is_geographic or crs.is_projected):
        raise InvalidInput(
            f"coordinate system {name} ({crs.name}) is not a geographic or projected 2D system",
            crs=name,
        )
    if not _hub(name):
        # PROJ knows no transformation and would silently apply a no-op "ballpark" datum shift, which is
        # wrong by tens to hundreds of metres for Beijing 1954 / Xian 1980.
        raise InvalidInput(
            f"no datum transformation from {name} ({crs.name}) to CGCS2000 or WGS84 is known; "
            "convert the coordinates to CGCS2000 or WGS84 first",
            crs=name,
        )
    return name


@functools.lru_cache(maxsize=64)
def _hub(name: str) -> str:
    """The CRS that coordinates in ``name`` are transformed to on their way to CGCS2000: CGCS2000 itself when
    the datum is (near) CGCS2000 or PROJ knows a transformation to it; otherwise WGS84 when PROJ knows a
    transformation to WGS84 (NAD83 State Plane, TWD97, ETRS89, JGD2000: no EPSG operation leads to CGCS2000,
    but WGS84 is CGCS2000 at the centimetre level, see ``_to_cgcs2000_arrays``); "" when neither is known.
    """
    crs = CRS.from_user_input(name)
    geodetic_datum = crs.geodetic_crs.datum if crs.geodetic_crs is not None else None
    datum = geodetic_datum.name if geodetic_datum is not None else ""
    cgcs2000 = Datum.CGCS2000.value
    if datum.startswith(_NEAR_CGCS2000_DATUMS) or _transformer(name, cgcs2000).accuracy >= 0:
        return cgcs2000
    if _transformer(name, Datum.WGS84.value).accuracy >= 0:
        return Datum.WGS84.value
    return ""


def parse_crs(text: str, *, field: str = "crs") -> str:
    """Normalise a user's spelling of a coordinate system.

    Args:
        text: For example ``"wgs84"``, ``"WGS 84"``, ``"4326"``, ``"epsg:4326"``, ``"cgcs2000"``,
            ``"gcj02"``, ``"GCJ-02"``, ``"bd09"``, ``"baidu"``, ``"4498"``, or as OGC APIs write them:
            ``"http://www.opengis.net/def/crs/EPSG/0/4490"``, ``"urn:ogc:def:crs:EPSG::4326"``,
            ``"[EPSG:4490]"``, ``"http://www.opengis.net/def/crs/OGC/1.3/CRS84"`` (angle brackets allowed).
        field: The name of the field, option or parameter that gave ``text``, for the error.

    Returns:
        ``"EPSG:4326"``, ``"EPSG:4490"``, ``"GCJ-02"``, ``"BD-09"``, ``"OGC:CRS84"`` or ``"EPSG:<code>"``.

    Raises:
        InvalidInput: The text names no coordinate system, an EPSG code that does not exist, or one that
            cannot be transformed to CGCS2000 reliably; the message starts with ``field``.
    """
    try:
        return _parse_crs(text)
    except InvalidInput as err:
        raise InvalidInput(f"{field}: {err.message}", field=field, value=text, crs=text) from err


def _parse_crs(text: str) -> str:
    raw = text.strip()
    if len(raw) > 2 and (raw[0], raw[-1]) in (("<", ">"), ("[", "]")):
        raw = raw[1:-1].strip()
    uri = _OGC_NAME_RE.fullmatch(raw)
    if uri is not None:
        authority = (uri.group(1) or uri.group(3)).upper()
        code = uri.group(2) or uri.group(4)
        if authority == "OGC" and code.upper() == "CRS84":
            return CRS84
        if authority != "EPSG" or not code.isdigit():
            raise InvalidInput(f"unknown coordinate system {text!r}: use CRS84 or an EPSG code", crs=text)
        raw = code
    elif raw.upper() in ("OGC:CRS84", "CRS84"):
        return CRS84
    key = re.sub(r"[\s_\-]+", "", raw).upper()
    datum = _ALIASES.get(key.replace(":", ""))
    if datum is not None:
        return datum.value
    match = _EPSG_RE.fullmatch(key)
    if match is None:
        raise InvalidInput(
            f"unknown coordinate system {text!r}: use WGS84, CGCS2000, GCJ-02, BD-09 or EPSG:<code>",
            crs=text,
        )
    number = int(match.group(1))
    if number == WGS84:
        return Datum.WGS84.value
    if number == CGCS2000:
        return Datum.CGCS2000.value
    return _check_epsg(number)


# --- bounding boxes -------------------------------------------------------------------------------------


def parse_bbox(text: str, *, field: str = "bbox", lat_first: bool = False) -> BBox:
    """A bounding box written ``min_lon,min_lat,max_lon,max_lat`` in degrees (6 numbers, with heights,
    also do; the heights are dropped).

    A west edge east of the east edge means the box crosses the antimeridian (:func:`split_antimeridian`).

    Args:
        text: The comma-separated numbers.
        field: The name of the field or parameter, for the error.
        lat_first: The numbers are ``min_lat,min_lon,max_lat,max_lon``: the axis order EPSG gives
            EPSG:4326 and EPSG:4490 (an OGC API ``bbox-crs``).

    Returns:
        ``(west, south, east, north)``: longitude first, whatever the order written.

    Raises:
        InvalidInput: not 4 or 6 finite numbers, out of range, or the south edge north of the north edge.
    """
    try:
        numbers = [float(v) for v in text.split(",")]
    except ValueError as err:
        raise InvalidInput(f"{field} must be 4 or 6 comma-separated numbers", field=field, value=text) from err
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InvalidInput(f"{field} must be 4 or 6 comma-separated numbers", field=field, value=text)
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a, b, c, d = numbers
    west, south, east, north = (b, a, d, c) if lat_first else (a, b, c, d)
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        order = "min_lat,min_lon,max_lat,max_lon" if lat_first else "min_lon,min_lat,max_lon,max_lat"
        raise InvalidInput(f"{field} must be {order} within -180..180 and -90..90", field=field, value=text)
    return (west, south, east, north)


def split_antimeridian(bbox: BBox) -> list[BBox]:
    """``bbox`` as one box, or two when it crosses the antimeridian (west edge east of the east edge)."""
    west, south, east, north = bbox
    if west > east:
        return [(west, south, 180.0, north), (-180.0, south, east, north)]
    return [bbox]


@functools.lru_cache(maxsize=64)
def _transformer(source: str, target: str) -> Transformer:
    # always_xy: callers always pass (easting/longitude, northing/latitude), whatever the EPSG axis order.
    return Transformer.from_crs(source, target, always_xy=True)


# --- to and from CGCS2000 -------------------------------------------------------------------------------


def _as_arrays(x: Any, y: Any) -> tuple[_Array, _Array]:
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _check_lonlat(lon: _Array, lat: _Array, x: _Array, y: _Array, crs: str, *, projected_ok: bool = False) -> None:
    """Raise InvalidInput for non-finite results or (unless projected_ok) lon/lat out of range."""
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if not projected_ok:
        bad |= (np.abs(lon) > 180.0) | (np.abs(lat) > 90.0)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    count = int(bad.sum())
    where = "" if count == 1 else f" ({count} coordinates are wrong; the first is shown)"
    if not (math.isfinite(x[i]) and math.isfinite(y[i])):
        message = f"coordinate ({x[i]}, {y[i]}) is not a finite number{where}"
    elif not (math.isfinite(lon[i]) and math.isfinite(lat[i])):
        message = f"coordinate ({x[i]}, {y[i]}) cannot be transformed from {crs}{where}; check the declared CRS"
    else:
        message = (
            f"coordinate ({x[i]}, {y[i]}) declared as {crs} gives longitude {lon[i]}, latitude {lat[i]}, "
            f"outside [-180, 180] / [-90, 90]{where}; check the declared CRS and that x is the "
            "easting/longitude and y the northing/latitude"
        )
    raise InvalidInput(message, x=float(x[i]), y=float(y[i]), crs=crs)


def _to_cgcs2000_arrays(x: _Array, y: _Array, crs: str) -> tuple[_Array, _Array]:
    canonical = parse_crs(crs)
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        _check_lonlat(x, y, x, y, canonical, projected_ok=True)
    if canonical in (Datum.WGS84, Datum.CGCS2000, CRS84):
        # WGS84 -> CGCS2000 is an identity at the centimetre level. EPSG has no grid-based operation
        # between them, practitioners treat them as the same, and PROJ itself would only apply a no-op
        # "ballpark geographic offset" - so do not go through pyproj at all.
        lon, lat = x.copy(), y.copy()
    elif canonical == Datum.GCJ02:
        lon, lat = _gcj_to_wgs(x, y)
    elif canonical == Datum.BD09:
        lon, lat = _bd_to_wgs(x, y)
    else:
        lon, lat = _as_arrays(*_transformer(canonical, _hub(canonical)).transform(x, y))
    _check_lonlat(lon, lat, x, y, canonical)
    return lon, lat


def to_cgcs2000(x: float, y: float, crs: str) -> LonLat:
    """Convert one coordinate from a declared CRS to CGCS2000.

    Args:
        x: Easting or longitude (traditional GIS order, whatever the EPSG axis order of ``crs``).
        y: Northing or latitude.
        crs: The declared CRS, in any spelling :func:`parse_crs` accepts.

    Returns:
        The CGCS2000 (lon, lat) in degrees.

    Raises:
        InvalidInput: The CRS is unknown, a number is not finite, or the result is not a valid lon/lat
            (typically metres declared as degrees, or swapped axes).
    """
    lon, lat = _to_cgcs2000_arrays(*_as_arrays([x], [y]), crs)
    return float(lon[0]), float(lat[0])


def from_cgcs2000(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert a CGCS2000 point to another CRS, for output.

    Args:
        lon: CGCS2000 longitude in degrees.
        lat: CGCS2000 latitude in degrees.
        crs: The target CRS, in any spelling :func:`parse_crs` accepts.

    Returns:
        (x, y) in the target CRS: (lon, lat) for geographic ones, (easting, northing) for projected ones.

    Raises:
        InvalidInput: The CRS is unknown, the point is not a valid lon/lat, or it cannot be projected.
    """
    canonical = parse_crs(crs)
    lons, lats = _as_arrays([lon], [lat])
    _check_lonlat(lons, lats, lons, lats, Datum.CGCS2000.value)
    if canonical in (Datum.WGS84, Datum.CGCS2000, CRS84):
        return lon, lat  # identity at the centimetre level, see _to_cgcs2000_arrays
    if canonical == Datum.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if canonical == Datum.BD09:
        return wgs84_to_bd09(lon, lat)
    xs, ys = _as_arrays(*_transformer(_hub(canonical), canonical).transform(lons, lats))
    if not (math.isfinite(xs[0]) and math.isfinite(ys[0])):
        raise InvalidInput(f"point ({lon}, {lat}) cannot be expressed in {canonical}", crs=canonical)
    return float(xs[0]), float(ys[0])


def transform_geometry(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Convert every coordinate of a geometry from a declared CRS to CGCS2000.

    The conversion is vectorised over all vertices at once. Z values, if any, are kept unchanged.

    Args:
        geom: Any shapely geometry with (x, y) in traditional GIS order.
        crs: The declared CRS, in any spelling :func:`parse_crs` accepts.

    Returns:
        A new geometry of the same type in CGCS2000 (lon, lat).

    Raises:
        InvalidInput: As for :func:`to_cgcs2000`, for the first bad vertex.
    """
    parse_crs(crs)  # fail on a bad CRS even for an empty geometry

    def convert(coords: _Array) -> _Array:
        out = np.array(coords, dtype=np.float64)
        if len(out):
            out[:, 0], out[:, 1] = _to_cgcs2000_arrays(out[:, 0], out[:, 1], crs)
        return out

    result: BaseGeometry = shapely.transform(geom, convert, include_z=bool(shapely.has_z(geom)))
    return result


_GEOD: Final = Geod(ellps="GRS80")


def distance_m(a: LonLat, b: LonLat) -> float:
    """Return the geodesic distance in metres between two CGCS2000 points on the GRS80 ellipsoid.

    Args:
        a: First (lon, lat) in degrees.
        b: Second (lon, lat) in degrees.

    Returns:
        The distance in metres.
    """
    _, _, dist = _GEOD.inv(a[0], a[1], b[0], b[1])
    return float(dist)


def to_cgcs2000_many(x: Any, y: Any, crs: str) -> tuple[_Array, _Array, NDArray[np.bool_]]:
    """Convert many coordinates at once, marking the bad ones instead of raising (for row-by-row reports).

    Args:
        x: Eastings or longitudes (NaN where a row has none).
        y: Northings or latitudes.
        crs: The declared CRS, in any spelling :func:`parse_crs` accepts.

    Returns:
        (lon, lat, ok): CGCS2000 degrees, NaN where ``ok`` is False (not finite, not transformable, or not a
        valid lon/lat — typically metres declared as degrees).

    Raises:
        InvalidInput: The CRS itself is unknown or cannot be transformed to CGCS2000.
    """
    canonical = parse_crs(crs)
    xs, ys = _as_arrays(x, y)
    lon = np.full(xs.shape, np.nan)
    lat = np.full(xs.shape, np.nan)
    finite = np.isfinite(xs) & np.isfinite(ys)
    if canonical not in (Datum.WGS84, Datum.CGCS2000, CRS84, Datum.GCJ02, Datum.BD09):
        pass  # projected or other geographic systems: PROJ handles any value
    elif finite.any():
        finite &= (np.abs(xs) <= 180.0) & (np.abs(ys) <= 90.0)  # degrees must be degrees before any datum math
    if finite.any():
        if canonical in (Datum.WGS84, Datum.CGCS2000, CRS84):
            lon[finite], lat[finite] = xs[finite], ys[finite]
        elif canonical == Datum.GCJ02:
            lon[finite], lat[finite] = _gcj_to_wgs(xs[finite], ys[finite])
        elif canonical == Datum.BD09:
            lon[finite], lat[finite] = _bd_to_wgs(xs[finite], ys[finite])
        else:
            tx, ty = _as_arrays(*_transformer(canonical, _hub(canonical)).transform(xs[finite], ys[finite]))
            lon[finite], lat[finite] = tx, ty
    ok = finite & np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    lon[~ok] = np.nan
    lat[~ok] = np.nan
    return lon, lat, ok
