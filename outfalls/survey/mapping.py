"""Column mapping: which column of a crew's file holds which field of the national field record.

Common Chinese and English names are recognised (经度/纬度/lon/lat/x/y, 排污口名称, 排污口编码, 排口类型, 排入水体,
所在乡镇, 调查人员, 调查时间, 照片 …), as are the exports of the field apps crews use: KoBoToolbox and ODK Central
(geopoint columns such as ``_location_latitude`` or ``location-Latitude``, group prefixes like KoBo's
``group/field`` or ODK Central's ``group-field``, its ``SubmissionDate``; an id column holding one value in every
row, as ArcGIS exports may, is no id) and QField/QGIS GeoPackages; traditional characters (經度, 緯度 …) and datum
prefixes or suffixes (``WGS84Lon``, ``Lat_WGS84``) are read like the plain names. A GIS layer is placed by its
geometry, so its attribute columns are never guessed as coordinates; the photo column is the one whose values name
the photos that came with the table, whatever its header. The rest is mapped by the user on the preview screen; a
mapping can be saved under a name and reused for the next upload from the same tool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.errors import InvalidInput, NotFound
from outfalls.models import SurveyMapping
from outfalls.survey.limits import UnusableFile
from outfalls.survey.photos import photo_key, split_photo_names

if TYPE_CHECKING:
    from outfalls.survey.readers import RawTable

# The fields of a survey row, in the order the preview shows them.
FIELDS: tuple[str, ...] = (
    "lon", "lat", "x", "y", "client_id", "name", "national_code", "local_code", "type", "receiving_water",
    "township", "surveyor", "surveyed_at", "photos", "discharge", "notes",
)  # fmt: skip

# Recognised header spellings per field, compared after normalising (lower case, no spaces, punctuation or
# group prefixes). Order matters only within a field.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "lon": ("经度", "东经", "lon", "lng", "long", "longitude", "locationlongitude", "geopointlongitude",
            "gpslongitude", "坐标经度", "经度e", "经度度"),
    "lat": ("纬度", "北纬", "lat", "latitude", "locationlatitude", "geopointlatitude", "gpslatitude", "坐标纬度",
            "纬度n", "纬度度"),
    "x": ("x", "x坐标", "横坐标", "easting", "东坐标", "pointx", "coordx"),
    "y": ("y", "y坐标", "纵坐标", "northing", "北坐标", "pointy", "coordy"),
    "client_id": ("id", "uuid", "instanceid", "metainstanceid", "key", "记录编号", "记录id", "序号id", "fid",
                  "globalid", "objectid", "submissionid"),
    "name": ("排污口名称", "排口名称", "名称", "name", "outfallname", "排放口名称"),
    "national_code": ("排污口编码", "排污口编号", "国家编码", "统一编码", "nationalcode", "code", "outfallcode",
                      "编码"),
    "local_code": ("地方编码", "本地编码", "省编码", "排口编号", "localcode", "编号"),
    "type": ("排口类型", "排污口类型", "排污口类别", "类型", "类别", "type", "outfalltype", "排口类别"),
    "receiving_water": ("排入水体", "受纳水体", "所在水体", "入河水体", "河流", "河流名称", "receivingwater",
                        "waterbody", "river"),
    "township": ("所在乡镇", "乡镇", "乡镇街道", "街道", "township", "town"),
    "surveyor": ("调查人员", "调查人", "排查人员", "排查人", "记录人", "surveyor", "crew", "enumerator", "username"),
    "surveyed_at": ("调查时间", "调查日期", "排查时间", "排查日期", "时间", "日期", "surveyedat", "date", "datetime",
                    "time", "start", "today", "submissiontime", "submissiondate", "拍摄时间"),
    "photos": ("照片", "照片名称", "照片文件", "现场照片", "图片", "photo", "photos", "image", "picture", "photofile"),
    "discharge": ("排放状态", "是否排水", "排水情况", "discharge", "flowing"),
    "notes": ("备注", "说明", "notes", "note", "remarks", "comment"),
}  # fmt: skip

COORDINATE_FIELDS = ("lon", "lat", "x", "y")
# Times a collection server stamps in UTC without saying so (KoBoToolbox's ``_submission_time``); a time without a
# zone in any other column is the programme's local time.
UTC_TIME_HEADERS = frozenset({"submissiontime"})
_PUNCT = re.compile(r"[\s_\-\.\(\)（）:：/\\°]+")
# Traditional characters of the header words, as Big5 files from Taiwan or Hong Kong write them.
_TRADITIONAL = str.maketrans(
    "經緯稱類體調時間員備註東標座編碼號鄉鎮說圖現場別狀態況納記錄點區緣",
    "经纬称类体调时间员备注东标坐编码号乡镇说图现场别状态况纳记录点区缘",
)
# A datum written into a coordinate header (WGS84Lon, Lat_WGS84, GPS经度): the datum is declared per upload.
_DATUM_AFFIX = re.compile(r"^(?:wgs84|wgs|cgcs2000|cgcs|gps|gnss)(?=.)|(?<=.)(?:wgs84|cgcs2000|gps|gnss)$")
SAMPLE_ROWS = 200  # values of a column looked at to tell whether it names photos


def normalise(header: str) -> str:
    """A header as compared with the synonyms: the last ``group/`` segment, lower case, simplified characters, no
    punctuation.
    """
    last = header.replace("\\", "/").rsplit("/", 1)[-1]
    return _PUNCT.sub("", last.strip().lower().translate(_TRADITIONAL))


def _kobo_geopoint(columns: Sequence[str]) -> dict[str, str]:
    """KoBo/ODK geopoints: ``_<q>_latitude``/``_<q>_longitude`` or ``<q>-Latitude``/``<q>-Longitude``."""
    found: dict[str, str] = {}
    for c in columns:
        low = c.lower()
        if low.endswith(("_latitude", "-latitude")) and "lat" not in found:
            found["lat"] = c
        elif low.endswith(("_longitude", "-longitude")) and "lon" not in found:
            found["lon"] = c
    return found


def guess(columns: Sequence[str]) -> dict[str, str]:
    """A mapping field → column from the header names (only fields recognised with certainty). A header matching
    a synonym as written wins over one that matches only without its datum (``WGS84Lon``), which wins over one that
    matches only without its ODK group prefix (``outfall-排污口名称``; KoBo's ``group/`` paths are always stripped).
    """
    mapping = _kobo_geopoint(columns)
    taken = set(mapping.values())
    passes = (
        {c: normalise(c) for c in columns},
        {c: _DATUM_AFFIX.sub("", normalise(c)) for c in columns},
        {c: normalise(c.rsplit("-", 1)[-1]) for c in columns if "-" in c},  # ODK Central's group-question
    )
    for names in passes:
        for field_name in FIELDS:
            if field_name in mapping:
                continue
            for synonym in SYNONYMS[field_name]:
                target = normalise(synonym)
                match = next((c for c in columns if c not in taken and names.get(c) == target), None)
                if match is not None:
                    mapping[field_name] = match
                    taken.add(match)
                    break
    return mapping


def photo_columns(table: RawTable) -> list[str]:
    """The columns whose values name photos that came with the table (in its ZIP or beside it), most matches
    first: a column qualifies when at least half of its filled values (of the first ``SAMPLE_ROWS``) name one.
    A value may name several photos, with folders (``DCIM/…``, ``media/…``) or without an extension.
    """
    if not table.photos:
        return []
    names = {photo_key(p.name) for p in table.photos}
    stems = {PurePosixPath(n).stem for n in names}

    def names_a_photo(text: str) -> bool:
        parts = (text, *split_photo_names(text))
        return any((k := photo_key(p)) in names or (not PurePosixPath(k).suffix and k in stems) for p in parts)

    found: list[tuple[int, int, str]] = []
    for position, column in enumerate(table.columns):
        filled = hits = 0
        for row in table.rows:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                continue
            filled += 1
            hits += names_a_photo(value)
            if filled >= SAMPLE_ROWS:
                break
        if hits and 2 * hits >= filled:
            found.append((-hits, position, column))
    return [column for _hits, _position, column in sorted(found)]


def _constant(table: RawTable, column: str) -> bool:
    """True when ``column`` holds one and the same value in every row (of two or more)."""
    values = {str(row.get(column)) for row in table.rows}
    return len(table.rows) > 1 and len(values) == 1


class NoCoordinates(UnusableFile):
    """No column of the table is recognised as a position, and it has no geometry: the user maps them."""

    code = "no_coordinates"


def require_position(table: RawTable, mapping: ColumnMapping) -> None:
    """Check that the rows can be placed: by the file's geometry, or by mapped lon/lat or x/y columns.

    Raises:
        NoCoordinates: neither; the message lists the columns the file has (the first 40).
    """
    fields = mapping.fields
    if table.has_geometry or ("lon" in fields and "lat" in fields) or ("x" in fields and "y" in fields):
        return
    shown = ", ".join(table.columns[:40]) + (f" … ({len(table.columns)} columns)" if len(table.columns) > 40 else "")
    raise NoCoordinates(f"{table.source}: no coordinate columns recognised among its columns: {shown}; map the "
                        "longitude and latitude (or x and y) columns", field="mapping",
                        columns=", ".join(table.columns))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Field → column, checked against the table's columns. ``photo_columns``: when several columns name the
    photos that came with the table, all of them (``fields["photos"]`` first).
    """

    fields: Mapping[str, str]
    photo_columns: tuple[str, ...] = ()

    @classmethod
    def build(cls, columns: Sequence[str], given: Mapping[str, str] | None = None) -> ColumnMapping:
        """The recognised columns, overridden by ``given`` (a field mapped to "" is left unmapped).

        Raises:
            InvalidInput: an unknown field, or a column the table does not have.
        """
        return cls(_overridden(columns, guess(columns), given))

    @classmethod
    def for_table(cls, table: RawTable, given: Mapping[str, str] | None = None) -> ColumnMapping:
        """The mapping of a table as read: like ``build``, but a GIS layer's attributes are never guessed as its
        coordinates (its geometry places it), and the photo column is found by its values.

        Raises:
            InvalidInput: an unknown field, or a column the table does not have.
        """
        guessed = guess(table.columns)
        if "client_id" in guessed and _constant(table, guessed["client_id"]):
            del guessed["client_id"]  # ArcGIS exports may number every feature 0: such a column identifies none
        if table.has_geometry:
            for field_name in COORDINATE_FIELDS:
                guessed.pop(field_name, None)
        naming = photo_columns(table)
        if naming:
            guessed = {f: c for f, c in guessed.items() if c != naming[0]}
            guessed["photos"] = naming[0]
        fields = _overridden(table.columns, guessed, given)
        extra = tuple(naming) if naming and fields.get("photos") == naming[0] and len(naming) > 1 else ()
        return cls(fields, extra)

    def columns_of(self, field_name: str) -> tuple[str, ...]:
        """The columns that hold ``field_name`` (several only for photos)."""
        if field_name == "photos" and self.photo_columns:
            return self.photo_columns
        column = self.fields.get(field_name)
        return (column,) if column is not None else ()

    def time_zone_is_utc(self) -> bool:
        """Whether the survey time column is one a server writes in UTC without a zone."""
        column = self.fields.get("surveyed_at")
        return column is not None and normalise(column) in UTC_TIME_HEADERS

    def get(self, row: Mapping[str, object], field_name: str) -> object:
        """The value of ``field_name`` in ``row`` (None when unmapped); the photo names of several columns are
        joined with ``;``.
        """
        if field_name == "photos" and self.photo_columns:
            return ";".join(str(v) for c in self.photo_columns if (v := row.get(c)) not in (None, "")) or None
        column = self.fields.get(field_name)
        return row.get(column) if column is not None else None


def _overridden(columns: Sequence[str], guessed: Mapping[str, str], given: Mapping[str, str] | None) -> dict[str, str]:
    """The ``guessed`` mapping with the user's ``given`` choices applied (a field given "" is left unmapped).

    Raises:
        InvalidInput: an unknown field, or a column the table does not have.
    """
    result = dict(guessed)
    for field_name, column in (given or {}).items():
        if field_name not in FIELDS:
            raise InvalidInput(f"unknown survey field {field_name!r}; fields: {', '.join(FIELDS)}",
                               field="mapping", value=field_name)  # fmt: skip
        if not column:
            result.pop(field_name, None)
            continue
        if column not in columns:
            raise InvalidInput(f"the file has no column {column!r} (for {field_name}); columns: "
                               f"{', '.join(columns)}", field="mapping", value=column)  # fmt: skip
        result[field_name] = column
    return result


def save_template(session: Session, name: str, mapping: Mapping[str, str], *, actor: str) -> SurveyMapping:
    """Save (or replace) a named mapping for the next upload from the same tool.

    Raises:
        InvalidInput: an empty name or an unknown field.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("a mapping template needs a name", field="name")
    unknown = [f for f in mapping if f not in FIELDS]
    if unknown:
        raise InvalidInput(f"unknown survey field {unknown[0]!r}", field="mapping", value=unknown[0])
    template = session.scalar(select(SurveyMapping).where(SurveyMapping.name == name))
    clean = {k: v for k, v in mapping.items() if v}
    if template is None:
        template = SurveyMapping(name=name, fields=clean, created_by=actor)
        session.add(template)
    else:
        template.fields = clean
        template.created_by = actor
    session.flush()
    return template


def load_template(session: Session, name: str) -> dict[str, str]:
    """The fields of a saved mapping.

    Raises:
        NotFound: no template of that name.
    """
    template = session.scalar(select(SurveyMapping).where(SurveyMapping.name == name.strip()))
    if template is None:
        names = ", ".join(session.scalars(select(SurveyMapping.name).order_by(SurveyMapping.name))) or "none yet"
        raise NotFound(f"no mapping template {name!r} (saved: {names})", entity="mapping", id=name)
    return dict(template.fields)


def template_names(session: Session) -> list[str]:
    """The saved mapping templates, by name."""
    return list(session.scalars(select(SurveyMapping.name).order_by(SurveyMapping.name)))
