"""Reading the files survey crews send into one shape: a table of rows with their row numbers as the user sees
them, the point of each row when the file is a GIS file, and the photos that came with it.

Tables: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 detected; comma, semicolon or tab), XLSX (openpyxl, with
GDAL's XLSX driver when openpyxl cannot open a real-world file) and XLS (GDAL). GIS files through GDAL
(pyogrio): GeoJSON, GeoPackage, KML/KMZ, GPX waypoints, Shapefiles (zipped or not; without a ``.cpg`` the
attribute encoding is detected, GBK or UTF-8, instead of producing mojibake). A ZIP may also be a bundle of one
table plus its photos. An unusable file raises ``UnusableFile`` with a message saying what to do.

Every dimension of an upload is bounded by the ``[upload]`` settings (bytes, unpacked bytes and files of a ZIP,
rows, columns, characters of a cell), so no file can exhaust the server: a file beyond one is refused, naming the
limit. Previews read only the first rows; a workbook's ``<dimension>`` is not trusted (it may claim 16,384 columns).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.encodings import detect_encoding
from outfalls.survey.limits import (
    DEFAULT_LIMITS as DEFAULT_LIMITS,
)
from outfalls.survey.limits import (
    MAX_NAME_BYTES as MAX_NAME_BYTES,
)
from outfalls.survey.limits import (
    UnusableFile as UnusableFile,
)
from outfalls.survey.limits import (
    _check_archive,
    _check_bytes,
    _check_cell,
    _check_members,
    _too_many_columns,
    _too_many_rows,
)
from outfalls.survey.limits import (
    check_file_name as check_file_name,
)

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
GIS_SUFFIXES = (".geojson", ".json", ".gpkg", ".kml", ".kmz", ".gpx", ".shp")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_PHOTO_BYTES = 40 * 1024 * 1024
_ARCHIVE_SUFFIXES = (".xlsx", ".xlsm", ".kmz")  # ZIPs the readers unpack themselves (openpyxl, GDAL)


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
    is_partial: bool = False  # a preview: the file has more rows than were read


# --- tables ------------------------------------------------------------------------------------------------


def _blank(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


class _Names:
    """Column names as text: blank ones named by position, repeated ones numbered (Excel allows both). Linear:
    each name's next free number is remembered, so a thousand columns named alike cost a thousand steps.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._used: set[str] = set()
        self._next: dict[str, int] = {}

    def add(self, raw: Any) -> None:
        name = str(raw).replace("\x00", "").strip() if raw is not None else ""  # PostgreSQL keeps no NUL
        name = name or f"column_{len(self.names) + 1}"
        if name in self._used:
            base, n = name, self._next.get(name, 2)
            while f"{base}_{n}" in self._used:
                n += 1
            name, self._next[base] = f"{base}_{n}", n + 1
        self._used.add(name)
        self.names.append(name)


def _table(
    source: str,
    header: Sequence[Any],
    body: Iterator[tuple[int, Sequence[Any]]],
    *,
    limits: UploadSettings,
    preview_rows: int | None,
    grow: bool = False,
    **kw: Any,
) -> RawTable:
    """The rows of ``body`` under ``header``. ``grow``: values right of the header get columns of their own (a
    spreadsheet), rather than meaning a delimiter problem (a CSV).
    """
    if len(header) > limits.max_columns:
        raise _too_many_columns(source, len(header), limits)
    names = _Names()
    for raw in header:
        names.add(raw)
    columns = names.names
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    grown = len(columns)
    partial = False
    for number, values in body:
        if _blank(values):
            continue  # empty lines are not rows
        if preview_rows is not None and len(rows) >= preview_rows:
            partial = True
            break
        if len(rows) >= limits.max_rows:
            raise _too_many_rows(source, limits)
        if len(values) > len(columns) and not _blank(values[len(columns) :]):
            if not grow:
                raise UnusableFile(
                    f"row {number} has {len(values)} values but the header has {len(columns)} columns; "
                    "check the delimiter and quoting",
                    field="file",
                )
            if len(values) > limits.max_columns:
                raise _too_many_columns(source, len(values), limits)
            while len(columns) < len(values):
                names.add(None)
        row = {}
        for i, c in enumerate(columns):  # a short row is padded with empty values
            v = values[i] if i < len(values) else None
            _check_cell(v, source, number, c, limits)
            row[c] = v.strip() if isinstance(v, str) else v
        rows.append(row)
        numbers.append(number)
    if not rows:
        raise UnusableFile(f"{source} has a header but no rows", field="file")
    for row in rows if len(columns) > grown else ():
        for c in columns[grown:]:
            row.setdefault(c, None)
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=numbers, is_partial=partial, **kw)


