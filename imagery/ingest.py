"""Ingesting orthophotos: any georeferenced GeoTIFF (any CRS; RGB, RGBA, with nodata, alpha or no mask) becomes a
Cloud-Optimized GeoTIFF with overviews in the imagery store, laid on the Web Mercator tile grid, and PostGIS records
the footprint of its valid pixels (polygonised from the mask, not the bounding box) in CGCS2000, its ground
resolution, band layout and capture date. The same file (by SHA-256) is ingested once.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.features
import shapely
from geoalchemy2.shape import from_shape
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import ProjError
from rasterio._err import CPLE_BaseError  # GDAL errors rasterio raises as they are (no public alias)
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from shapely import MultiPolygon, Polygon, make_valid, segmentize, unary_union
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagery.errors import NotGeoreferenced, UnreadableImage
from imagery.models import Orthophoto, Sortie
from outfalls.errors import InvalidInput
from outfalls.types import CGCS2000

_GEOD = Geod(ellps="GRS80")  # the CGCS2000 ellipsoid (GRS80 to within 0.1 mm)
_MASK_MAX_PX = 2048  # the valid-pixel mask is polygonised at most this many pixels on a side
_BANDS = {ColorInterp.red: "R", ColorInterp.green: "G", ColorInterp.blue: "B", ColorInterp.alpha: "A"}


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ingesting one file did; ``as_dict`` is the ``--json`` contract of ``outfalls imagery ingest``."""

    file: str
    id: int | None
    status: str  # ingested, exists, refused
    crs: str | None = None
    resolution_m: float | None = None
    footprint_area_m2: float | None = None
    footprint_wkt_4326: str | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "file": self.file,
            "id": self.id,
            "status": self.status,
            "crs": self.crs,
            "resolution_m": self.resolution_m,
            "footprint_area_m2": self.footprint_area_m2,
            "footprint_wkt_4326": self.footprint_wkt_4326,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Footprint:
    """The valid pixels of a raster as a multipolygon in lon/lat (CGCS2000 and WGS 84 agree to a metre)."""

    lonlat: MultiPolygon
    area_m2: float


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def crs_label(crs: rasterio.crs.CRS) -> str:
    """``EPSG:n`` when the CRS has a code, else its WKT."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def check_georeferenced(src: rasterio.io.DatasetReader, name: str) -> None:
    """Refuse an image that cannot be placed on the map.

    Raises:
        NotGeoreferenced: no CRS, or no geotransform (an identity transform, or only GCPs or RPCs).
    """
    gcps, _gcp_crs = src.gcps
    if src.crs is None or src.transform == Affine.identity():
        extra = " (it has ground control points only: rectify it first, e.g. with gdalwarp)" if gcps else ""
        raise NotGeoreferenced(
            f"{name} is not georeferenced: it has no coordinate system or geotransform{extra}; "
            "an orthophoto must be a GeoTIFF placed on the ground",
            field="file",
            value=name,
        )


def band_layout(src: rasterio.io.DatasetReader) -> str:
    """``RGB``, ``RGBA``, ``gray`` … from the colour interpretation of the bands."""
    interp = src.colorinterp
    letters = "".join(_BANDS.get(c, "?") for c in interp)
    if letters in ("RGB", "RGBA"):
        return letters
    if len(interp) == 1:
        return "gray"
    return ",".join(c.name for c in interp)


def mask_kind(src: rasterio.io.DatasetReader) -> str:
    """How invalid pixels are marked: ``alpha``, ``nodata``, ``mask`` (an internal or external mask) or ``none``."""
    flags = set(src.mask_flag_enums[0])
    if MaskFlags.alpha in flags:
        return "alpha"
    if MaskFlags.nodata in flags:
        return "nodata"
    if MaskFlags.per_dataset in flags:
        return "mask"
    return "none"


def ground_resolution_m(src: rasterio.io.DatasetReader) -> float:
    """The ground size of a pixel in metres at the image centre (any CRS: metres, feet, degrees)."""
    to_ll = Transformer.from_crs(CRS.from_user_input(src.crs.to_wkt()), CRS.from_epsg(4326), always_xy=True)
    col, row = src.width / 2, src.height / 2
    corners = [src.transform @ (col, row), src.transform @ (col + 1, row), src.transform @ (col, row + 1)]
    (x0, y0), (x1, y1), (x2, y2) = (to_ll.transform(x, y) for x, y in corners)
    dx = _GEOD.inv(x0, y0, x1, y1)[2]
    dy = _GEOD.inv(x0, y0, x2, y2)[2]
    return float(math.sqrt(abs(dx * dy)))


def valid_footprint(src: rasterio.io.DatasetReader) -> Footprint:
    """The footprint of the valid pixels (per the alpha band, nodata value or mask), in lon/lat.

    Holes and islands smaller than a thousandth of the image are dropped: a black pixel of a nodata=0 image is
    not a hole in the coverage.

    Raises:
        InvalidInput: the image has no valid pixel.
    """
    scale = max(1.0, max(src.width, src.height) / _MASK_MAX_PX)
    shape_out = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
    mask = src.dataset_mask(out_shape=shape_out)
    transform = src.transform @ Affine.scale(src.width / shape_out[1], src.height / shape_out[0])
    valid = (mask > 0).astype(np.uint8)
    pieces = [shape(geom) for geom, value in rasterio.features.shapes(valid, mask=valid, transform=transform)]
    if not pieces:
        raise InvalidInput("the image has no valid pixel (everything is nodata or transparent)", field="file")
    native = unary_union(pieces)
    pixel = abs(transform.a)
    min_area = max(pixel * pixel * 4, native.area / 1000)
    polygons = [_without_small_holes(p, min_area) for p in getattr(native, "geoms", [native])]
    polygons = [p for p in polygons if p.area >= min_area] or polygons
    native = unary_union(polygons).simplify(pixel / 2)
    to_ll = Transformer.from_crs(CRS.from_user_input(src.crs.to_wkt()), CRS.from_epsg(4326), always_xy=True)
    densified = segmentize(native, pixel * 16)  # projections bend straight lines
    lonlat = shapely.transform(densified, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    lonlat = make_valid(lonlat)
    parts = [g for g in getattr(lonlat, "geoms", [lonlat]) if isinstance(g, Polygon) and not g.is_empty]
    multi = MultiPolygon(parts)
    area, _perimeter = _GEOD.geometry_area_perimeter(multi)
    return Footprint(multi, abs(float(area)))


def _without_small_holes(polygon: Polygon, min_area: float) -> Polygon:
    holes = [ring for ring in polygon.interiors if Polygon(ring).area >= min_area]
    return Polygon(polygon.exterior, holes)


def _cog_profile() -> dict[str, Any]:
    from rio_cogeo.profiles import cog_profiles

    profile: dict[str, Any] = dict(cog_profiles.get("deflate"))  # type: ignore[no-untyped-call]  # lossless
    profile.update(blockxsize=512, blockysize=512, predictor=2)
    return profile


def _to_cog(src_path: Path, target: Path, *, add_mask: bool = False) -> None:
    from rio_cogeo.cogeo import cog_translate

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".tif")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rio-cogeo warns about block sizes of small images
            # Web-optimised: the COG is laid on the Web Mercator tile grid, so a tile is a window read (no warp).
            # An image without a mask gets an alpha band first, so the margins of the reprojection stay transparent.
            with rasterio.open(src_path) as src, WarpedVRT(src, add_alpha=add_mask) as vrt:
                cog_translate(vrt if add_mask else src, tmp_name, _cog_profile(), overview_resampling="average",
                              quiet=True, web_optimized=True,
                              config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_INTERNAL_MASK": True})  # fmt: skip
        os.replace(tmp_name, target)  # atomic: a tile reader never sees half a file
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def open_raster(path: Path, name: str) -> rasterio.io.DatasetReader:
    """Open an image with GDAL.

    Raises:
        UnreadableImage: not a raster GDAL can read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # refused below with a clear message
            return rasterio.open(path)
    except RasterioIOError as err:
        raise UnreadableImage(f"{name} is not an image GDAL can read", field="file", value=name) from err


