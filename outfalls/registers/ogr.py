"""GIS registers through GDAL (pyogrio): GeoPackage, zipped Shapefile (with .cpg and the field-name table),
GeoJSON, KML and FlatGeobuf, with the as-of day as their timestamps.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from outfalls.registers.columns import COLUMN_NAMES, COLUMNS, SHP_NAMES
from outfalls.registers.files import Progress, fixed_zip_entry, remove
from outfalls.registers.query import RegisterQuery, iter_chunks

LAYER = "outfall_register"
_DRIVERS = {"gpkg": "GPKG", "shp": "ESRI Shapefile", "geojson": "GeoJSON", "kml": "KML", "fgb": "FlatGeobuf"}
_APPENDS = frozenset({"gpkg", "shp"})  # formats written block by block; the others need every row at once
# Rows per GeoPackage/Shapefile write: a block appended to an existing layer goes through the spatial index's
# triggers row by row, twice the time of the first write (whose index is built in one pass at the end), so a
# province's register is written at once and a national one in a few blocks.
APPEND_ROWS = 250_000
_DBF_BYTES = 254  # the longest text a dBASE field holds, in bytes


def _columns(chunk: Sequence[tuple[Any, ...]], kind: str) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Field arrays (and null masks) for pyogrio, one per column."""
    data: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for i, col in enumerate(COLUMNS):
        values = [row[i] for row in chunk]
        if col.kind == "int":
            data.append(np.array([0 if v is None else v for v in values], dtype=np.int32))
            masks.append(np.array([v is None for v in values], dtype=bool))
        elif col.kind == "float":
            data.append(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
            masks.append(None)
        elif col.kind == "date":
            dates = np.array(values, dtype="datetime64[D]")  # None becomes NaT
            data.append(dates)
            masks.append(np.isnat(dates))
        else:
            if kind == "shp":
                values = [None if v is None else _dbf_text(v) for v in values]
            data.append(np.array(values, dtype=object))
            masks.append(None)
    return data, masks


def _dbf_text(value: str) -> str:
    """Text cut to what a dBASE field holds (254 bytes of UTF-8), on a character boundary."""
    raw = value.encode("utf-8")
    if len(raw) <= _DBF_BYTES:
        return value
    return raw[: _DBF_BYTES - 3].decode("utf-8", errors="ignore") + "…"


_LON, _LAT = COLUMN_NAMES.index("lon"), COLUMN_NAMES.index("lat")


def _points(chunk: Sequence[tuple[Any, ...]]) -> np.ndarray:
    import shapely

    lon = np.array([row[_LON] for row in chunk], dtype=np.float64)
    lat = np.array([row[_LAT] for row in chunk], dtype=np.float64)
    return np.asarray(shapely.to_wkb(shapely.points(lon, lat)), dtype=object)


def write_ogr(session: Session, query: RegisterQuery, path: Path, kind: str, note: Progress) -> int:
    """The register as a one-layer ``kind`` dataset (a Shapefile zipped), written in blocks where the format
    appends; the number of rows written.
    """
    import pyogrio.raw

    options = _ogr_options(kind, query)
    target = path
    if kind == "shp":  # a folder of .shp/.shx/.dbf/.prj/.cpg, zipped at the end
        remove(path)
        target = path.with_suffix("")
        target.mkdir()
        target = target / f"{LAYER}.shp"
    else:
        remove(path)
    fields = [SHP_NAMES[c.name] if kind == "shp" else c.name for c in COLUMNS]
    written = 0
    pending: list[tuple[Any, ...]] = []

    def write(rows: Sequence[tuple[Any, ...]], append: bool) -> None:
        data, masks = _columns(rows, kind)
        with _gdal_stamp(query):
            pyogrio.raw.write(str(target), _points(rows), data, fields, field_mask=masks, layer=LAYER,
                              driver=_DRIVERS[kind], geometry_type="Point", crs=f"EPSG:{query.crs}", encoding="UTF-8"
                              if kind == "shp" else None, append=append, **options)  # fmt: skip

    flushed = 0
    for chunk in iter_chunks(session, query):
        pending.extend(chunk)
        written += len(chunk)
        if kind in _APPENDS and len(pending) >= APPEND_ROWS:
            write(pending, append=flushed > 0)
            flushed += len(pending)
            pending = []
        note("reading", written, query.upper_bound)
    if pending or flushed == 0:
        write(pending, append=flushed > 0)  # an empty register is still a layer with its fields
    if kind == "shp":
        _zip_folder(target.parent, path)
        remove(target.parent)
    return written


def _ogr_options(kind: str, query: RegisterQuery) -> dict[str, Any]:
    if kind == "gpkg":
        # GeoPackage 1.3: GDAL 3.6 (Debian 12) and QGIS read it without a warning, as they do not all for 1.4
        return {"dataset_options": {"VERSION": "1.3"}, "layer_options": {"SPATIAL_INDEX": "YES"}}
    if kind == "shp":
        return {"layer_options": {"DBF_DATE_LAST_UPDATE": query.as_of.isoformat(), "RESIZE": "YES"}}
    if kind == "geojson":
        return {"layer_options": {"WRITE_BBOX": "NO", "COORDINATE_PRECISION": "7"}}
    if kind == "kml":
        return {"dataset_options": {"NameField": "name", "DescriptionField": "national_code"}}
    if kind == "fgb":
        return {"layer_options": {"SPATIAL_INDEX": "YES"}}
    return {}


@contextmanager
def _gdal_stamp(query: RegisterQuery) -> Iterator[None]:
    """GeoPackage timestamps are the as-of day, not the time of writing (GDAL's ``OGR_CURRENT_DATE``)."""
    import pyogrio

    stamp = datetime.combine(query.as_of, time(0, 0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _zip_folder(folder: Path, out: Path) -> None:
    """Zip a Shapefile's parts (and the field-name mapping) with fixed entry dates, in a fixed order."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(folder.iterdir()):
            archive.writestr(fixed_zip_entry(part.name), part.read_bytes())
        archive.writestr(fixed_zip_entry("FIELDS.csv"), shapefile_field_table().encode("utf-8-sig"))


def shapefile_field_table() -> str:
    """The documented mapping of register fields to Shapefile field names (≤ 10 characters), as CSV."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["shapefile_field", "register_field", "label_zh", "label_en"])
    for c in COLUMNS:
        out.writerow([c.shp, c.name, c.zh, c.en])
    return buffer.getvalue()