def read_csv(data: bytes, name: str, *, encoding: str | None = None, limits: UploadSettings = DEFAULT_LIMITS,
             preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """A CSV table: encoding detected (or given), delimiter sniffed among comma, semicolon and tab. The text is
    decoded as it is parsed, and a preview stops after ``preview_rows`` rows.
    """
    notes = []
    if encoding is None:
        encoding = detect_encoding(data)
        if encoding == "gb18030":
            notes.append("encoding detected: GBK/GB18030")
    try:
        codecs.lookup(encoding)
        sample = data[:80_000].decode(encoding, errors="ignore").removeprefix("\ufeff")[:20_000]
    except LookupError as err:
        raise UnusableFile(f"the file cannot be read as {encoding}: {err}", field="encoding") from err
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")  # a BOM is not a character
    reader = csv.reader(text, dialect)

    def failed(err: Exception) -> UnusableFile:
        if isinstance(err, UnicodeDecodeError):
            return UnusableFile(f"{name} line {reader.line_num + 1} cannot be read as {encoding}", field="encoding")
        if "field larger than field limit" in str(err):
            return UnusableFile(f"{name} line {reader.line_num}: a value longer than the CSV reader takes; at "
                                f"most {limits.max_cell_chars} characters ([upload] max_cell_chars)",
                                field="file")  # fmt: skip
        return UnusableFile(f"{name} line {reader.line_num}: {err}", field="file")

    try:
        header = next(reader)
    except StopIteration:
        raise UnusableFile(f"{name} is empty", field="file") from None
    except (csv.Error, UnicodeDecodeError) as err:
        raise UnusableFile(f"{name} is not a readable CSV file: {failed(err).message}", field="file") from err

    def body() -> Iterator[tuple[int, list[Any]]]:
        try:
            for values in reader:
                yield reader.line_num, values
        except (csv.Error, UnicodeDecodeError) as err:
            raise failed(err) from err

    return _table(name, header, body(), limits=limits, preview_rows=preview_rows, encoding=encoding, notes=notes)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date | time | int | float | str) or value is None:
        return value
    return str(value)


def _sheet_rows(
    rows: Iterator[tuple[Any, ...]], source: str, limits: UploadSettings
) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values) of a sheet, each row only as wide as its cells and at most ``max_columns`` wide: a
    value beyond that refuses the file (counted in C, so a row padded to 16,384 empty cells costs little).
    """
    for number, values in enumerate(rows, start=1):
        if len(values) > limits.max_columns:
            extra = values[limits.max_columns :]
            if extra.count(None) != len(extra):
                last = len(values) - values[::-1].index(next(v for v in reversed(values) if v is not None))
                raise UnusableFile(f"{source} has values in column {last}; at most {limits.max_columns} columns "
                                   "([upload] max_columns)", field="file")  # fmt: skip
            values = values[: limits.max_columns]
        yield number, [_cell(v) for v in values]


def read_xlsx(path: Path, name: str, *, sheet: str | None = None, limits: UploadSettings = DEFAULT_LIMITS,
              preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """An Excel workbook through openpyxl; a multi-sheet workbook needs ``sheet``. Files openpyxl cannot open
    (some tools write slightly broken ones) are read with GDAL's XLSX driver instead. The sheet's ``<dimension>``
    is ignored: openpyxl would pad every row to it, and a file of a few kilobytes may claim A1:XFD1048576.
    """
    from openpyxl import load_workbook

    _check_archive(path, name, limits)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - openpyxl raises many kinds of errors on real-world files
        table = _read_with_gdal(path, name, sheet=sheet, driver_hint="XLSX", limits=limits,
                                preview_rows=preview_rows)  # fmt: skip
        table.notes.append(f"read with GDAL (openpyxl could not open the file: {type(err).__name__})")
        return table
    try:
        names = book.sheetnames
        chosen = _choose(names, sheet, what="sheet", option="--sheet", source=name)
        ws = book[chosen]
        ws.reset_dimensions()  # rows as wide as their cells, however wide the sheet claims to be
        source = name if len(names) == 1 else f"{name} [{chosen}]"
        rows = _sheet_rows(ws.iter_rows(values_only=True), source, limits)
        header: list[Any] | None = None
        for _number, values in rows:  # the header is the first non-empty row
            if not _blank(values):
                header = values
                break
        if header is None:
            raise UnusableFile(f"sheet {chosen!r} of {name} is empty", field="sheet")
        return _table(source, header, rows, limits=limits, preview_rows=preview_rows, grow=True)
    except UnusableFile:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged sheet (bad XML, a ZIP member failing its CRC)
        raise UnusableFile(f"{name} is a damaged workbook ({type(err).__name__}); save it again as .xlsx",
                           field="file") from err  # fmt: skip
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


def _counted(path: Path, layer: str, source: str, limits: UploadSettings, preview_rows: int | None) -> int:
    """How many features to read from a layer: all of them (refused beyond ``max_rows``), or a preview's rows."""
    import pyogrio

    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as err:  # noqa: BLE001 - GDAL's errors are what they are
        raise UnusableFile(f"{source}: GDAL could not read layer {layer!r}: {err}", field="file") from err
    if len(info["fields"]) > limits.max_columns:
        raise _too_many_columns(source, len(info["fields"]), limits)
    if preview_rows is None and int(info["features"]) > limits.max_rows:
        raise _too_many_rows(source, limits)
    return (limits.max_rows if preview_rows is None else preview_rows) + 1  # one more tells "there are more"