def get_or_create_sortie(session: Session, code: str, *, actor: str, flown_on: date | None = None) -> Sortie:
    """The sortie with this code, created (with only its code and date) on first use.

    Raises:
        InvalidInput: an empty code.
    """
    code = code.strip()
    if not code:
        raise InvalidInput("a sortie needs a code", field="sortie")
    sortie = session.scalar(select(Sortie).where(Sortie.code == code))
    if sortie is None:
        sortie = Sortie(code=code, flown_on=flown_on, created_by=actor)
        session.add(sortie)
        session.flush()
    return sortie


def ingest_orthophoto(
    session: Session,
    path: Path,
    *,
    store_dir: Path,
    actor: str,
    sortie: str | None = None,
    captured_on: date | None = None,
    name: str | None = None,
) -> IngestResult:
    """Ingest one orthophoto: COG in the store, footprint and metadata in PostGIS; the caller commits.

    Re-ingesting the same bytes returns the existing record (``status`` = ``exists``) and changes nothing.

    Raises:
        UnreadableImage: not a raster. NotGeoreferenced: no CRS or geotransform.
        InvalidInput: no valid pixel, or an empty sortie code.
    """
    name = name or path.name
    digest = sha256_of(path)
    existing = session.scalar(select(Orthophoto).where(Orthophoto.sha256 == digest))
    if existing is not None:
        return _result(existing, name, "exists", f"already ingested as orthophoto {existing.id}")
    try:
        raster = _read_and_store(path, name, digest, store_dir)
    except (RasterioError, CPLE_BaseError, ProjError, ValueError) as err:
        # GDAL and PROJ fail in many ways on a damaged or odd file (a truncated strip, a transform that cannot
        # be inverted, a local coordinate system, coordinates off the earth): each is this file's problem only
        raise UnreadableImage(f"{name} could not be read as an orthophoto ({_first_line(err)})", field="file",
                              value=name) from err  # fmt: skip
    layout, masking, dtype, crs, resolution, width, height, count, captured, relative, target, footprint = raster
    captured = captured_on or captured
    flown = get_or_create_sortie(session, sortie, actor=actor, flown_on=captured) if sortie else None
    photo = Orthophoto(
        sha256=digest, file_name=name, cog_path=relative, sortie_id=flown.id if flown else None,
        captured_on=captured, crs=crs, width=width, height=height, band_count=count, band_layout=layout,
        mask_kind=masking, dtype=dtype, resolution_m=round(resolution, 4), size_bytes=target.stat().st_size,
        footprint=from_shape(footprint.lonlat, srid=CGCS2000), footprint_area_m2=round(footprint.area_m2, 2),
        ingested_by=actor,
    )  # fmt: skip
    session.add(photo)
    session.flush()
    return _result(photo, name, "ingested", "", footprint.lonlat)


