"""Row-by-row validation of a survey table: every row is either a clean ``SurveyRow`` or one or more
``RowProblem``s with a row number, a field, a stable code and a message; warnings (an unknown type kept raw)
do not reject a row.

Codes (stable, shown to users translated): ``missing_coordinates``, ``bad_coordinates``, ``outside_region``,
``swapped_lat_lon``, ``longitude_sign``, ``latitude_sign``, ``far_from_batch``, ``impossible_date``,
``duplicate_row``, ``duplicate_id``, ``nul_character``; warning ``unknown_type``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import numpy as np
from pyproj import Geod

from outfalls import clock
from outfalls.config import RegionSettings
from outfalls.errors import InvalidInput
from outfalls.geo import distance_m, parse_crs, to_cgcs2000_many
from outfalls.survey.mapping import UTC_TIME_HEADERS, ColumnMapping, normalise
from outfalls.survey.readers import RawTable, UnusableFile
from outfalls.survey.values import cell_text, day_only, json_safe, parse_coordinate, parse_when
from outfalls.survey.values import photo_names as photo_names  # also read from here

_GEOD = Geod(ellps="GRS80")
EARLIEST = date(1990, 1, 1)  # no outfall survey record is older
UNKNOWN_TYPE = ("HJ1312", "9")  # 暂无法确定
MIN_ROWS_FOR_OUTLIERS = 3


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row was rejected (or, for warnings, what was changed about it)."""

    row: int
    field: str
    code: str
    message: str
    params: Mapping[str, Any] = dc_field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the contract: ``{row, field, code, message}`` (plus the message parameters)."""
        return {"row": self.row, "field": self.field, "code": self.code, "message": self.message,
                "params": dict(self.params)}  # fmt: skip


@dataclass(slots=True)
class SurveyRow:
    """A valid survey row, ready to be stored as an observation."""

    row: int
    client_id: str
    x: float  # as written, in ``crs``
    y: float
    crs: str
    lon: float  # CGCS2000
    lat: float
    name: str | None
    national_code: str | None
    local_code: str | None
    type_scheme: str
    type_code: str
    type_raw: str | None
    receiving_water: str | None
    township: str | None
    surveyor: str | None
    captured_at: datetime | None
    photo_names: tuple[str, ...]
    attributes: dict[str, Any]


@dataclass(slots=True)
class Validation:
    """The outcome for a whole table."""

    rows: list[SurveyRow]
    rejected: list[RowProblem]
    warnings: list[RowProblem]
    crs: str
    total: int
    notes: list[str] = dc_field(default_factory=list)


class TypeResolver:
    """Maps what crews write in the type column to a code list entry: an HJ 1312-2023 code ("4.8"), an explicit
    ``SCHEME:code``, or a label in Chinese or English of HJ 1312 or of the legacy provincial lists.
    """

    def __init__(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        """``entries``: (scheme, code, label_zh, label_en); HJ 1312 first so its labels win."""
        self._codes: dict[tuple[str, str], tuple[str, str]] = {}
        self._labels: dict[str, tuple[str, str]] = {}
        ordered = sorted(entries, key=lambda e: (e[0] != "HJ1312", e[0], -len(e[1])))
        for scheme, code, zh, en in ordered:
            self._codes[(scheme.upper(), code)] = (scheme, code)
            for label in (zh, en):
                self._labels.setdefault(_type_key(label), (scheme, code))

    def resolve(self, raw: str) -> tuple[str, str] | None:
        """(scheme, code), or None when the value names no known type."""
        text = raw.strip()
        if ":" in text:
            scheme, code = text.split(":", 1)
            return self._codes.get((scheme.strip().upper(), code.strip()))
        hit = self._codes.get(("HJ1312", text)) or self._codes.get(("HJ1312", text.rstrip(".0") or text))
        return hit or self._labels.get(_type_key(text))


def _type_key(label: str) -> str:
    return re.sub(r"[\s（）()、，,·\-]", "", label).lower()


# --- the table ---------------------------------------------------------------------------------------------


def _hashed(content: Mapping[str, Any]) -> str:
    """The id of a row without one: the hash of all its values (JSON-safe), so the same row sent again is
    recognised (the ids stored before keep being recognised).
    """
    digest = hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()[:32]


def _row_key(safe: Mapping[str, Any]) -> Hashable:
    """What makes two rows of a file the same row: their values (JSON-safe) with their types, compared in memory;
    hashing to text is only needed for a row's stored id. A value no tuple holds (a list or mapping a GIS
    attribute may carry) falls back to the row's content id.
    """
    if all(v is None or v.__class__ is str for v in safe.values()):  # a text table's row: equality is exact
        return frozenset(safe.items())
    key = tuple(sorted((str(k), v.__class__.__name__, v) for k, v in safe.items()))
    try:
        hash(key)
    except TypeError:
        return _hashed(safe)
    return key


def _in_box(lon: float, lat: float, box: tuple[float, float, float, float]) -> bool:
    west, south, east, north = box
    return west <= lon <= east and south <= lat <= north


def _valid_in(x: float, y: float, crs: str, box: tuple[float, float, float, float]) -> bool:
    lon, lat, ok = to_cgcs2000_many([x], [y], crs)
    return bool(ok[0]) and _in_box(float(lon[0]), float(lat[0]), box)


def _diagnose(x: float, y: float, near: Any) -> str | None:
    """The likely mistake when (x, y) is wrong but a simple fix puts it where ``near(lon, lat)`` says it belongs."""
    for code, lon, lat in (("swapped_lat_lon", y, x), ("longitude_sign", -x, y), ("latitude_sign", x, -y)):
        if near(lon, lat):
            return code
    return None


_FIX_HINT = {
    "swapped_lat_lon": "latitude and longitude look swapped",
    "longitude_sign": "the longitude looks like it has the wrong sign",
    "latitude_sign": "the latitude looks like it has the wrong sign",
}


# The longest value each field keeps (the catalogue's columns): a longer one is the row's mistake, not a crash.
FIELD_LENGTHS = {"client_id": 128, "name": 256, "national_code": 40, "local_code": 64, "receiving_water": 128}


def validate(
    table: RawTable,
    mapping: ColumnMapping,
    *,
    crs: str | None,
    region: RegionSettings,
    types: TypeResolver,
    today: date | None = None,
) -> Validation:
    """Check every row of ``table``; nothing is written.

    Raises:
        UnusableFile: no coordinate columns are mapped and the file has no points, or a GIS file without a
            CRS and none declared.
        InvalidInput: the declared CRS is unknown.
    """
    today = today or clock.today()
    notes: list[str] = []
    columns = mapping.fields
    if "lon" in columns and "lat" in columns:
        use = ("lon", "lat")
    elif "x" in columns and "y" in columns:
        use = ("x", "y")
    elif table.points is not None:
        use = None
    else:
        raise UnusableFile(
            "no coordinate columns found: map the longitude and latitude (or x and y) columns",
            field="mapping", columns=", ".join(table.columns),
        )  # fmt: skip
    if use is None and table.crs is not None:
        declared = table.crs if crs is None else crs
        if crs is not None and parse_crs(crs) != parse_crs(table.crs):
            notes.append(f"the file declares {table.crs}; {crs} was used as requested")
    elif crs is not None:
        declared = crs
    elif use is None:
        raise UnusableFile("the file does not say its coordinate system (no .prj): declare it (datum or EPSG code)",
                           field="crs")  # fmt: skip
    else:
        declared = "EPSG:4326"
        notes.append("coordinates read as WGS84 (no datum declared)")
    try:
        declared = parse_crs(declared)
    except InvalidInput:
        if declared.startswith(("GEOGCS", "PROJCS", "GEOGCRS", "PROJCRS")):  # a .prj with no EPSG code
            raise UnusableFile("the file's coordinate system has no EPSG code; declare it", field="crs") from None
        raise

    n = len(table.rows)
    problems: dict[int, list[RowProblem]] = {}
    numbers = table.row_numbers

    def reject(i: int, field_name: str, code: str, message: str, **params: Any) -> None:
        problems.setdefault(i, []).append(RowProblem(numbers[i], field_name, code, message, params))

    # the position of each row, column by column; Python lists where rows are visited one by one (indexing a
    # numpy array makes a numpy scalar for every value)
    if use is None:
        points = table.points or [None] * n
        xl = [math.nan if p is None else float(p[0]) for p in points]
        yl = [math.nan if p is None else float(p[1]) for p in points]
        for i in (i for i, p in enumerate(points) if p is None):
            reject(i, "geometry", "missing_coordinates", "the feature is not a point")
    else:
        xl, yl = _coordinates(table, mapping, use, reject)

    xs, ys = np.array(xl, dtype=float), np.array(yl, dtype=float)
    lon, lat, ok = to_cgcs2000_many(xs, ys, declared)  # one datum conversion for the whole table
    box = region.bbox
    west, south, east, north = box
    placed = ok & (west <= lon) & (lon <= east) & (south <= lat) & (lat <= north)
    lon_l, lat_l = lon.tolist(), lat.tolist()
    for i in np.flatnonzero(~placed).tolist():
        if i in problems:
            continue
        if not ok[i]:
            fix = _diagnose(xl[i], yl[i], lambda a, b: _valid_in(a, b, declared, box))
            hint = (
                f": {_FIX_HINT[fix]}"
                if fix
                else "; check the declared coordinate system and that x is the longitude or easting"
            )
            reject(i, use[0] if use else "geometry", fix or "bad_coordinates",
                   f"({xl[i]:g}, {yl[i]:g}) is not a valid position in {declared}{hint}",
                   x=xl[i], y=yl[i])  # fmt: skip
        else:  # valid, outside the region's box
            fix = _diagnose(lon_l[i], lat_l[i], lambda a, b: _in_box(a, b, box))
            code = fix or "outside_region"
            hint = f": {_FIX_HINT[fix]}" if fix else ""
            reject(i, use[0] if use else "geometry", code,
                   f"({lon_l[i]:.6f}, {lat_l[i]:.6f}) is outside the region {list(box)}{hint}",
                   lon=round(lon_l[i], 6), lat=round(lat_l[i], 6))  # fmt: skip

    # a point far from the rest of its batch: likely a typing mistake even inside the region
    good = [i for i in range(n) if i not in problems]
    if len(good) >= MIN_ROWS_FOR_OUTLIERS:
        picked = np.array(good)
        centre = (float(np.median(lon[picked])), float(np.median(lat[picked])))
        limit = region.outlier_km * 1000
        _az, _back, dists = _GEOD.inv(np.full(len(good), centre[0]), np.full(len(good), centre[1]), lon[picked],
                                      lat[picked])  # fmt: skip
        typical = float(np.median(dists))
        for k in np.flatnonzero((dists > limit) & (dists > 5 * typical)).tolist():
            i, d = good[k], float(dists[k])
            fix = _diagnose(lon_l[i], lat_l[i], lambda a, b: distance_m((a, b), centre) <= max(limit, 5 * typical))
            hint = f"; {_FIX_HINT[fix]}" if fix else ""
            reject(i, use[0] if use else "geometry", "far_from_batch",
                   f"({lon_l[i]:.6f}, {lat_l[i]:.6f}) is {d / 1000:.0f} km from the rest of the batch{hint}",
                   km=round(d / 1000), fix=fix)  # fmt: skip

    # the other checks, each over a whole column; a row's problems keep the order of the checks
    rows_in = table.rows

    def column(field_name: str) -> list[Any]:
        if field_name == "photos" and mapping.photo_columns:  # the names of several photo columns, joined
            return [mapping.get(row, "photos") for row in rows_in]
        name = mapping.fields.get(field_name)
        return [row.get(name) for row in rows_in] if name is not None else [None] * n

    whens = _survey_times(column("surveyed_at"), today, reject, zone=UTC if mapping.time_zone_is_utc() else None)
    _timed_by_submission(whens, column("surveyed_at"), table, mapping)
    safes, keys, nul_rows = _contents(rows_in)
    look_alike: set[int] = set()  # features whose attributes repeat in the file, told apart by their points alone
    if use is None:  # placed by its geometry: a feature's point is part of what it is (look-alike manholes differ)
        repeats = {k for k, c in Counter(keys).items() if c > 1}
        look_alike = {i for i, k in enumerate(keys) if k in repeats}
        keys = list(zip(keys, xl, yl, strict=True))
    seen_content: dict[Hashable, int] = {}
    for i, content in enumerate(keys):
        first = seen_content.get(content)
        if first is not None:
            reject(i, "row", "duplicate_row", f"the same as row {first}", same_as=first)
        else:
            seen_content[content] = numbers[i]
    texts = {f: _texts(column(f)) for f in (*FIELD_LENGTHS, "type", "township", "surveyor")}
    seen_ids: dict[str, tuple[int, Hashable]] = {}
    for i, given_id in enumerate(texts["client_id"]):
        if given_id is None:
            continue
        seen = seen_ids.get(given_id)
        if seen is not None and seen[1] != keys[i]:
            reject(i, "client_id", "duplicate_id", f"id {given_id} is also used by row {seen[0]} with other values",
                   same_as=seen[0])  # fmt: skip
        elif seen is None:
            seen_ids[given_id] = (numbers[i], keys[i])
    for i in nul_rows:
        for name, value in rows_in[i].items():
            if isinstance(value, str) and "\x00" in value:  # PostgreSQL keeps no NUL in text
                reject(i, name, "nul_character",
                       f"{name} holds a NUL character (the file may be damaged or not text): remove it",
                       column=name)  # fmt: skip
                break
    for field_name, limit in FIELD_LENGTHS.items():
        values = texts[field_name]
        if max(map(len, filter(None, values)), default=0) <= limit:
            continue
        for i, value in enumerate(values):
            if value is not None and len(value) > limit:
                message = f"{field_name} has {len(value):,} characters; at most {limit} are kept"
                reject(i, field_name, "too_long", message, limit=limit)

    rows: list[SurveyRow] = []
    warnings: list[RowProblem] = []
    resolved_types: dict[str, tuple[str, str] | None] = {}
    photos = _photo_names(column("photos"))
    names, national, local, water = texts["name"], texts["national_code"], texts["local_code"], texts["receiving_water"]
    raw_types, townships, surveyors = texts["type"], texts["township"], texts["surveyor"]
    client_ids = texts["client_id"]
    source = table.source
    for i in range(n):
        if i in problems:
            continue
        number = numbers[i]
        raw_type = raw_types[i]
        resolved = None
        if raw_type:
            if raw_type not in resolved_types:
                resolved_types[raw_type] = types.resolve(raw_type)
            resolved = resolved_types[raw_type]
            if resolved is None:
                warnings.append(RowProblem(number, "type", "unknown_type",
                                           f"type {raw_type!r} is not in the code lists: kept as written, recorded "
                                           "as 暂无法确定 (not yet determined)", {"value": raw_type}))  # fmt: skip
        scheme, code = resolved or UNKNOWN_TYPE
        attributes = safes[i]
        client_id = client_ids[i]
        if not client_id:  # the row's id is made from its content
            identity = {str(k): v for k, v in attributes.items()}
            if i in look_alike:  # the same attributes elsewhere in the file: the point makes the row's id its own
                identity["_point"] = [xl[i], yl[i]]
            client_id = _hashed(identity)
        attributes["_row"] = number
        attributes["_source"] = source
        attributes["_type"] = f"{scheme}:{code}"
        rows.append(
            SurveyRow(
                row=number, client_id=client_id, x=xl[i], y=yl[i], crs=declared,
                lon=lon_l[i], lat=lat_l[i], name=names[i],
                national_code=national[i], local_code=local[i], type_scheme=scheme,
                type_code=code, type_raw=raw_type, receiving_water=water[i],
                township=townships[i], surveyor=surveyors[i],
                captured_at=whens[i], photo_names=photos[i], attributes=attributes,
            )
        )  # fmt: skip
    rejected = [p for i in sorted(problems) for p in problems[i]]
    return Validation(rows=rows, rejected=rejected, warnings=warnings, crs=declared, total=n, notes=notes)


Reject = Callable[..., None]


def _coordinates(table: RawTable, mapping: ColumnMapping, use: tuple[str, str],
                 reject: Reject) -> tuple[list[float], list[float]]:  # fmt: skip
    """The two coordinate columns as numbers (NaN where a row has a problem), rejecting unreadable and empty
    cells: a cell that is a number or plain decimal text is read by ``float`` itself, the rest by
    ``parse_coordinate``.
    """
    parsed: list[list[float | None]] = []
    unreadable: list[dict[int, Any]] = []
    for f in use:
        name = mapping.fields.get(f)
        values = [row.get(name) for row in table.rows] if name is not None else [None] * len(table.rows)
        numbers: list[float | None] = []
        bad: dict[int, Any] = {}
        for i, value in enumerate(values):
            if value.__class__ is str:
                try:
                    numbers.append(float(value))  # what parse_coordinate gives for plain decimal text
                    continue
                except ValueError:
                    pass
            try:
                numbers.append(parse_coordinate(value))
            except ValueError:
                numbers.append(None)
                bad[i] = value
        parsed.append(numbers)
        unreadable.append(bad)
    for i in sorted(unreadable[0].keys() | unreadable[1].keys()):
        for f, bad in zip(use, unreadable, strict=True):
            if i in bad:
                raw = bad[i]
                reject(i, f, "bad_coordinates", f"{f} {raw!r} is not a number or degrees-minutes-seconds", value=raw)
    xl: list[float] = []
    yl: list[float] = []
    for i, (x, y) in enumerate(zip(parsed[0], parsed[1], strict=True)):
        if x is None or y is None:
            xl.append(math.nan)
            yl.append(math.nan)
            if i not in unreadable[0] and i not in unreadable[1]:
                missing = use[0] if x is None else use[1]
                reject(i, missing, "missing_coordinates", f"{missing} is empty")
        else:
            xl.append(x)
            yl.append(y)
    return xl, yl


def _survey_times(values: list[Any], today: date, reject: Reject, *, zone: tzinfo | None) -> list[datetime | None]:
    """The survey time of each row (a time without a zone in ``zone``, by default the programme's), rejecting
    dates that do not exist or are out of range; a text value met before is not read again.
    """
    whens: list[datetime | None] = []
    known: dict[str, tuple[datetime | None, bool]] = {}  # text → (time, whether it is a real date)
    for i, raw in enumerate(values):
        if raw is None:
            whens.append(None)
            continue
        read = known.get(raw) if raw.__class__ is str else None
        if read is None:
            try:
                read = (parse_when(raw, zone=zone), True)
            except ValueError:
                read = (None, False)
            if raw.__class__ is str:
                known[raw] = read
        when, real = read
        whens.append(when)
        if not real:
            reject(i, "surveyed_at", "impossible_date", f"{raw!r} is not a real date", value=str(raw))
        elif when is not None and not (EARLIEST <= clock.day_of(when) <= today):
            day = clock.day_of(when)
            reject(i, "surveyed_at", "impossible_date",
                   f"{day.isoformat()} is {'in the future' if day > today else 'before 1990'}",
                   value=day.isoformat())  # fmt: skip
    return whens


def _timed_by_submission(whens: list[datetime | None], values: list[Any], table: RawTable,
                         mapping: ColumnMapping) -> None:  # fmt: skip
    """A survey day without a time (KoBo's and ODK's ``today``: the phone's day) takes the time the record reached
    the collection server (``_submission_time``, UTC) when that falls on the same programme day; a record sent days
    later (a crew offline) keeps its day, at noon.
    """
    chosen = mapping.fields.get("surveyed_at")
    submitted = next((c for c in table.columns if c != chosen and normalise(c) in UTC_TIME_HEADERS), None)
    if chosen is None or submitted is None:
        return
    for i, (when, raw) in enumerate(zip(whens, values, strict=True)):
        day = day_only(raw) if when is not None else None
        if day is None:
            continue
        try:
            sent = parse_when(table.rows[i].get(submitted), zone=UTC)
        except ValueError:
            continue
        if sent is not None and clock.day_of(sent) == day:
            whens[i] = sent


def _contents(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Hashable], list[int]]:
    """Each row's values made JSON-safe (its stored attributes), what makes two rows the same row (``_row_key``),
    and the rows holding a NUL character. A text table whose rows share their columns (every CSV) is done a
    column at a time: its values need no conversion and the tuple of a row's values is its key.
    """
    kinds = set(map(type, itertools.chain.from_iterable(map(dict.values, rows))))
    if kinds <= {str, type(None)} and len(set(map(tuple, map(dict.keys, rows)))) <= 1:
        values = list(map(tuple, map(dict.values, rows)))
        nul_columns = [c for c in zip(*values, strict=True) if "\x00" in "".join(filter(None, c))]
        nul = sorted({i for c in nul_columns for i, v in enumerate(c) if v and "\x00" in v})
        return list(map(dict, rows)), list(values), nul
    safes: list[dict[str, Any]] = []
    keys: list[Hashable] = []
    nul = []
    for i, row in enumerate(rows):
        cells = list(row.values())
        is_text = all(v is None or v.__class__ is str for v in cells)  # a text row: nothing to convert
        safe = dict(row) if is_text else {k: json_safe(v) for k, v in row.items()}
        safes.append(safe)
        keys.append(_row_key(safe))
        if "\x00" in "".join([v for v in cells if isinstance(v, str)]):
            nul.append(i)
    return safes, keys, nul


def _photo_names(values: list[Any]) -> list[tuple[str, ...]]:
    """``photo_names`` of every value of a column; a text column where no value lists several names or folders
    (no separator, slash or space anywhere) is read without splitting.
    """
    if set(map(type, values)) <= {str, type(None)} and not _PHOTO_SPLIT_OR_FOLDER.search("".join(filter(None, values))):
        return [(v,) if v else () for v in values]
    return [photo_names(v) if v is not None else () for v in values]


_PHOTO_SPLIT_OR_FOLDER = re.compile(r"[;,，；、\s/\\]")


def _texts(values: list[Any]) -> list[str | None]:
    """``_text`` of every value of a column (a text column needs only its spaces stripped)."""
    if set(map(type, values)) <= {str, type(None)}:
        return [(v.strip() or None) if v is not None else None for v in values]
    return list(map(cell_text, values))


def rejected_rows(problems: Sequence[RowProblem]) -> int:
    """How many distinct rows the problems reject."""
    return len({p.row for p in problems})
