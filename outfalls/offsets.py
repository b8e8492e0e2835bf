"""The offset datums of Chinese consumer map apps (GCJ-02, "Mars coordinates", and Baidu's BD-09) to and from
WGS84: the published forward formulas, inverted by iteration, vectorised for whole files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, TypeAlias

import numpy as np
from numpy.typing import NDArray

LonLat: TypeAlias = tuple[float, float]
_Array: TypeAlias = NDArray[np.float64]


# --- GCJ-02 / BD-09 -------------------------------------------------------------------------------------
# The forward WGS84 -> GCJ-02 formula is the one published by googollee/eviltransform (BSD-2-Clause),
# with its constants. It is written with numpy ufuncs so that every function below works on whole arrays.

_EARTH_A: Final = 6378137.0
_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0

# The "outOfChina" rectangle used by eviltransform and the Chinese map SDKs. It is crude (it includes
# Bhutan, Taiwan, parts of Mongolia, Korea and Japan, ...), but mainland outfalls are always inside it, so
# for this project it only decides that points far away (test data, wrong axis order) are left unchanged.
_CHINA_LON: Final = (72.004, 137.8347)
_CHINA_LAT: Final = (0.8293, 55.8271)

_ITER_TOLERANCE_DEG: Final = 1e-9  # ~0.1 mm
_MAX_ITERATIONS: Final = 30


def _outside_china(lon: _Array, lat: _Array) -> NDArray[np.bool_]:
    return (lon < _CHINA_LON[0]) | (lon > _CHINA_LON[1]) | (lat < _CHINA_LAT[0]) | (lat > _CHINA_LAT[1])


def _gcj_delta(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    """Return the GCJ-02 shift (degrees) of WGS84 points, ignoring the China rectangle."""
    x = lon - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    common = 20.0 * np.sin(6.0 * x_pi) + 20.0 * np.sin(2.0 * x_pi)
    d_lat = common + 20.0 * np.sin(y_pi) + 40.0 * np.sin(y_pi / 3.0)
    d_lon = common + 20.0 * np.sin(x_pi) + 40.0 * np.sin(x_pi / 3.0)
    d_lat += 160.0 * np.sin(y_pi / 12.0) + 320.0 * np.sin(y_pi / 30.0)
    d_lon += 150.0 * np.sin(x_pi / 12.0) + 300.0 * np.sin(x_pi / 30.0)
    d_lat *= 2.0 / 3.0
    d_lon *= 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    d_lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lon += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x

    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_EARTH_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_EARTH_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def _wgs_to_gcj(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    d_lon, d_lat = _gcj_delta(lon, lat)
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)


def _invert(
    forward: Callable[[_Array, _Array], tuple[_Array, _Array]],
    lon: _Array,
    lat: _Array,
    start: tuple[_Array, _Array],
) -> tuple[_Array, _Array]:
    """Solve ``forward(p) == (lon, lat)`` for p by fixed-point iteration from ``start``.

    The shifts vary slowly (their derivative is ~1e-5), so each step gains about five digits; three or
    four steps reach the tolerance. The whole array is iterated at once.
    """
    p_lon, p_lat = start
    for _ in range(_MAX_ITERATIONS):
        f_lon, f_lat = forward(p_lon, p_lat)
        e_lon = f_lon - lon
        e_lat = f_lat - lat
        p_lon = p_lon - e_lon
        p_lat = p_lat - e_lat
        if e_lon.size == 0 or float(np.max(np.maximum(np.abs(e_lon), np.abs(e_lat)))) < _ITER_TOLERANCE_DEG:
            break
    return p_lon, p_lat


def _gcj_to_wgs(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    w_lon, w_lat = _invert(_wgs_to_gcj, lon, lat, (lon, lat))
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, w_lon), np.where(outside, lat, w_lat)


def _gcj_to_bd(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    outside = _outside_china(lon, lat)
    return (
        np.where(outside, lon, z * np.cos(theta) + 0.0065),
        np.where(outside, lat, z * np.sin(theta) + 0.006),
    )


def _bd_to_gcj(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    # The standard Baidu closed form is only an approximate inverse of the forward formula (round-trip
    # error up to ~0.2 m); it is used as the starting point and refined against the forward formula so
    # that BD-09 -> GCJ-02 -> BD-09 is exact to < 1 mm.
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    start = (z * np.cos(theta), z * np.sin(theta))
    g_lon, g_lat = _invert(_gcj_to_bd, lon, lat, start)
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, g_lon), np.where(outside, lat, g_lat)


def _wgs_to_bd(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    return _gcj_to_bd(*_wgs_to_gcj(lon, lat))


def _bd_to_wgs(lon: _Array, lat: _Array) -> tuple[_Array, _Array]:
    return _gcj_to_wgs(*_bd_to_gcj(lon, lat))


def _on_point(fn: Callable[[_Array, _Array], tuple[_Array, _Array]], lon: float, lat: float) -> LonLat:
    out_lon, out_lat = fn(np.array([lon], dtype=np.float64), np.array([lat], dtype=np.float64))
    return float(out_lon[0]), float(out_lat[0])


def is_outside_china(lon: float, lat: float) -> bool:
    """Tell whether a point is outside the rectangle where GCJ-02 / BD-09 shifts apply.

    The rectangle (lon 72.004–137.8347, lat 0.8293–55.8271) is the one the Chinese map SDKs use. It is
    coarse, but every mainland outfall is inside it.

    Args:
        lon: Longitude in degrees.
        lat: Latitude in degrees.

    Returns:
        True when the obfuscation functions leave the point unchanged.
    """
    return not (_CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1])


def wgs84_to_gcj02(lon: float, lat: float) -> LonLat:
    """Shift a WGS84 point to GCJ-02 (points outside China are returned unchanged).

    Args:
        lon: WGS84 longitude in degrees.
        lat: WGS84 latitude in degrees.

    Returns:
        The GCJ-02 (lon, lat).
    """
    return _on_point(_wgs_to_gcj, lon, lat)


def gcj02_to_wgs84(lon: float, lat: float) -> LonLat:
    """Convert a GCJ-02 point to WGS84 by iterating the forward formula (error < 1 mm).

    Args:
        lon: GCJ-02 longitude in degrees.
        lat: GCJ-02 latitude in degrees.

    Returns:
        The WGS84 (lon, lat).
    """
    return _on_point(_gcj_to_wgs, lon, lat)


def gcj02_to_bd09(lon: float, lat: float) -> LonLat:
    """Convert a GCJ-02 point to BD-09 with the standard Baidu formula.

    Args:
        lon: GCJ-02 longitude in degrees.
        lat: GCJ-02 latitude in degrees.

    Returns:
        The BD-09 (lon, lat).
    """
    return _on_point(_gcj_to_bd, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> LonLat:
    """Convert a BD-09 point to GCJ-02 (standard Baidu inverse, refined to < 1 mm).

    Args:
        lon: BD-09 longitude in degrees.
        lat: BD-09 latitude in degrees.

    Returns:
        The GCJ-02 (lon, lat).
    """
    return _on_point(_bd_to_gcj, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> LonLat:
    """Convert a WGS84 point to BD-09 (via GCJ-02).

    Args:
        lon: WGS84 longitude in degrees.
        lat: WGS84 latitude in degrees.

    Returns:
        The BD-09 (lon, lat).
    """
    return _on_point(_wgs_to_bd, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> LonLat:
    """Convert a BD-09 point to WGS84 (via GCJ-02).

    Args:
        lon: BD-09 longitude in degrees.
        lat: BD-09 latitude in degrees.

    Returns:
        The WGS84 (lon, lat).
    """
    return _on_point(_bd_to_wgs, lon, lat)
