"""Reading the files survey crews send into one shape: a table of rows with their row numbers as the user sees
them, the point of each row when the file is a GIS file, and the photos that came with it.

Tables: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 detected; comma, semicolon or tab), XLSX (openpyxl, with
GDAL's XLSX driver when openpyxl cannot open a real-world file) and XLS (GDAL). GIS files through GDAL
(pyogrio): GeoJSON, GeoPackage, KML/KMZ, GPX waypoints, Shapefiles (zipped or not; without a ``.cpg`` the
attribute encoding is detected, GBK or UTF-8, instead of producing mojibake). A ZIP may also be a bundle of one
table plus its photos. An unusable file raises ``UnusableFile`` with a message saying what to do.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any

from outfalls.errors import InvalidInput

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
GIS_SUFFIXES = (".geojson", ".json", ".gpkg", ".kml", ".kmz", ".gpx", ".shp")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_PHOTO_BYTES = 40 * 1024 * 1024
MAX_ZIP_MEMBERS = 20_000


class UnusableFile(InvalidInput):
    """The file cannot be read as a survey file at all (as opposed to rows that are rejected)."""

    code = "unusable_file"


@dataclass(slots=True)
class Photo:
    """A photo that came with the table (in the same ZIP or upload)."""

    name: str  # file name without directories
    data: bytes


@dataclass(slots=True)
class RawTable:
    """Rows as read: values are str, int, float, datetime/date or None; nothing is interpreted yet."""

    source: str  # file name, with the sheet or layer when one was chosen
    columns: list[str]
    rows: list[dict[str, Any]]
    row_numbers: list[int]  # what the user sees: the spreadsheet row or CSV line (the header is row 1)
    points: list[tuple[float, float] | None] | None = None  # a GIS file's point per row, in ``crs``
    crs: str | None = None  # the CRS the GIS file declares (None: the user must declare it)
    encoding: str | None = None  # the text encoding used (CSV, Shapefile attributes)
    photos: list[Photo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader decided (encoding detected, fallback used)


# --- encodings ---------------------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, otherwise GB18030 (a superset of GBK and
    GB2312, which is what Chinese Windows tools write).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    try:
        data.decode("gb18030")
    except UnicodeDecodeError as err:
        raise UnusableFile(
            "the file is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV or give --encoding",
            field="encoding",
        ) from err
    return "gb18030"


# --- tables ------------------------------------------------------------------------------------------------


def _blank(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _unique_columns(header: list[Any]) -> list[str]:
    """Column names as text; blank ones named by position, repeated ones numbered (Excel allows both)."""
    names: list[str] = []
    for i, raw in enumerate(header):
        name = str(raw).strip() if raw is not None else ""
        name = name or f"column_{i + 1}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def _table(source: str, header: list[Any], body: Iterator[tuple[int, list[Any]]], **kw: Any) -> RawTable:
    columns = _unique_columns(header)
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for number, values in body:
        if _blank(values):
            continue  # empty lines are not rows
        values = list(values) + [None] * (len(columns) - len(values))
        if len(values) > len(columns) and not _blank(values[len(columns) :]):
            raise UnusableFile(
                f"row {number} has {len(values)} values but the header has {len(columns)} columns; "
                "check the delimiter and quoting",
                field="file",
            )
        rows.append({c: (v.strip() if isinstance(v, str) else v) for c, v in zip(columns, values, strict=False)})
        numbers.append(number)
    if not rows:
        raise UnusableFile(f"{source} has a header but no rows", field="file")
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=numbers, **kw)


def read_csv(data: bytes, name: str, *, encoding: str | None = None) -> RawTable:
    """A CSV table: encoding detected (or given), delimiter sniffed among comma, semicolon and tab."""
    notes = []
    if encoding is None:
        encoding = detect_encoding(data)
        if encoding == "gb18030":
            notes.append("encoding detected: GBK/GB18030")
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as err:
        raise UnusableFile(f"the file cannot be read as {encoding}: {err}", field="encoding") from err
    text = text.removeprefix("\ufeff")
    sample = text[:20000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise UnusableFile(f"{name} is empty", field="file") from None
    except csv.Error as err:
        raise UnusableFile(f"{name} is not a readable CSV file: {err}", field="file") from err

    def body() -> Iterator[tuple[int, list[Any]]]:
        try:
            for values in reader:
                yield reader.line_num, list(values)
        except csv.Error as err:
            raise UnusableFile(f"{name} line {reader.line_num}: {err}", field="file") from err

    return _table(name, header, body(), encoding=encoding, notes=notes)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date | time | int | float | str) or value is None:
        return value
    return str(value)


def read_xlsx(path: Path, name: str, *, sheet: str | None = None) -> RawTable:
    """An Excel workbook through openpyxl; a multi-sheet workbook needs ``sheet``. Files openpyxl cannot open
    (some tools write slightly broken ones) are read with GDAL's XLSX driver instead.
    """
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - openpyxl raises many kinds of errors on real-world files
        table = _read_with_gdal(path, name, sheet=sheet, driver_hint="XLSX")
        table.notes.append(f"read with GDAL (openpyxl could not open the file: {type(err).__name__})")
        return table
    try:
        names = book.sheetnames
        chosen = _choose(names, sheet, what="sheet", option="--sheet", source=name)
        ws = book[chosen]
        rows = ws.iter_rows(values_only=True)
        header: list[Any] | None = None
        number = 0
        for values in rows:  # the header is the first non-empty row
            number += 1
            if not _blank(list(values)):
                header = list(values)
                break
        if header is None:
            raise UnusableFile(f"sheet {chosen!r} of {name} is empty", field="sheet")
        start = number

        def body() -> Iterator[tuple[int, list[Any]]]:
            for i, values in enumerate(rows, start=start + 1):
                yield i, [_cell(v) for v in values]

        source = name if len(names) == 1 else f"{name} [{chosen}]"
        return _table(source, header, body())
    finally:
        book.close()


def _choose(names: list[str], wanted: str | None, *, what: str, option: str, source: str) -> str:
    if wanted is not None:
        if wanted not in names:
            raise UnusableFile(f"{source} has no {what} {wanted!r}; it has: {', '.join(names)}", field=what)
        return wanted
    if len(names) != 1:
        raise UnusableFile(
            f"{source} has {len(names)} {what}s ({', '.join(names)}); choose one with {option}", field=what
        )
    return names[0]


def _read_with_gdal(path: Path, name: str, *, sheet: str | None, driver_hint: str) -> RawTable:
    """A spreadsheet through GDAL: pyogrio for XLSX, the system's ``ogr2ogr`` (GDAL with FreeXL) for XLS."""
    if driver_hint == "XLS":
        return _read_xls(path, name, sheet=sheet)
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as err:  # noqa: BLE001 - GDAL's errors are what they are
        raise UnusableFile(f"{name} is not a readable Excel workbook ({err})", field="file") from err
    chosen = _choose(layers, sheet, what="sheet", option="--sheet", source=name)
    frame = pyogrio.read_dataframe(path, layer=chosen, read_geometry=False)
    columns = [str(c) for c in frame.columns]
    body = ((i + 2, [_plain(v) for v in row]) for i, row in enumerate(frame.itertuples(index=False)))
    return _table(name if len(layers) == 1 else f"{name} [{chosen}]", columns, body)


