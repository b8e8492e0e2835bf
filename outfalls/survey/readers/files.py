"""Files as they arrive: a file on disk or uploaded bytes read by its kind, and a ZIP unpacked (a zipped Shapefile,
or one table with its photos; an ODK Central export brings its repeat groups' tables too: the submissions' table is
read, and the photos its repeat groups name are gathered onto the submissions) with every member's name and the
unpacked size checked first.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.limits import (
    DEFAULT_LIMITS,
    MAX_NAME_BYTES,
    UnusableFile,
    _check_bytes,
    _check_cell,
    _check_members,
    check_file_name,
)
from outfalls.survey.photos import photo_key, split_photo_names
from outfalls.survey.readers.gis import read_gis
from outfalls.survey.readers.raw import GIS_SUFFIXES, PHOTO_SUFFIXES, TABLE_SUFFIXES, Photo, RawTable, split_geopoints
from outfalls.survey.readers.tables import read_csv, read_xls, read_xlsx

MAX_PHOTO_BYTES = 40 * 1024 * 1024


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
        repeats = _repeat_tables(candidates)
        candidates = [p for p in candidates if p not in repeats]
        if len(candidates) > 1:
            listed = ", ".join(str(p.relative_to(root)) for p in candidates[:10])
            raise UnusableFile(f"{name} holds {len(candidates)} tables ({listed}); send one per upload", field="file")
        inner = candidates[0]
        if inner.suffix.lower() == ".zip":
            raise UnusableFile(f"{name} holds another ZIP ({inner.name}); send the table itself", field="file")
        table = read_path(inner, inner.name, limits=limits, **options)
        table.source = f"{name} › {table.source}"
        table.photos = _photos_in(root)
        if repeats:
            table.notes.append(f"repeat-group tables not imported: {', '.join(sorted(p.name for p in repeats))}")
            _gather_repeat_photos(table, inner, repeats, limits)
        return table


def _gather_repeat_photos(table: RawTable, main: Path, repeats: list[Path], limits: UploadSettings) -> None:
    """The photos named in a repeat group's rows (an ODK form's "photos" repeat), gathered onto the submissions
    they belong to: a column ``<group>-<question>`` per photo question, holding the names (``;``-separated) of
    the rows whose ``PARENT_KEY`` leads to the submission's ``KEY``. Only names of photos in the ZIP count.
    """
    if "KEY" not in table.columns or not table.photos:
        return
    present = {photo_key(p.name) for p in table.photos}
    for path in sorted(repeats):
        group = path.stem.removeprefix(f"{main.stem}-")
        repeat = read_csv(path.read_bytes(), path.name, limits=limits)
        if "PARENT_KEY" not in repeat.columns:
            continue
        for question in repeat.columns:
            named: dict[str, list[str]] = {}
            for row in repeat.rows:
                value, parent = row.get(question), row.get("PARENT_KEY")
                if isinstance(value, str) and isinstance(parent, str):
                    found = [n for n in split_photo_names(value) if photo_key(n) in present]
                    named.setdefault(parent.split("/", 1)[0], []).extend(found)  # a nested repeat's parent too
            column = f"{group}-{question}"
            if not any(named.values()) or column in table.columns:
                continue
            table.columns.append(column)
            for number, row in zip(table.row_numbers, table.rows, strict=True):
                row[column] = "; ".join(named.get(str(row.get("KEY")), [])) or None
                _check_cell(row[column], table.source, number, column, limits)
            table.notes.append(f"photos named in {path.name} gathered onto their submissions as column {column}")


def _repeat_tables(tables: list[Path]) -> list[Path]:
    """The tables of an ODK Central export's repeat groups: ``<form>-<group>.csv`` beside the form's own
    ``<form>.csv``, which holds the submissions (one row each). Empty when the tables are not such an export.
    """
    main = [t for t in tables if all(o == t or (o.parent == t.parent and o.stem.startswith(f"{t.stem}-"))
                                     for o in tables)]  # fmt: skip
    if len(tables) < 2 or len(main) != 1 or main[0].suffix.lower() != ".csv":
        return []
    return [t for t in tables if t != main[0]]


def read_path(path: Path, name: str, *, encoding: str | None = None, sheet: str | None = None,
              layer: str | None = None, limits: UploadSettings = DEFAULT_LIMITS,
              preview_rows: int | None = None) -> RawTable:  # fmt: skip
    """Read a file on disk by its kind (from the name's suffix); a preview reads ``preview_rows`` rows at most.
    A table placed by one ``"lat lon alt acc"`` column has it split into columns (``split_geopoints``).

    Raises:
        UnusableFile: the file cannot be used: its kind, its content, or a dimension beyond ``limits``.
        ChoiceNeeded: a workbook of several sheets or a GIS file of several layers, and none chosen.
    """
    name = check_file_name(name)
    _check_bytes(path.stat().st_size, name, limits)
    suffix = Path(name).suffix.lower()
    bounds: dict[str, Any] = {"limits": limits, "preview_rows": preview_rows}
    if suffix in (".csv", ".txt", ".tsv"):
        table = read_csv(path.read_bytes(), name, encoding=encoding, **bounds)
    elif suffix in (".xlsx", ".xlsm"):
        table = read_xlsx(path, name, sheet=sheet, **bounds)
    elif suffix == ".xls":
        table = read_xls(path, name, sheet=sheet, **bounds)
    elif suffix == ".zip":
        return read_bundle(path, name, encoding=encoding, sheet=sheet, layer=layer, **bounds)
    elif suffix in GIS_SUFFIXES:
        table = read_gis(path, name, layer=layer, **bounds)
    else:
        raise _unsupported(name, suffix)
    if not table.has_geometry:
        split_geopoints(table)
    return table


def _unsupported(name: str, suffix: str) -> UnusableFile:
    return UnusableFile(
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
