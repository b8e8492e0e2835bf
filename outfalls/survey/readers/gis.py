"""GIS files through GDAL (pyogrio): GeoJSON, GeoPackage, KML/KMZ, GPX waypoints and Shapefiles. A Shapefile
without a ``.cpg`` has its attribute encoding detected instead of producing mojibake. A project of several layers
(QField, QGIS) is read from its only point layer; with more than one, the user chooses (QGIS's own tables of
styles and projects are never offered). The rows of a layer with geometry are placed by it, in the file's CRS (a
CRS without an EPSG code is converted to WGS84 here); a layer without geometry, or whose features all lack one, is
a table placed by its attribute columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.limits import DEFAULT_LIMITS, UnusableFile, _check_archive, _check_cell, _too_many_rows
from outfalls.survey.readers.gdal import counted, gdal_quiet, layer_choices
from outfalls.survey.readers.raw import Choice, RawTable, choose, empty_if_blank, plain

POINT_TYPES = ("Point", "MultiPoint")
# What QGIS itself keeps in a GeoPackage it saves styles or projects into: never a survey layer.
QGIS_TABLES = frozenset({"layer_styles", "qgis_projects"})


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
    listed = layer_choices(path, name)
    layers = [c for c in listed if c.name not in QGIS_TABLES] or listed
    if suffix == ".gpx":
        layers = [c for c in layers if c.name == "waypoints"] or layers  # outfalls are waypoints; tracks go elsewhere
    if layer is None and len(layers) > 1:
        layer = _only_point_layer(layers, notes)
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
    columns = [str(c) for c in frame.columns if c != "geometry"]
    points: list[tuple[float, float] | None] | None = None
    crs = None
    if "geometry" in frame.columns and not frame.geometry.isna().all() and not frame.geometry.is_empty.all():
        points = []
        for geom in frame.geometry:
            if geom is None or geom.is_empty:
                points.append(None)
            elif shapely.get_type_id(geom) == 0:  # Point
                points.append((float(geom.x), float(geom.y)))
            elif shapely.get_type_id(geom) == 4 and len(geom.geoms) == 1:  # a MultiPoint of one point
                points.append((float(geom.geoms[0].x), float(geom.geoms[0].y)))
            else:
                points.append(None)
        if frame.crs is not None:
            epsg = frame.crs.to_epsg(min_confidence=70)
            crs = f"EPSG:{epsg}" if epsg else _to_wgs84(points, frame.crs, notes)
    values = frame[columns].itertuples(index=False)
    rows = [{c: empty_if_blank(plain(v)) for c, v in zip(columns, row, strict=True)} for row in values]
    for number, row in enumerate(rows, start=1):
        for column, value in row.items():
            _check_cell(value, source, number, column, limits)
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=list(range(1, len(rows) + 1)),
                    points=points, crs=crs, encoding=encoding, notes=notes, is_partial=partial)  # fmt: skip


def _only_point_layer(layers: list[Choice], notes: list[str]) -> str | None:
    """The one point layer of a project (noted), or None when there is none or more than one."""
    points = [c for c in layers if (c.geometry or "").split(" ")[0] in POINT_TYPES]
    if len(points) != 1:
        return None
    notes.append(f"layer {points[0].name!r} imported: the only point layer of the {len(layers)} in the file")
    return points[0].name


def _to_wgs84(points: list[tuple[float, float] | None], crs: Any, notes: list[str]) -> str:
    """Points in a CRS that has no EPSG code, converted in place to WGS84 with the file's own definition."""
    from pyproj import Transformer

    transform = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform
    for i, point in enumerate(points):
        if point is not None:
            points[i] = tuple(float(v) for v in transform(*point))  # type: ignore[assignment]
    notes.append(f"the file's coordinate system ({crs.name}) has no EPSG code: its points were converted to WGS84")
    return "EPSG:4326"
