"""A record from the crews' phone app, read from its JSON: what kind it is, the id the phone made for it, where
and when it was made, and the national field record (现场工作记录单, DOMAIN.md §4.4) or the visit it carries.
Every mistake is reported at once, each with the field it concerns, so the crew can mend the record and resend it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from outfalls import clock
from outfalls.errors import FieldError, InvalidInput
from outfalls.survey.readers import RawTable
from outfalls.types import CodeProvenance, DischargeState

CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{7,127}")
MAX_TEXT = 500
MAX_TRACK_POINTS = 50_000


class RecordKind(StrEnum):
    """What a phone record does."""

    NEW_OUTFALL = "new_outfall"  # an outfall found on foot, with the national field record
    VERIFY = "verify"  # a drone candidate confirmed on the spot: the record is its verification
    REJECT = "reject"  # a drone candidate that is not an outfall, with a photo and what is there instead
    VISIT = "visit"  # a site visit to a known outfall: discharge state and quick-test values
    TRACK = "track"  # the line walked, for coverage


class PhotoSlot(StrEnum):
    """The photos a record can carry: the four standard ones (近景1, 近景2, 标识牌, 远景) and a site photo."""

    NEAR1 = "near1"
    NEAR2 = "near2"
    SIGN = "sign"
    FAR = "far"
    SITE = "site"


STANDARD_PHOTOS = (PhotoSlot.NEAR1, PhotoSlot.NEAR2, PhotoSlot.SIGN, PhotoSlot.FAR)
# How the intake names the discharge state a crew saw (正在排放污水: 是 / 否 / 无法判断).
_DISCHARGING = {"yes": "是", "no": "否", "not_possible": "无法判断"}
_PROVENANCE_ZH = {CodeProvenance.UNKNOWN: "暂不掌握", CodeProvenance.KNOWN: "已掌握",
                  CodeProvenance.SIGN: "现场标识牌显示"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Position:
    """Where the phone was: WGS84 (as the Geolocation API gives it), with its accuracy and the moment of the fix."""

    lon: float
    lat: float
    accuracy_m: float | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class QuickTest:
    """One quick-test value measured on the spot."""

    parameter: str
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class FieldRecordIn:
    """A phone record as read: ``values`` holds the field record (or the visit) by the names the phone sends."""

    client_id: str
    kind: RecordKind
    captured_at: datetime
    position: Position | None
    outfall_id: int | None
    version: int | None
    photos: tuple[PhotoSlot, ...]
    values: dict[str, Any]
    quick_tests: tuple[QuickTest, ...] = ()
    points: tuple[tuple[float, float, datetime | None], ...] = ()
    body: dict[str, Any] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """A text value, trimmed; None when empty."""
        value = self.values.get(name)
        return value.strip() or None if isinstance(value, str) else None


class _Reader:
    """Collects every mistake of a record while reading it."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str, reason: str = "invalid", **params: str | int | float) -> None:
        self.errors.append(FieldError(name, message, reason, params))

    def text(self, source: Mapping[str, Any], name: str, *, where: str = "", required: bool = False) -> str | None:
        value = source.get(name)
        label = where + name
        if value is None or value == "":
            if required:
                self.fail(label, f"{label} is required", "required")
            return None
        if not isinstance(value, str):
            self.fail(label, f"{label} must be text", "invalid")
            return None
        value = value.strip()
        if len(value) > MAX_TEXT:
            self.fail(label, f"{label} has more than {MAX_TEXT} characters", "too_long", high=MAX_TEXT)
            return None
        if "\x00" in value:
            self.fail(label, f"{label} holds a NUL character", "invalid")
            return None
        if required and not value:
            self.fail(label, f"{label} is required", "required")
        return value or None

    def number(self, source: Mapping[str, Any], name: str, *, where: str = "", required: bool = False) -> float | None:
        value = source.get(name)
        label = where + name
        if value is None:
            if required:
                self.fail(label, f"{label} is required", "required")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(label, f"{label} must be a finite number", "number")
            return None
        return float(value)

    def integer(self, source: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
        value = source.get(name)
        if value is None:
            if required:
                self.fail(name, f"{name} is required", "required")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            self.fail(name, f"{name} must be a positive whole number", "number")
            return None
        return value

    def moment(
        self, source: Mapping[str, Any], name: str, *, where: str = "", required: bool = False
    ) -> datetime | None:
        value = source.get(name)
        label = where + name
        if value is None:
            if required:
                self.fail(label, f"{label} is required", "required")
            return None
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None:
            self.fail(label, f"{label} must be an ISO 8601 moment with its zone", "date")
            return None
        if (wrong := clock.moment_problem(moment, label)) is not None:
            self.fail(label, wrong[0], wrong[1])
            return None
        return moment

    def choice(self, source: Mapping[str, Any], name: str, allowed: tuple[str, ...], *, required: bool = False) -> str:
        value = source.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, f"{name} is required: one of {', '.join(allowed)}", "required")
            return ""
        if value not in allowed:
            self.fail(name, f"{name} must be one of {', '.join(allowed)}, not {value!r}", "choice")
            return ""
        return str(value)