def _read_with_gdal(path: Path, name: str, *, sheet: str | None, driver_hint: str, limits: UploadSettings,
                    preview_rows: int | None) -> RawTable:  # fmt: skip
    """A spreadsheet through GDAL: pyogrio for XLSX, the system's ``ogr2ogr`` (GDAL with FreeXL) for XLS."""
    if driver_hint == "XLS":
        return _read_xls(path, name, sheet=sheet, limits=limits, preview_rows=preview_rows)
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as err:  # noqa: BLE001 - GDAL's errors are what they are
        raise UnusableFile(f"{name} is not a readable Excel workbook ({err})", field="file") from err
    chosen = _choose(layers, sheet, what="sheet", option="--sheet", source=name)
    source = name if len(layers) == 1 else f"{name} [{chosen}]"
    most = _counted(path, chosen, source, limits, preview_rows)
    frame = pyogrio.read_dataframe(path, layer=chosen, read_geometry=False, max_features=most)
    columns = [str(c) for c in frame.columns]
    body = ((i + 2, [_plain(v) for v in row]) for i, row in enumerate(frame.itertuples(index=False)))
    return _table(source, columns, body, limits=limits, preview_rows=preview_rows)


def _read_xls(path: Path, name: str, *, sheet: str | None, limits: UploadSettings = DEFAULT_LIMITS,
              preview_rows: int | None = None) -> RawTable:  # fmt: skip
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
        table = read_csv(out.read_bytes(), name, encoding="utf-8", limits=limits, preview_rows=preview_rows)
    table.source = name if len(layers) == 1 else f"{name} [{chosen}]"
    table.notes.append("read with GDAL (.xls)")
    return table


def _plain(value: Any) -> Any:
    """pandas/numpy values as plain Python ones (NaN and NaT become None)."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        if value != value:  # NaT: a feature without a time (GPX waypoints often have none): time unknown
            return None
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
    layers = _layers(path)
    if suffix == ".gpx":
        layers = [n for n in layers if n == "waypoints"] or layers  # outfalls are waypoints; tracks go elsewhere
    chosen = _choose(layers, layer, what="layer", option="--layer", source=name)
    source = name if len(layers) == 1 else f"{name} [{chosen}]"
    most = _counted(path, chosen, source, limits, preview_rows)
    try:
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
    rows = [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in values]
    for number, row in enumerate(rows, start=1):
        for column, value in row.items():
            _check_cell(value, source, number, column, limits)
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=list(range(1, len(rows) + 1)),
                    points=points, crs=crs, encoding=encoding, notes=notes, is_partial=partial)  # fmt: skip


# --- ZIP files and dispatch ----------------------------------------------------------------------------------


def _member_parts(name: str, archive_name: str) -> tuple[str, ...] | None:
    """The folders and name of a ZIP member, or None for one that is never unpacked (absolute, ``..``, macOS)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or parts[0] in ("/", "") or ".." in parts or parts[0].startswith("__MACOSX"):
        return None
    for part in parts:
        if len(part.encode()) > MAX_NAME_BYTES or any(ord(c) < 32 for c in part):
            shown = part.encode()[:40].decode(errors="ignore")
            raise UnusableFile(f"{archive_name} holds a file named {shown!r}… longer than {MAX_NAME_BYTES} bytes or "
                               "with control characters; rename it", field="file")  # fmt: skip
    return parts