def _first_line(err: BaseException) -> str:
    """The most telling line of a GDAL/PROJ error: rasterio's "Read failed" points at the GDAL error behind it."""
    cause = err.__cause__ or err.__context__
    if cause is not None and "previous exception" in str(err):
        err = cause
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _read_and_store(path: Path, name: str, digest: str, store_dir: Path) -> tuple[Any, ...]:
    """Read what is recorded of an image, write its COG into the store and compute its footprint."""
    with open_raster(path, name) as src:
        check_georeferenced(src, name)
        if np.dtype(src.dtypes[0]).kind == "c":
            raise UnreadableImage(f"{name} holds complex numbers (radar data), not an image", field="file", value=name)
        layout, masking, dtype = band_layout(src), mask_kind(src), str(src.dtypes[0])
        crs = crs_label(src.crs)
        resolution = ground_resolution_m(src)
        width, height, count = src.width, src.height, src.count
        captured = _tiff_date(src)
    relative = f"{digest[:2]}/{digest}.tif"
    target = store_dir / relative
    if not target.exists():
        # an image with every pixel valid gets a mask, or the margins the reprojection adds would count as image
        _to_cog(path, target, add_mask=masking in ("none", "mask"))
    with rasterio.open(target) as cog:
        footprint = valid_footprint(cog)
    return layout, masking, dtype, crs, resolution, width, height, count, captured, relative, target, footprint


def _tiff_date(src: rasterio.io.DatasetReader) -> date | None:
    """The TIFF's own date (``TIFFTAG_DATETIME``, ``YYYY:MM:DD HH:MM:SS``), if any."""
    raw = src.tags().get("TIFFTAG_DATETIME", "")
    try:
        return date(int(raw[0:4]), int(raw[5:7]), int(raw[8:10]))
    except ValueError:
        return None


def _result(
    photo: Orthophoto, name: str, status: str, message: str, lonlat: MultiPolygon | None = None
) -> IngestResult:
    from geoalchemy2.shape import to_shape

    geom = lonlat if lonlat is not None else to_shape(photo.footprint)
    return IngestResult(
        file=name, id=photo.id, status=status, crs=photo.crs, resolution_m=photo.resolution_m,
        footprint_area_m2=photo.footprint_area_m2, footprint_wkt_4326=geom.wkt, message=message,
    )  # fmt: skip


def refused(name: str, message: str) -> IngestResult:
    """The result for a file that was not ingested."""
    return IngestResult(file=name, id=None, status="refused", message=message)
