"""A public report's photos: re-encoded as JPEG (nothing of the sender's file is served as sent), at most a set
size, and with only the position and the time kept of their EXIF (no camera, owner or software tags).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from outfalls.errors import InvalidInput
from outfalls.survey.photos import read_photo

MAX_PIXELS = 60_000_000  # a phone photo is 12–50 Mpx; a larger image is refused before it is decoded
# GPS tags kept: version, latitude and longitude with their references, altitude, time stamp, date stamp.
_GPS_KEPT = (0, 1, 2, 3, 4, 5, 6, 7, 29)
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 36867, 36881


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    """A re-encoded photo and what its EXIF said of where and when."""

    data: bytes
    taken_at: datetime | None
    lon: float | None
    lat: float | None


def clean_photo(data: bytes, name: str, *, max_px: int) -> CleanPhoto:
    """Re-encode a photo as JPEG of at most ``max_px`` on its longer side, upright, keeping only position and time.

    Raises:
        InvalidInput: not a JPEG or PNG photo that can be read, or too many pixels (``field="photos"``).
    """
    try:
        info = read_photo(data, name)
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(f"{info.name} has more than {MAX_PIXELS // 1_000_000} million pixels",
                                   field="photos", value=info.name, reason="too_many_pixels")  # fmt: skip
            source = image.getexif()
            gps = source.get_ifd(ExifTags.IFD.GPSInfo)
            sub = source.get_ifd(ExifTags.IFD.Exif)
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except InvalidInput as err:
        raise InvalidInput(err.message, field="photos", value=name[:80],
                           reason=err.params.get("reason") or "not_photo") from err  # fmt: skip
    except Image.DecompressionBombError as err:
        raise InvalidInput(f"{name[:80]} has more than {MAX_PIXELS // 1_000_000} million pixels", field="photos",
                           value=name[:80], reason="too_many_pixels") from err  # fmt: skip
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InvalidInput(f"{name[:80]} is not a photo that can be read", field="photos", value=name[:80]) from err
    upright.thumbnail((max_px, max_px))
    kept = Image.Exif()
    if gps:
        kept_gps = kept.get_ifd(ExifTags.IFD.GPSInfo)
        kept_gps.update({tag: value for tag, value in gps.items() if tag in _GPS_KEPT})
    if sub.get(_DATETIME_ORIGINAL):
        kept_sub = kept.get_ifd(ExifTags.IFD.Exif)
        kept_sub.update({tag: sub[tag] for tag in (_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL) if sub.get(tag)})
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=85, exif=kept.tobytes())
    return CleanPhoto(out.getvalue(), info.taken_at, info.lon, info.lat)