@contextmanager
def _unpacked(path: Path, name: str, limits: UploadSettings) -> Iterator[Path]:
    """A ZIP's members in a private temporary folder (names checked: no absolute paths, no ``..``). The files and
    bytes are bounded by ``limits``, counting the bytes written, whatever the ZIP's headers claim.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnusableFile(f"{name} is not a valid ZIP file", field="file") from err
    with archive, tempfile.TemporaryDirectory(prefix="outfalls-zip-") as tmp:
        members = [m for m in archive.infolist() if not m.is_dir()]
        _check_members(name, len(members), sum(m.file_size for m in members), limits)
        root = Path(tmp)
        written = 0
        try:
            for m in members:
                parts = _member_parts(m.filename, name)
                if parts is None:
                    continue
                target = root.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(m) as src, target.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > limits.max_unpacked_bytes:
                            _check_members(name, len(members), written, limits)
                        dst.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as err:
            raise UnusableFile(f"{name} is a damaged ZIP file ({err})", field="file") from err
        yield root


def _photos_in(root: Path) -> list[Photo]:
    photos = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES and not path.name.startswith("."):
            if path.stat().st_size <= MAX_PHOTO_BYTES:
                photos.append(Photo(path.name, path.read_bytes()))
    return photos


def read_bundle(path: Path, name: str, *, limits: UploadSettings = DEFAULT_LIMITS, **options: Any) -> RawTable:
    """A ZIP: a zipped Shapefile, or one table (or GIS file) plus photos."""
    with _unpacked(path, name, limits) as root:
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
        if inner.suffix.lower() == ".zip":
            raise UnusableFile(f"{name} holds another ZIP ({inner.name}); send the table itself", field="file")
        table = read_path(inner, inner.name, limits=limits, **options)
        table.source = f"{name} › {table.source}"
        table.photos = _photos_in(root)
        return table


def read_path(path: Path, name: str, *, encoding: str | None = None, sheet: str | None = None,
              layer: str | None = None, limits: UploadSettings = DEFAULT_LIMITS,
              preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """Read a file on disk by its kind (from the name's suffix); a preview reads ``preview_rows`` rows at most.

    Raises:
        UnusableFile: the file cannot be used: its kind, its content, or a dimension beyond ``limits``.
    """
    name = check_file_name(name)
    _check_bytes(path.stat().st_size, name, limits)
    suffix = Path(name).suffix.lower()
    bounds: dict[str, Any] = {"limits": limits, "preview_rows": preview_rows}
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(path.read_bytes(), name, encoding=encoding, **bounds)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path, name, sheet=sheet, **bounds)
    if suffix == ".xls":
        return _read_xls(path, name, sheet=sheet, **bounds)
    if suffix == ".zip":
        return read_bundle(path, name, encoding=encoding, sheet=sheet, layer=layer, **bounds)
    if suffix in GIS_SUFFIXES:
        return read_gis(path, name, layer=layer, **bounds)
    raise UnusableFile(
        f"{name}: unsupported file type {suffix or '(none)'}; send CSV, XLSX, XLS, GeoJSON, GeoPackage, KML/KMZ, "
        "GPX, a zipped Shapefile, or a ZIP of one table with its photos",
        field="file",
    )


def read_upload(data: bytes, name: str, **options: Any) -> RawTable:
    """Read uploaded bytes (kept in a private temporary file while GDAL or openpyxl read them); ``options`` are
    those of ``read_path``.
    """
    safe = check_file_name(name)
    if not data:
        raise UnusableFile(f"{safe} is empty", field="file")
    _check_bytes(len(data), safe, options.get("limits", DEFAULT_LIMITS))
    with tempfile.TemporaryDirectory(prefix="outfalls-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        os.chmod(path, 0o600)
        return read_path(path, safe, **options)
