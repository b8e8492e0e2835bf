"""Survey photos: what a phone wrote into a photo (EXIF position, altitude, time, direction, accuracy,
orientation), and which record of a batch each photo belongs to (by the file name a crew typed, else by place and time).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Final

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError
from pyproj import Geod
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.errors import InvalidInput
from outfalls.models import Attachment
from outfalls.scope import Scope
from outfalls.store import FileStore, attach_file

__all__ = [
    "PhotoInfo",
    "PhotoMatch",
    "RecordForPhotos",
    "attach_photo",
    "match_photos",
    "photo_key",
    "read_photo",
    "split_photo_names",
]

# A photo without a time offset was taken on a phone set to local time, which in China is UTC+8 everywhere.
# Two records whose distances to a photo differ by less than this share are "about equally near".
AMBIGUOUS_RATIO: Final = 1.2
# A typical GPS user-equivalent range error (metres): horizontal accuracy ≈ HDOP × UERE. Used only when a
# camera wrote a dilution of precision but no GPSHPositioningError.
UERE_M: Final = 5.0
IMAGE_FORMATS: Final = frozenset({"JPEG", "PNG", "MPO"})  # MPO: multi-picture JPEG some cameras write

_GEOD: Final = Geod(ellps="GRS80")
_NAME_SEPARATORS: Final = re.compile(r"[;,；，、\s]+")

# EXIF tag numbers (Exif 2.32); Pillow names them too, but numbers keep this independent of its tables.
_ORIENTATION = 0x0112
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_SUBSEC_TIME_ORIGINAL = 0x9291
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6
_GPS_TIMESTAMP, _GPS_DOP, _GPS_IMG_DIRECTION, _GPS_DATESTAMP, _GPS_H_ERROR = 7, 11, 17, 29, 31


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    """What a photo says about itself; every field but ``name`` may be missing."""

    name: str  # file name as received (no directories)
    lon: float | None  # WGS84 degrees from EXIF GPS
    lat: float | None
    taken_at: datetime | None  # timezone-aware
    direction_deg: float | None  # GPSImgDirection: where the camera pointed, degrees from north
    accuracy_m: float | None  # horizontal accuracy in metres
    orientation: int | None  # EXIF Orientation (1 upright, 3 rotated 180°, 6 and 8 quarter turns ...)
    altitude_m: float | None = None  # GPSAltitude, negative below sea level (GPSAltitudeRef 1)

    @property
    def has_position(self) -> bool:
        """True when the photo carries a GPS position."""
        return self.lon is not None and self.lat is not None

    def as_meta(self) -> dict[str, Any]:
        """The EXIF facts as JSON-ready values, for an attachment's ``meta``."""
        return {
            "lon": self.lon,
            "lat": self.lat,
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "direction_deg": self.direction_deg,
            "accuracy_m": self.accuracy_m,
            "orientation": self.orientation,
            "altitude_m": self.altitude_m,
        }


@dataclass(frozen=True, slots=True)
class RecordForPhotos:
    """A survey record as photo matching sees it."""

    index: int  # the record's row number in its batch
    lon: float  # degrees (CGCS2000 ≈ WGS84 at this scale)
    lat: float
    captured_at: datetime | None
    photo_names: tuple[str, ...] = ()  # names from the record's photo column(s), as written by the crew


@dataclass(frozen=True, slots=True)
class PhotoMatch:
    """Where a photo went: ``how`` is ``file_name``, ``proximity``, ``unmatched`` or ``ambiguous``."""

    photo: str
    record: int | None
    how: str
    distance_m: float | None = None
    minutes: float | None = None


def read_photo(data: bytes | BinaryIO, name: str) -> PhotoInfo:
    """Read the EXIF facts of a JPEG or PNG photo.

    The time is EXIF DateTimeOriginal with its OffsetTimeOriginal when the camera wrote one; else the GPS
    date and time (UTC); else DateTimeOriginal (or DateTime) read as China time (UTC+8).

    Args:
        data: The file's bytes or a binary stream (read from its current position).
        name: The file name as received; directories are dropped.

    Returns:
        The photo's facts; a photo without EXIF gives a PhotoInfo with only its name.

    Raises:
        InvalidInput: The bytes are not a JPEG or PNG image Pillow can read (``field="photo"``).
    """
    base = photo_basename(name)
    stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    try:
        with Image.open(stream) as image:
            if image.format not in IMAGE_FORMATS:
                raise InvalidInput(
                    f"{base} is a {image.format} image, not a JPEG or PNG photo", field="photo", value=base
                )
            exif = image.getexif()
            ifd0 = dict(exif)
            sub = dict(exif.get_ifd(ExifTags.IFD.Exif))
            gps = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InvalidInput(f"{base} is not a JPEG or PNG photo that can be read", field="photo", value=base) from err
    lon = _coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), negative="W")
    lat = _coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), negative="S")
    if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90) or (lon == 0 and lat == 0):
        lon = lat = None  # half a position, or the 0/0 some phones write without a fix, is no position
    return PhotoInfo(
        name=base,
        lon=lon,
        lat=lat,
        taken_at=_taken_at(ifd0, sub, gps),
        direction_deg=_number(gps.get(_GPS_IMG_DIRECTION)),
        accuracy_m=_accuracy(gps),
        orientation=_int(ifd0.get(_ORIENTATION)),
        altitude_m=_altitude(gps),
    )