def _position(r: _Reader, body: Mapping[str, Any], *, required: bool) -> Position | None:
    raw = body.get("position")
    if raw is None:
        if required:
            r.fail("position", "the record has no position: wait for the phone's GPS fix", "required")
        return None
    if not isinstance(raw, Mapping):
        r.fail("position", "position must be an object {lon, lat, accuracy_m, at}", "invalid")
        return None
    lon = r.number(raw, "lon", where="position.", required=True)
    lat = r.number(raw, "lat", where="position.", required=True)
    accuracy = r.number(raw, "accuracy_m", where="position.")
    at = r.moment(raw, "at", where="position.")
    if lon is not None and not -180 <= lon <= 180:
        r.fail("position.lon", f"longitude {lon} is outside -180…180", "outside_range", low=-180, high=180)
    if lat is not None and not -90 <= lat <= 90:
        r.fail("position.lat", f"latitude {lat} is outside -90…90", "outside_range", low=-90, high=90)
    if accuracy is not None and accuracy < 0:
        r.fail("position.accuracy_m", "an accuracy is at least 0 m", "invalid")
    if lon is None or lat is None:
        return None
    return Position(lon, lat, accuracy, at)


def _photos(r: _Reader, body: Mapping[str, Any]) -> tuple[PhotoSlot, ...]:
    raw = body.get("photos", [])
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        r.fail("photos", "photos must list the photo slots the record carries", "invalid")
        return ()
    slots = []
    for p in raw:
        try:
            slots.append(PhotoSlot(p))
        except ValueError:
            r.fail("photos", f"unknown photo slot {p!r}: {', '.join(s.value for s in PhotoSlot)}", "choice")
    if len(set(slots)) != len(slots):
        r.fail("photos", "a photo slot is listed twice", "listed_twice")
    return tuple(slots)


def _record_values(r: _Reader, body: Mapping[str, Any]) -> dict[str, Any]:
    """The national field record (§4.4) of a new outfall or a confirmed candidate."""
    values: dict[str, Any] = {}
    for name in ("name", "national_code", "local_code", "type", "receiving_water", "entry_method", "colour",
                 "turbidity", "odour", "notes", "crew"):  # fmt: skip
        values[name] = r.text(body, name)
    provenances = tuple(p.value for p in CodeProvenance)
    for name in ("name", "national_code", "local_code"):
        values[f"{name}_provenance"] = r.choice(body, f"{name}_provenance", provenances) or (
            CodeProvenance.KNOWN.value if values[name] else CodeProvenance.UNKNOWN.value
        )
        if values[name] is None and values[f"{name}_provenance"] != CodeProvenance.UNKNOWN.value:
            r.fail(name, f"{name} is marked as known but not given", "required")
    values["discharging"] = r.choice(body, "discharging", tuple(_DISCHARGING))
    oil = body.get("oil_film")
    if oil is not None and not isinstance(oil, bool):
        r.fail("oil_film", "oil_film is true, false or null", "invalid")
    values["oil_film"] = oil if isinstance(oil, bool) else None
    return values


def _visit_values(r: _Reader, body: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[QuickTest, ...]]:
    values: dict[str, Any] = {
        "discharge": r.choice(body, "discharge", tuple(s.value for s in DischargeState), required=True),
        "not_possible_reason": r.text(body, "not_possible_reason"),
    }
    for name in ("colour", "turbidity", "odour", "notes", "crew"):
        values[name] = r.text(body, name)
    oil = body.get("oil_film")
    values["oil_film"] = oil if isinstance(oil, bool) else None
    tests: list[QuickTest] = []
    raw = body.get("quick_tests", [])
    if not isinstance(raw, list):
        r.fail("quick_tests", "quick_tests must be a list of {parameter, value, unit}", "invalid")
        raw = []
    for i, item in enumerate(raw):
        where = f"quick_tests[{i}]."
        if not isinstance(item, Mapping):
            r.fail(f"quick_tests[{i}]", "each quick test is {parameter, value, unit}", "invalid")
            continue
        parameter = r.text(item, "parameter", where=where, required=True)
        value = r.number(item, "value", where=where, required=True)
        unit = r.text(item, "unit", where=where) or ""
        if parameter and value is not None:
            tests.append(QuickTest(parameter, value, unit))
    return values, tuple(tests)


