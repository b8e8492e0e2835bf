"""Tables crews send: CSV (encoding detected, delimiter sniffed among comma, semicolon and tab), XLSX (openpyxl,
with GDAL's XLSX driver when openpyxl cannot open a real-world file) and XLS (GDAL's ``ogr2ogr``). Previews read
only the first rows; a workbook's ``<dimension>`` is not trusted (it may claim 16,384 columns).
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.encodings import NAMES, detect_encoding
from outfalls.survey.limits import DEFAULT_LIMITS, UnusableFile, _check_archive
from outfalls.survey.readers.gdal import counted, gdal_quiet
from outfalls.survey.readers.raw import Choice, RawTable, blank, cell, choose, plain, shape_table


def read_csv(data: bytes, name: str, *, encoding: str | None = None, limits: UploadSettings = DEFAULT_LIMITS,
             preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """A CSV table: encoding detected (or given), delimiter sniffed among comma, semicolon and tab. The text is
    decoded as it is parsed, and a preview stops after ``preview_rows`` rows.
    """
    notes = []
    if encoding is None:
        encoding = detect_encoding(data)
        if encoding in ("gb18030", "cp950", "utf-16"):
            notes.append(f"encoding detected: {NAMES[encoding]}")
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

    return shape_table(name, header, body(), limits=limits, preview_rows=preview_rows, encoding=encoding, notes=notes)


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
        yield number, [cell(v) for v in values]


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
        chosen = choose([Choice(n) for n in names], sheet, what="sheet", option="--sheet", source=name)
        ws = book[chosen]
        ws.reset_dimensions()  # rows as wide as their cells, however wide the sheet claims to be
        source = name if len(names) == 1 else f"{name} [{chosen}]"
        rows = _sheet_rows(ws.iter_rows(values_only=True), source, limits)
        header: list[Any] | None = None
        for _number, values in rows:  # the header is the first non-empty row
            if not blank(values):
                header = values
                break
        if header is None:
            raise UnusableFile(f"sheet {chosen!r} of {name} is empty", field="sheet")
        return shape_table(source, header, rows, limits=limits, preview_rows=preview_rows, grow=True)
    except UnusableFile:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged sheet (bad XML, a ZIP member failing its CRC)
        raise UnusableFile(f"{name} is a damaged workbook ({type(err).__name__}); save it again as .xlsx",
                           field="file") from err  # fmt: skip
    finally:
        book.close()


def _read_with_gdal(path: Path, name: str, *, sheet: str | None, driver_hint: str, limits: UploadSettings,
                    preview_rows: int | None) -> RawTable:  # fmt: skip
    """A spreadsheet through GDAL: pyogrio for XLSX, the system's ``ogr2ogr`` (GDAL with FreeXL) for XLS."""
    if driver_hint == "XLS":
        return read_xls(path, name, sheet=sheet, limits=limits, preview_rows=preview_rows)
    import pyogrio

    try:
        with gdal_quiet():
            layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as err:  # noqa: BLE001 - GDAL's errors are what they are
        raise UnusableFile(f"{name} is not a readable Excel workbook ({err})", field="file") from err
    chosen = choose([Choice(n) for n in layers], sheet, what="sheet", option="--sheet", source=name)
    source = name if len(layers) == 1 else f"{name} [{chosen}]"
    most = counted(path, chosen, source, limits, preview_rows)
    with gdal_quiet():
        frame = pyogrio.read_dataframe(path, layer=chosen, read_geometry=False, max_features=most)
    columns = [str(c) for c in frame.columns]
    body = ((i + 2, [plain(v) for v in row]) for i, row in enumerate(frame.itertuples(index=False)))
    return shape_table(source, columns, body, limits=limits, preview_rows=preview_rows)


def read_xls(path: Path, name: str, *, sheet: str | None, limits: UploadSettings = DEFAULT_LIMITS,
              preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """An ``.xls`` workbook, converted by the system's ``ogr2ogr`` (GDAL with FreeXL) to CSV and read as such."""
    ogr2ogr = shutil.which("ogr2ogr")
    ogrinfo = shutil.which("ogrinfo")
    if ogr2ogr is None or ogrinfo is None:
        raise UnusableFile("reading .xls needs GDAL's ogr2ogr (gdal-bin); save the sheet as .xlsx", field="file")
    listing = subprocess.run([ogrinfo, "-ro", "-q", str(path)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise UnusableFile(f"{name} is not a readable .xls workbook; save it as .xlsx", field="file")
    layers = [line.split(":", 1)[1].strip().rsplit(" (", 1)[0] for line in listing.stdout.splitlines() if ":" in line]
    chosen = choose([Choice(n) for n in layers], sheet, what="sheet", option="--sheet", source=name)
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