def photo_basename(name: str) -> str:
    """The file name without directories (either slash; zip files from Windows use backslashes)."""
    return PurePosixPath(name.replace("\\", "/")).name


def photo_key(name: str) -> str:
    """The form under which photo names are compared: no directories, lower case."""
    return photo_basename(name.strip()).casefold()


def split_photo_names(value: str) -> tuple[str, ...]:
    """The photo names in a record's photo column: separated by ``;``, ``,``, ``、`` or spaces."""
    return tuple(part for part in _NAME_SEPARATORS.split(value.strip()) if part)


def match_photos(
    records: Sequence[RecordForPhotos],
    photos: Sequence[PhotoInfo],
    *,
    max_distance_m: float,
    max_minutes: float,
) -> list[PhotoMatch]:
    """Decide which record each photo belongs to.

    A name in a record's photo column wins (case-insensitive, directories ignored; a name written without
    extension matches any extension). Otherwise the photo goes to the nearest record within
    ``max_distance_m`` (geodesic) and, when both times are known, within ``max_minutes``. When the second
    nearest such record is less than 20 % farther than the nearest, the photo is ``ambiguous`` and left
    unattached, as is a photo whose name two records claim.

    Args:
        records: The records of one batch.
        photos: The photos that came with it.
        max_distance_m: The farthest a photo may be from its record.
        max_minutes: The largest time difference between a photo and its record, when both are known.

    Returns:
        One match per photo, in the order of ``photos``.
    """
    by_name: dict[str, set[int]] = {}
    for record in records:
        for written in record.photo_names:
            for key in _name_keys(written):
                by_name.setdefault(key, set()).add(record.index)
    lons = np.array([r.lon for r in records], dtype=np.float64)
    lats = np.array([r.lat for r in records], dtype=np.float64)
    return [_match_one(photo, records, by_name, lons, lats, max_distance_m, max_minutes) for photo in photos]


def attach_photo(
    session: Session,
    store: FileStore,
    data: bytes | BinaryIO,
    info: PhotoInfo,
    *,
    actor: str,
    scope: Scope,
    observation_id: int | None = None,
    outfall_id: int | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Attachment:
    """Store a photo's original in the file store and attach it with its EXIF facts (``kind="photo"``).

    The web shows it through ``/attachments/<id>/thumb``, upright (EXIF orientation applied).

    Raises:
        InvalidInput: no owner given, or an empty file.
        NotFound: the outfall (in ``scope``) or observation does not exist.
    """
    stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    return attach_file(
        session,
        store,
        stream,
        name=info.name,
        kind="photo",
        actor=actor,
        scope=scope,
        outfall_id=outfall_id,
        observation_id=observation_id,
        meta={**info.as_meta(), **(meta or {})},
    )


# -- matching ------------------------------------------------------------------------------------------
def _name_keys(written: str) -> tuple[str, ...]:
    key = photo_key(written)
    if not key:
        return ()
    return (key,) if PurePosixPath(key).suffix else (f"{key}.*",)


def _match_one(
    photo: PhotoInfo,
    records: Sequence[RecordForPhotos],
    by_name: Mapping[str, set[int]],
    lons: np.ndarray[Any, np.dtype[np.float64]],
    lats: np.ndarray[Any, np.dtype[np.float64]],
    max_distance_m: float,
    max_minutes: float,
) -> PhotoMatch:
    key = photo_key(photo.name)
    named = by_name.get(key, set()) | by_name.get(f"{PurePosixPath(key).stem}.*", set())
    if len(named) == 1:
        return PhotoMatch(photo.name, next(iter(named)), "file_name")
    if len(named) > 1:
        return PhotoMatch(photo.name, None, "ambiguous")
    if photo.lon is None or photo.lat is None or not records:
        return PhotoMatch(photo.name, None, "unmatched")
    n = len(records)
    _, _, dists = _GEOD.inv(np.full(n, photo.lon), np.full(n, photo.lat), lons, lats)
    candidates: list[tuple[float, int, float | None]] = []
    for i, record in enumerate(records):
        distance = float(dists[i])
        if distance > max_distance_m:
            continue
        minutes = _minutes_between(photo.taken_at, record.captured_at)
        if minutes is not None and minutes > max_minutes:
            continue
        candidates.append((distance, record.index, minutes))
    if not candidates:
        return PhotoMatch(photo.name, None, "unmatched")
    candidates.sort(key=lambda c: (c[0], c[1]))
    distance, index, minutes = candidates[0]
    if len(candidates) > 1 and candidates[1][0] <= distance * AMBIGUOUS_RATIO:
        return PhotoMatch(photo.name, None, "ambiguous", distance_m=distance, minutes=minutes)
    return PhotoMatch(photo.name, index, "proximity", distance_m=distance, minutes=minutes)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=clock.zone())