def _points(r: _Reader, body: Mapping[str, Any]) -> tuple[tuple[float, float, datetime | None], ...]:
    raw = body.get("points")
    if not isinstance(raw, list) or len(raw) < 2:
        r.fail("points", "a track needs at least two points [lon, lat, time]", "required")
        return ()
    if len(raw) > MAX_TRACK_POINTS:
        r.fail("points", f"a track has at most {MAX_TRACK_POINTS} points: send it in parts", "too_long",
               high=MAX_TRACK_POINTS)  # fmt: skip
        return ()
    points = []
    for i, p in enumerate(raw):
        ok = isinstance(p, list) and len(p) >= 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p[:2]
        )
        if not ok or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90):
            r.fail(f"points[{i}]", "each point is [lon, lat, time] in WGS84", "invalid")
            return ()
        when = r.moment({"time": p[2]}, "time", where=f"points[{i}].") if len(p) > 2 and p[2] is not None else None
        points.append((float(p[0]), float(p[1]), when))
    return tuple(points)


def parse_record(body: Any) -> FieldRecordIn:
    """Read one phone record.

    Raises:
        InvalidInput: every mistake of the record, each with its field (``position.lon``, ``quick_tests[0].value``…).
    """
    if not isinstance(body, Mapping):
        raise InvalidInput("a record is a JSON object", field="")
    r = _Reader(body)
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise InvalidInput("client_id must be the phone's record id: 8–128 letters, digits or . _ : -",
                           field="client_id")  # fmt: skip
    try:
        kind = RecordKind(str(body.get("kind")))
    except ValueError as err:
        raise InvalidInput(f"kind must be one of {', '.join(k.value for k in RecordKind)}", field="kind") from err
    captured_at = r.moment(body, "captured_at", required=True)
    position = _position(r, body, required=kind is not RecordKind.TRACK)
    photos = _photos(r, body)
    outfall_id = version = None
    if kind in (RecordKind.VERIFY, RecordKind.REJECT, RecordKind.VISIT):
        outfall_id = r.integer(body, "outfall_id", required=True)
        version = r.integer(body, "version", required=True)
    values: dict[str, Any] = {}
    tests: tuple[QuickTest, ...] = ()
    points: tuple[tuple[float, float, datetime | None], ...] = ()
    if kind in (RecordKind.NEW_OUTFALL, RecordKind.VERIFY):
        values = _record_values(r, body)
    elif kind is RecordKind.REJECT:
        values = {"reason": r.text(body, "reason", required=True), "crew": r.text(body, "crew")}
        if PhotoSlot.SITE not in photos:
            r.fail("photos", "a photo of the place is needed", "required")
    elif kind is RecordKind.VISIT:
        values, tests = _visit_values(r, body)
    else:
        values = {"crew": r.text(body, "crew")}
        points = _points(r, body)
    if r.errors or captured_at is None:  # a missing moment is among the errors
        raise InvalidInput.of(r.errors)
    return FieldRecordIn(client_id=client_id, kind=kind, captured_at=captured_at, position=position,
                         outfall_id=outfall_id, version=version, photos=photos, values=values, quick_tests=tests,
                         points=points, body=dict(body))  # fmt: skip


def record_table(record: FieldRecordIn, *, crew: str, extra: Mapping[str, Any] | None = None) -> RawTable:
    """The record as a one-row survey table, in the columns the survey intake reads (经度, 纬度, 排污口名称 …), so
    it is validated, reconciled and stored by the same rules as a crew's uploaded file. The WGS84 position is
    declared by the caller (``crs="EPSG:4326"``); the rest of the field record is kept with the observation.
    """
    if record.position is None:
        raise InvalidInput("the record has no position: wait for the phone's GPS fix", field="position")
    v = record.values
    p = record.position
    row: dict[str, Any] = {
        "记录编号": record.client_id,
        "经度": p.lon,
        "纬度": p.lat,
        "排污口名称": v.get("name"),
        "排污口编码": v.get("national_code"),
        "地方编码": v.get("local_code"),
        "排口类型": v.get("type"),
        "排入水体": v.get("receiving_water"),
        "调查人员": crew,
        "调查时间": record.captured_at,
        "排放状态": _DISCHARGING.get(v.get("discharging") or ""),
        "照片": ";".join(f"{record.client_id}-{s.value}.jpg" for s in record.photos) or None,
        "备注": v.get("notes"),
        "名称状态": _provenance(v.get("name_provenance")),
        "编码状态": _provenance(v.get("national_code_provenance")),
        "地方编码状态": _provenance(v.get("local_code_provenance")),
        "污水入河方式": v.get("entry_method"),
        "颜色": v.get("colour"),
        "浑浊度": v.get("turbidity"),
        "气味": v.get("odour"),
        "水面油膜": {True: "有", False: "无", None: None}[v.get("oil_film")],
        "定位精度米": p.accuracy_m,
        "定位时间": p.at,
        "坐标系": "WGS84",
        "记录来源": "现场App",
        **(extra or {}),
    }
    row = {k: val for k, val in row.items() if val is not None and val != ""}
    return RawTable(source=f"field:{record.client_id}", columns=list(row), rows=[row], row_numbers=[1])


def _provenance(value: Any) -> str | None:
    try:
        return _PROVENANCE_ZH[CodeProvenance(value)]
    except ValueError:
        return None
