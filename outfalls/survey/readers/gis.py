"""GIS files through GDAL (pyogrio): GeoJSON, GeoPackage, KML/KMZ, GPX waypoints and Shapefiles. A Shapefile
without a ``.cpg`` has its attribute encoding detected instead of producing mojibake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.limits import DEFAULT_LIMITS, UnusableFile, _check_archive, _check_cell, _too_many_rows
from outfalls.survey.readers.gdal import counted, gdal_quiet, layer_choices
from outfalls.survey.readers.raw import RawTable, choose, plain


def _dbf_encoding(shp: Path) -> str | None:
    """The attribute encoding of a Shapefile: from its ``.cpg`` when there is one (None: let GDAL read it),
    otherwise detected from the ``.dbf`` bytes.
    """
    for suffix in (".cpg", ".CPG"):
        if shp.with_suffix(suffix).exists():
            return None
    for suffix in (".dbf", ".DBF"):
        dbf = shp.with_suffix(suffix)
        if dbf.exists():
            data = dbf.read_bytes()
            header_len = int.from_bytes(data[8:10], "little") if len(data) > 10 else 0
            records = data[header_len:]
            names = data[32:header_len]
            try:
                (names + records).decode("utf-8")
            except UnicodeDecodeError:
                return "GB18030"
            return "UTF-8"
    return None


def read_gis(path: Path, name: str, *, layer: str | None = None, limits: UploadSettings = DEFAULT_LIMITS,
             preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """Points and attributes of a GIS file; non-point features keep their attributes and have no point."""
    import pyogrio
    import shapely

    suffix = path.suffix.lower()
    notes: list[str] = []
    kwargs: dict[str, Any] = {}
    encoding = None
    if suffix == ".kmz":
        _check_archive(path, name, limits)
    if suffix == ".shp":
        encoding = _dbf_encoding(path)
        if encoding is not None:
            kwargs["encoding"] = encoding
            notes.append(
                f"no .cpg file: attribute encoding detected as {'GBK/GB18030' if 'GB' in encoding else encoding}"
            )
    layers = layer_choices(path, name)
    if suffix == ".gpx":
        layers = [c for c in layers if c.name == "waypoints"] or layers  # outfalls are waypoints; tracks go elsewhere
    chosen = choose(layers, layer, what="layer", option="--layer", source=name)
    source = name if len(layers) == 1 else f"{name} [{chosen}]"
    most = counted(path, chosen, source, limits, preview_rows)
    try:
        with gdal_quiet(notes):
            frame = pyogrio.read_dataframe(path, layer=chosen, max_features=most, **kwargs)
    except Exception as err:  # noqa: BLE001
        raise UnusableFile(f"{name}: GDAL could not read layer {chosen!r}: {err}", field="file") from err
    if len(frame) == 0:
        raise UnusableFile(f"{name} (layer {chosen!r}) has no features", field="file")
    partial = False
    if len(frame) == most:
        if preview_rows is None:
            raise _too_many_rows(source, limits)
        frame, partial = frame.iloc[: most - 1], True
    crs = None
    if frame.crs is not None:
        epsg = frame.crs.to_epsg(min_confidence=70)
        crs = f"EPSG:{epsg}" if epsg else frame.crs.to_wkt()
    columns = [str(c) for c in frame.columns if c != "geometry"]
    points: list[tuple[float, float] | None] = []
    for geom in frame.geometry:
        if geom is None or geom.is_empty:
            points.append(None)
        elif shapely.get_type_id(geom) == 0:  # Point
            points.append((float(geom.x), float(geom.y)))
        elif shapely.get_type_id(geom) == 4 and len(geom.geoms) == 1:  # a MultiPoint of one point
            points.append((float(geom.geoms[0].x), float(geom.geoms[0].y)))
        else:
            points.append(None)
    values = frame[columns].itertuples(index=False)
    rows = [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in values]
    for number, row in enumerate(rows, start=1):
        for column, value in row.items():
            _check_cell(value, source, number, column, limits)
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=list(range(1, len(rows) + 1)),
                    points=points, crs=crs, encoding=encoding, notes=notes, is_partial=partial)  # fmt: skip