def _minutes_between(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return abs((_aware(a) - _aware(b)).total_seconds()) / 60.0


# -- EXIF ----------------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """An EXIF rational (Pillow's IFDRational), int or float as a finite float."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _coordinate(dms: Any, ref: Any, *, negative: str) -> float | None:
    """Degrees from an EXIF (degrees, minutes, seconds) triple and its N/S or E/W reference."""
    if not isinstance(dms, tuple | list) or len(dms) != 3:
        return None
    parts = [_number(v) for v in dms]
    if any(p is None for p in parts):
        return None
    degrees, minutes, seconds = (float(p) for p in parts if p is not None)
    value = degrees + minutes / 60.0 + seconds / 3600.0
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -value if str(ref or "").strip().upper() == negative else value


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 ")
    return value or None


def _exif_datetime(value: Any, subsec: Any = None) -> datetime | None:
    """A naive datetime from ``YYYY:MM:DD HH:MM:SS`` (blank or zeroed fields, as some cameras write: None)."""
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    digits = _text(subsec)
    if digits and digits.isdigit():
        moment = moment.replace(microsecond=int(digits[:6].ljust(6, "0")))
    return moment


def _offset(value: Any) -> timezone | None:
    """A timezone from an EXIF offset such as ``+08:00``."""
    text = _text(value)
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text or "")
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return timezone(sign * delta) if delta < timedelta(hours=15) else None


def _gps_datetime(gps: Mapping[int, Any]) -> datetime | None:
    day = _text(gps.get(_GPS_DATESTAMP))
    hms = gps.get(_GPS_TIMESTAMP)
    if day is None or not isinstance(hms, tuple | list) or len(hms) != 3:
        return None
    parts = [_number(v) for v in hms]
    if any(p is None for p in parts):
        return None
    try:
        midnight = datetime.strptime(day[:10], "%Y:%m:%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    hours, minutes, seconds = (float(p) for p in parts if p is not None)
    return midnight + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _taken_at(ifd0: Mapping[int, Any], sub: Mapping[int, Any], gps: Mapping[int, Any]) -> datetime | None:
    original = _exif_datetime(sub.get(_DATETIME_ORIGINAL), sub.get(_SUBSEC_TIME_ORIGINAL))
    offset = _offset(sub.get(_OFFSET_TIME_ORIGINAL))
    if original is not None and offset is not None:
        return original.replace(tzinfo=offset)
    from_gps = _gps_datetime(gps)
    if from_gps is not None:
        return from_gps
    local = original or _exif_datetime(ifd0.get(_DATETIME))
    return local.replace(tzinfo=clock.zone()) if local is not None else None


def _altitude(gps: Mapping[int, Any]) -> float | None:
    """GPSAltitude in metres; GPSAltitudeRef 1 (a byte, as Exif writes it, or a number) means below sea level."""
    altitude = _number(gps.get(_GPS_ALT))
    if altitude is None:
        return None
    ref = gps.get(_GPS_ALT_REF)
    below = ref[:1] == b"\x01" if isinstance(ref, bytes) else _int(ref) == 1
    return -abs(altitude) if below else altitude


def _accuracy(gps: Mapping[int, Any]) -> float | None:
    error = _number(gps.get(_GPS_H_ERROR))
    if error is not None and error >= 0:
        return error
    # No stated error: estimate it from the dilution of precision (HDOP × a typical 5 m range error).
    # It is a rough figure, but better than nothing for telling a good fix from a poor one.
    dop = _number(gps.get(_GPS_DOP))
    return dop * UERE_M if dop is not None and dop > 0 else None