def _read_xls(path: Path, name: str, *, sheet: str | None) -> RawTable:
    ogr2ogr = shutil.which("ogr2ogr")
    ogrinfo = shutil.which("ogrinfo")
    if ogr2ogr is None or ogrinfo is None:
        raise UnusableFile("reading .xls needs GDAL's ogr2ogr (gdal-bin); save the sheet as .xlsx", field="file")
    listing = subprocess.run([ogrinfo, "-ro", "-q", str(path)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise UnusableFile(f"{name} is not a readable .xls workbook; save it as .xlsx", field="file")
    layers = [line.split(":", 1)[1].strip().rsplit(" (", 1)[0] for line in listing.stdout.splitlines() if ":" in line]
    chosen = _choose(layers, sheet, what="sheet", option="--sheet", source=name)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sheet.csv"
        done = subprocess.run(
            [ogr2ogr, "-f", "CSV", str(out), str(path), chosen, "-oo", "HEADERS=FORCE"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not out.exists():
            raise UnusableFile(f"{name}: GDAL could not read sheet {chosen!r}: {done.stderr.strip()}", field="file")
        table = read_csv(out.read_bytes(), name, encoding="utf-8")
    table.source = name if len(layers) == 1 else f"{name} [{chosen}]"
    table.notes.append("read with GDAL (.xls)")
    return table


def _plain(value: Any) -> Any:
    """pandas/numpy values as plain Python ones (NaN and NaT become None)."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        try:
            return value.to_pydatetime()
        except ValueError:
            return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return _cell(value)


# --- GIS files ---------------------------------------------------------------------------------------------


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


def _layers(path: Path) -> list[str]:
    import pyogrio

    try:
        return [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as err:  # noqa: BLE001
        raise UnusableFile(f"{path.name} is not a GIS file GDAL can read ({err})", field="file") from err


def read_gis(path: Path, name: str, *, layer: str | None = None) -> RawTable:
    """Points and attributes of a GIS file; non-point features keep their attributes and have no point."""
    import pyogrio
    import shapely

    suffix = path.suffix.lower()
    notes: list[str] = []
    kwargs: dict[str, Any] = {}
    encoding = None
    if suffix == ".shp":
        encoding = _dbf_encoding(path)
        if encoding is not None:
            kwargs["encoding"] = encoding
            notes.append(
                f"no .cpg file: attribute encoding detected as {'GBK/GB18030' if 'GB' in encoding else encoding}"
            )
    layers = _layers(path)
    if suffix == ".gpx":
        layers = [n for n in layers if n == "waypoints"] or layers  # outfalls are waypoints; tracks go elsewhere
    chosen = _choose(layers, layer, what="layer", option="--layer", source=name)
    try:
        frame = pyogrio.read_dataframe(path, layer=chosen, **kwargs)
    except Exception as err:  # noqa: BLE001
        raise UnusableFile(f"{name}: GDAL could not read layer {chosen!r}: {err}", field="file") from err
    if len(frame) == 0:
        raise UnusableFile(f"{name} (layer {chosen!r}) has no features", field="file")
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
    rows = [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in values]
    source = name if len(layers) == 1 else f"{name} [{chosen}]"
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=list(range(1, len(rows) + 1)),
                    points=points, crs=crs, encoding=encoding, notes=notes)  # fmt: skip


# --- ZIP files and dispatch ----------------------------------------------------------------------------------


@contextmanager
def _unpacked(data: bytes, name: str) -> Iterator[Path]:
    """A ZIP's members in a private temporary folder (names checked: no absolute paths, no ``..``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise UnusableFile(f"{name} is not a valid ZIP file", field="file") from err
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_ZIP_MEMBERS:
        raise UnusableFile(f"{name} holds {len(members)} files; at most {MAX_ZIP_MEMBERS} per upload", field="file")
    with tempfile.TemporaryDirectory(prefix="outfalls-zip-") as tmp:
        root = Path(tmp)
        for m in members:
            parts = PurePosixPath(m.filename.replace("\\", "/")).parts
            if not parts or parts[0] in ("/", "") or ".." in parts or parts[0].startswith("__MACOSX"):
                continue
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(m) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        yield root


def _photos_in(root: Path) -> list[Photo]:
    photos = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES and not path.name.startswith("."):
            if path.stat().st_size <= MAX_PHOTO_BYTES:
                photos.append(Photo(path.name, path.read_bytes()))
    return photos


def read_bundle(data: bytes, name: str, **options: Any) -> RawTable:
    """A ZIP: a zipped Shapefile, or one table (or GIS file) plus photos."""
    with _unpacked(data, name) as root:
        files = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")]
        shapefiles = [p for p in files if p.suffix.lower() == ".shp"]
        tables = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES + GIS_SUFFIXES and p.suffix.lower() != ".shp"]
        candidates = shapefiles or tables
        if not candidates:
            raise UnusableFile(f"{name} holds no table, Shapefile or GIS file (only {len(files)} other files)",
                               field="file")  # fmt: skip
        if len(candidates) > 1:
            listed = ", ".join(str(p.relative_to(root)) for p in candidates[:10])
            raise UnusableFile(f"{name} holds {len(candidates)} tables ({listed}); send one per upload", field="file")
        inner = candidates[0]
        table = read_path(inner, inner.name, **options)
        table.source = f"{name} › {table.source}"
        table.photos = _photos_in(root)
        return table


def read_path(path: Path, name: str, *, encoding: str | None = None, sheet: str | None = None,
              layer: str | None = None) -> RawTable:  # fmt: skip
    """Read a file on disk by its kind (from the name's suffix)."""
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(path.read_bytes(), name, encoding=encoding)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path, name, sheet=sheet)
    if suffix == ".xls":
        return _read_xls(path, name, sheet=sheet)
    if suffix == ".zip":
        return read_bundle(path.read_bytes(), name, encoding=encoding, sheet=sheet, layer=layer)
    if suffix in GIS_SUFFIXES:
        return read_gis(path, name, layer=layer)
    raise UnusableFile(
        f"{name}: unsupported file type {suffix or '(none)'}; send CSV, XLSX, XLS, GeoJSON, GeoPackage, KML/KMZ, "
        "GPX, a zipped Shapefile, or a ZIP of one table with its photos",
        field="file",
    )


def read_upload(data: bytes, name: str, **options: Any) -> RawTable:
    """Read uploaded bytes (kept in a private temporary file while GDAL or openpyxl read them)."""
    safe = Path(name).name or "upload"
    if not data:
        raise UnusableFile(f"{safe} is empty", field="file")
    with tempfile.TemporaryDirectory(prefix="outfalls-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        os.chmod(path, 0o600)
        return read_path(path, safe, **options)
