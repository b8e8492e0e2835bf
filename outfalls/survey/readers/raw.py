"""The shape every reader returns (``RawTable``), and what all readers share: column names, empty values as crews
write them, rows shorter than their header, and the choice of a sheet or layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.limits import UnusableFile, _check_cell, _too_many_columns, _too_many_rows

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
GIS_SUFFIXES = (".geojson", ".json", ".gpkg", ".kml", ".kmz", ".gpx", ".shp")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

# What crews and their tools write for "no value": read as empty, never stored as text (compared case-blind,
# after stripping spaces, so a lone space is empty too).
EMPTY_VALUES = frozenset({"na", "n/a", "#n/a", "-", "--", "—", "——", "－", "–"})


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

    @property
    def has_geometry(self) -> bool:
        """True when the rows are placed by the file's geometry (a GIS layer), not by coordinate columns."""
        return self.points is not None


class ChoiceNeeded(UnusableFile):
    """The file holds several sheets or layers and none was chosen; ``options`` describes each one."""

    code = "choice_needed"

    def __init__(self, message: str, *, what: str = "layer", options: Sequence[Choice] = (), **params: object) -> None:
        super().__init__(message, field=what, **params)
        self.what = what
        self.options = list(options)


@dataclass(frozen=True, slots=True)
class Choice:
    """A sheet or layer of a file, as offered to the user."""

    name: str
    geometry: str | None = None  # a layer's geometry type (None: a plain table)
    features: int | None = None

    def describe(self) -> str:
        """``name: Point, 12 features`` — what a list of layers shows."""
        facts = [self.geometry or ("table" if self.features is not None else "")]
        if self.features is not None:
            facts.append(f"{self.features} {'feature' if self.features == 1 else 'features'}")
        shown = ", ".join(f for f in facts if f)
        return f"{self.name}: {shown}" if shown else self.name


def choose(options: Sequence[Choice], wanted: str | None, *, what: str, option: str, source: str) -> str:
    """The sheet or layer to read: ``wanted``, or the only one.

    Raises:
        UnusableFile: ``wanted`` is not in the file.
        ChoiceNeeded: several and none chosen (the message lists them and names ``option``).
    """
    names = [o.name for o in options]
    if wanted is not None:
        if wanted not in names:
            raise UnusableFile(f"{source} has no {what} {wanted!r}; it has: {', '.join(names)}", field=what)
        return wanted
    if len(names) != 1:
        detailed = any(o.features is not None for o in options)
        listed = ("; " if detailed else ", ").join(o.describe() for o in options)
        raise ChoiceNeeded(f"{source} has {len(names)} {what}s ({listed}); choose one with {option} NAME",
                           what=what, options=options)  # fmt: skip
    return names[0]


def empty_if_blank(value: Any) -> Any:
    """A cell as kept: text stripped, and what crews write for "no value" (``NA``, ``n/a``, ``-``, ``—``, a space)
    read as None.
    """
    if isinstance(value, str):
        value = value.strip()
        if not value or (len(value) <= 3 and value.casefold() in EMPTY_VALUES):
            return None
    return value


def blank(values: Sequence[Any]) -> bool:
    """True when every value of a row is empty."""
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


def column_names(header: Sequence[Any]) -> list[str]:
    """The names of ``header`` as ``RawTable.columns`` keeps them (blank ones named, repeated ones numbered)."""
    names = _Names()
    for raw in header:
        names.add(raw)
    return names.names


def shape_table(
    source: str,
    header: Sequence[Any],
    body: Iterator[tuple[int, Sequence[Any]]],
    *,
    limits: UploadSettings,
    preview_rows: int | None,
    grow: bool = False,
    **kw: Any,
) -> RawTable:
    """The rows of ``body`` under ``header``. A row shorter than the header (a ragged CSV) has empty values for
    the missing fields. ``grow``: values right of the header get columns of their own (a spreadsheet), rather than
    meaning a delimiter problem (a CSV).
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
        if blank(values):
            continue  # empty lines are not rows
        if preview_rows is not None and len(rows) >= preview_rows:
            partial = True
            break
        if len(rows) >= limits.max_rows:
            raise _too_many_rows(source, limits)
        if len(values) > len(columns) and not blank(values[len(columns) :]):
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
            row[c] = empty_if_blank(v)
        rows.append(row)
        numbers.append(number)
    if not rows:
        raise UnusableFile(f"{source} has a header but no rows", field="file")
    for row in rows if len(columns) > grown else ():
        for c in columns[grown:]:
            row.setdefault(c, None)
    return RawTable(source=source, columns=columns, rows=rows, row_numbers=numbers, is_partial=partial, **kw)


def cell(value: Any) -> Any:
    """A spreadsheet value as plain Python (anything unusual as text)."""
    if isinstance(value, datetime | date | time | int | float | str) or value is None:
        return value
    return str(value)


def plain(value: Any) -> Any:
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
    return cell(value)


_GEOPOINT = re.compile(
    r"^\s*(-?\d{1,2}(?:\.\d+)?)\s+(-?\d{1,3}(?:\.\d+)?)(?:\s+(-?\d+(?:\.\d+)?))?(?:\s+(\d+(?:\.\d+)?))?\s*$"
)
GEOPOINT_PARTS = ("Latitude", "Longitude", "Altitude", "Accuracy")
SAMPLE_ROWS = 200


def split_geopoints(table: RawTable) -> None:
    """A table whose only position is one ``"lat lon alt acc"`` column (ODK and Ona geopoints) gets that column's
    parts as columns of their own, named as ODK Central names them (``location-Latitude`` …); the column itself is
    kept as sent. Nothing changes when coordinate columns are recognised, or no column holds only geopoints.
    """
    from outfalls.survey.mapping import guess

    recognised = guess(table.columns)
    if ("lon" in recognised and "lat" in recognised) or ("x" in recognised and "y" in recognised):
        return
    for column in table.columns:
        filled = [v for row in table.rows[:SAMPLE_ROWS] if isinstance(v := row.get(column), str)]
        if not filled or not all(_is_geopoint(v) for v in filled):
            continue
        names = [f"{column}-{part}" for part in GEOPOINT_PARTS]
        if set(names) & set(table.columns):
            continue
        for row in table.rows:
            value = row.get(column)
            match = _GEOPOINT.match(value) if isinstance(value, str) else None
            parts = match.groups() if match else (None,) * 4
            row.update({n: float(p) if p is not None else None for n, p in zip(names, parts, strict=True)})
        table.columns.extend(names)
        table.notes.append(f"column {column!r} holds geopoints (latitude longitude altitude accuracy): read as "
                           f"{names[0]} and {names[1]}")  # fmt: skip
        return


def _is_geopoint(value: str) -> bool:
    match = _GEOPOINT.match(value)
    return match is not None and abs(float(match.group(1))) <= 90 and abs(float(match.group(2))) <= 180
