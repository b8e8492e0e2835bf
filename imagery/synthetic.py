"""Orthophotos made for tests, demos and benchmarks: real pixels placed again at another spot on the ground (in
any projected CRS), or generated textures along a river line. Nothing here is used by ingest or tiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.transform import Affine


def relocate(source: Path, target: Path, *, crs: str, center_lonlat: tuple[float, float]) -> Path:
    """Write the pixels (and alpha) of ``source`` unchanged into a GeoTIFF in ``crs`` centred on ``center_lonlat``,
    keeping the pixel size in metres.
    """
    with rasterio.open(source) as src:
        data = src.read()
        profile = src.profile.copy()
        res = abs(src.transform.a)
    to_xy = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
    cx, cy = to_xy.transform(*center_lonlat)
    width, height = data.shape[2], data.shape[1]
    transform = Affine(res, 0, cx - width * res / 2, 0, -res, cy + height * res / 2)
    profile.update(crs=crs, transform=transform, driver="GTiff", compress="lzw")
    profile.pop("nodata", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data)
        dst.colorinterp = [rasterio.enums.ColorInterp(c) for c in _interp(data.shape[0])]
    return target


def _interp(count: int) -> list[int]:
    from rasterio.enums import ColorInterp

    base = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return [int(c) for c in base[:count]]


def texture(width: int, height: int, seed: int) -> np.ndarray:
    """An RGB uint8 texture (fields, a water strip) that compresses like a real image, not like a flat colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (np.sin(xx / 23.0 + seed) * 40 + np.cos(yy / 31.0) * 40 + 120).astype(np.int16)
    noise = rng.integers(-18, 18, size=(3, height, width), dtype=np.int16)
    rgb = np.stack([base * 0.8, base, base * 0.6]) + noise
    water = np.abs(yy - height / 2 - np.sin(xx / 80.0) * height / 8) < height / 10
    rgb[:, water] = np.array([40, 70, 110], dtype=np.int16)[:, None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_ortho(target: Path, *, crs: str, center_lonlat: tuple[float, float], size_px: tuple[int, int],
                resolution_m: float, seed: int = 0, alpha_margin_px: int = 0) -> Path:  # fmt: skip
    """A generated orthophoto: RGB, or RGBA with a transparent margin (an irregular valid area) when
    ``alpha_margin_px`` > 0.
    """
    width, height = size_px
    to_xy = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
    cx, cy = to_xy.transform(*center_lonlat)
    transform = Affine(resolution_m, 0, cx - width * resolution_m / 2, 0, -resolution_m, cy + height * resolution_m / 2)
    rgb = texture(width, height, seed)
    bands = [rgb[0], rgb[1], rgb[2]]
    if alpha_margin_px:
        alpha = np.zeros((height, width), dtype=np.uint8)
        m = alpha_margin_px
        alpha[m : height - m, m : width - m] = 255
        alpha[m : height // 3, m : width // 3] = 0  # a notch: the footprint is not the box
        bands.append(alpha)
    target.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": len(bands), "dtype": "uint8",
               "crs": crs, "transform": transform, "compress": "deflate", "tiled": True,
               "blockxsize": 256, "blockysize": 256}  # fmt: skip
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(np.stack(bands))
        dst.colorinterp = [rasterio.enums.ColorInterp(c) for c in _interp(len(bands))]
    return target


def along_line(points: Sequence[tuple[float, float]], count: int) -> list[tuple[float, float]]:
    """``count`` positions spread evenly along a polyline of lon/lat points (by vertex distance)."""
    if count <= 0 or not points:
        return []
    arr = np.asarray(points, dtype=float)
    seg = np.hypot(*np.diff(arr, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    wanted = np.linspace(0, cum[-1], count + 2)[1:-1]
    return [(float(np.interp(w, cum, arr[:, 0])), float(np.interp(w, cum, arr[:, 1]))) for w in wanted]
