"""Survey photos: EXIF facts of real phone photos (values from tests/fixtures/photos/SOURCES.md) and of generated
ones, and the matching of photos to the records of a batch by file name, place and time."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from outfalls import clock
from outfalls.errors import InvalidInput
from outfalls.store import FileStore
from outfalls.survey.photos import (
    PhotoInfo,
    PhotoMatch,
    RecordForPhotos,
    match_photos,
    read_photo,
    split_photo_names,
)
from tests.conftest import FIXTURES

PHOTOS = FIXTURES / "photos"


# -- real photos -----------------------------------------------------------------------------------------
def test_nexus_photo_with_gps() -> None:
    """GPS 32°37′6.62″N 80°46′49.35″W; no time offset, so the GPS time (UTC) is the photo's time."""
    info = read_photo((PHOTOS / "geoapi_image.jpg").read_bytes(), "geoapi_image.jpg")

    assert (round(info.lat or 0, 6), round(info.lon or 0, 6)) == (32.618506, -80.780375)
    assert info.taken_at == datetime(2016, 6, 19, 23, 29, 38, tzinfo=UTC)
    assert (info.direction_deg, info.accuracy_m, info.orientation) == (None, None, None)
    assert info.has_position


def test_the_same_photo_without_gps_reads_its_camera_time_as_china_time() -> None:
    with (PHOTOS / "geoapi_image_no_location_data.jpg").open("rb") as stream:
        info = read_photo(stream, "DCIM/100ANDRO/geoapi_image_no_location_data.jpg")

    assert info == PhotoInfo(
        name="geoapi_image_no_location_data.jpg",
        lon=None,
        lat=None,
        taken_at=datetime(2016, 6, 19, 19, 29, 58, 142934, tzinfo=clock.zone()),  # DateTimeOriginal + subseconds
        direction_deg=None,
        accuracy_m=None,
        orientation=None,
    )
    assert not info.has_position


def test_rotated_iphone_photo() -> None:
    """Orientation 3 (rotated 180°); GPS 24.596928N 81.647928W, direction 62.28°, horizontal error 5 m."""
    info = read_photo((PHOTOS / "geoapi_flipped_image.jpg").read_bytes(), "C:\\Photos\\geoapi_flipped_image.jpg")

    assert info.name == "geoapi_flipped_image.jpg"
    assert (round(info.lat or 0, 6), round(info.lon or 0, 6)) == (24.596928, -81.647928)
    assert info.taken_at == datetime(2017, 9, 24, 20, 15, 46, tzinfo=UTC)
    assert round(info.direction_deg or 0, 2) == 62.28
    assert (info.accuracy_m, info.orientation) == (5.0, 3)
    assert info.as_meta() == {
        "lon": info.lon,
        "lat": info.lat,
        "taken_at": "2017-09-24T20:15:46+00:00",
        "direction_deg": info.direction_deg,
        "accuracy_m": 5.0,
        "orientation": 3,
        "altitude_m": info.altitude_m,
    }
    assert info.altitude_m is not None and round(info.altitude_m, 2) == 0.33  # GPSAltitudeRef 0: above sea level


def test_the_rotated_photo_gets_an_upright_thumbnail(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with (PHOTOS / "geoapi_flipped_image.jpg").open("rb") as f:
        stored = store.put(f)
    with Image.open(PHOTOS / "geoapi_flipped_image.jpg") as original:
        original.draft("RGB", (320, 320))
        raw = original.convert("RGB").resize((320, 240))
    with Image.open(store.thumbnail(stored.sha256)) as thumb:
        assert thumb.size == (320, 240)
        upright = thumb.convert("RGB")
    # the thumbnail is the stored pixels turned by 180°: its top-left corner is the original's bottom-right
    a, b = upright.getpixel((10, 10)), raw.getpixel((309, 229))
    assert isinstance(a, tuple) and isinstance(b, tuple)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 40


# -- generated photos ------------------------------------------------------------------------------------
def jpeg(*, exif: Image.Exif | None = None, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (40, 30), "steelblue")
    if exif is None:
        image.save(buffer, fmt)
    else:
        image.save(buffer, fmt, exif=exif)
    return buffer.getvalue()


def exif_with(*, original: str | None = None, offset: str | None = None, gps: dict[int, object] | None = None,
              orientation: int | None = None) -> Image.Exif:  # fmt: skip
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if original is not None:
        sub[0x9003] = original
    if offset is not None:
        sub[0x9011] = offset
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps or {})
    return exif


XIAN = {1: "N", 2: (34.0, 24.0, 0.0), 3: "E", 4: (108.0, 56.0, 24.0)}  # 34.4N 108.94E


def test_time_with_its_offset_wins_over_gps_time() -> None:
    gps = XIAN | {7: (1.0, 0.0, 0.0), 29: "2024:05:10"}
    info = read_photo(jpeg(exif=exif_with(original="2024:05:10 09:30:00", offset="-05:00", gps=gps)), "a.jpg")

    assert info.taken_at == datetime(2024, 5, 10, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert (info.lon, info.lat) == pytest.approx((108.94, 34.4))


def test_accuracy_from_the_dilution_of_precision_when_no_error_is_stated() -> None:
    info = read_photo(jpeg(exif=exif_with(gps=XIAN | {11: 2.5}, orientation=6)), "b.jpg")

    assert (info.accuracy_m, info.orientation, info.taken_at) == (12.5, 6, None)


def test_a_zero_position_is_no_position() -> None:
    gps = {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)}
    assert read_photo(jpeg(exif=exif_with(gps=gps)), "c.jpg").has_position is False


def test_png_without_exif_is_not_an_error() -> None:
    assert read_photo(jpeg(fmt="PNG"), "d.png") == PhotoInfo("d.png", None, None, None, None, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"not an image at all", "e.jpg is not a JPEG or PNG photo that can be read"),
     (jpeg(fmt="GIF"), "e.jpg is a GIF image, not a JPEG or PNG photo"),
     (jpeg()[:200], "e.jpg is not a JPEG or PNG photo that can be read")],
)  # fmt: skip
def test_unreadable_photos_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        read_photo(data, "e.jpg")

    assert err.value.message == message
    assert err.value.params["field"] == "photo"


# -- matching --------------------------------------------------------------------------------------------
T0 = datetime(2024, 5, 10, 9, 0, tzinfo=clock.zone())


def photo(name: str, lonlat: tuple[float, float] | None = None, taken_at: datetime | None = None) -> PhotoInfo:
    lon, lat = lonlat if lonlat else (None, None)
    return PhotoInfo(name, lon, lat, taken_at, None, None, None)


def record(index: int, lon: float, lat: float, *names: str, at: datetime | None = T0) -> RecordForPhotos:
    return RecordForPhotos(index, lon, lat, at, tuple(names))


# 0.0001° of latitude is 11.09 m here; 0.0001° of longitude at 34.4°N is 9.20 m
A = (108.9400, 34.4000)
B = (108.9400, 34.4004)  # 44.4 m north of A


def test_split_photo_names() -> None:
    assert split_photo_names(" IMG_001.jpg;IMG_002.JPG, img 3.jpg、近景  远景.png ") == (
        "IMG_001.jpg", "IMG_002.JPG", "img", "3.jpg", "近景", "远景.png")  # fmt: skip


def test_a_name_in_the_photo_column_wins_over_proximity() -> None:
    records = [record(2, *A), record(3, *B, "DCIM\\IMG_0007.JPG", "远景")]
    photos = [photo("img_0007.jpg", A), photo("远景.jpeg", A), photo("IMG_0008.jpg")]

    matches = match_photos(records, photos, max_distance_m=50, max_minutes=30)

    assert matches == [
        PhotoMatch("img_0007.jpg", 3, "file_name"),  # case and directories do not matter
        PhotoMatch("远景.jpeg", 3, "file_name"),  # a name without extension matches any extension
        PhotoMatch("IMG_0008.jpg", None, "unmatched"),  # no name, no GPS
    ]


def test_a_name_claimed_by_two_records_is_ambiguous() -> None:
    records = [record(1, *A, "p1.jpg"), record(2, *B, "P1.JPG")]
    assert match_photos(records, [photo("p1.jpg", A)], max_distance_m=50, max_minutes=30) == [
        PhotoMatch("p1.jpg", None, "ambiguous")
    ]


def test_proximity_takes_the_nearest_record_within_distance_and_time() -> None:
    records = [record(1, *A), record(2, *B)]
    near_a = (108.9400, 34.40005)  # 5.5 m from A, 38.8 m from B

    (match,) = match_photos(records, [photo("x.jpg", near_a, T0 + timedelta(minutes=12))], max_distance_m=50,
                            max_minutes=30)  # fmt: skip

    assert (match.record, match.how, match.minutes) == (1, "proximity", 12.0)
    assert match.distance_m == pytest.approx(5.545, abs=0.01)


def test_proximity_respects_the_limits() -> None:
    records = [record(1, *A), record(2, 108.95, 34.41, at=None)]
    far = (108.9400, 34.4006)  # 66.5 m from A
    late = photo("late.jpg", A, T0 + timedelta(minutes=31))
    untimed_record = photo("u.jpg", (108.95, 34.41), T0 + timedelta(days=3))  # time known on one side only
    naive = photo("n.jpg", A, datetime(2024, 5, 10, 9, 20))  # naive times are China time

    matches = match_photos(records, [photo("far.jpg", far, T0), late, untimed_record, naive], max_distance_m=50,
                           max_minutes=30)  # fmt: skip

    assert [(m.photo, m.record, m.how) for m in matches] == [
        ("far.jpg", None, "unmatched"),
        ("late.jpg", None, "unmatched"),
        ("u.jpg", 2, "proximity"),
        ("n.jpg", 1, "proximity"),
    ]
    assert matches[2].minutes is None and matches[3].minutes == 20.0


def test_two_records_about_equally_near_leave_the_photo_unattached() -> None:
    records = [record(1, *A), record(2, *B)]
    middle = (108.9400, 34.4002)  # 22.2 m from each
    slightly_nearer_a = (108.9400, 34.40019)  # 21.1 m from A, 23.3 m from B: within 20 %
    clearly_nearer_a = (108.9400, 34.40015)  # 16.6 m from A, 27.7 m from B

    matches = match_photos(
        records,
        [photo("m.jpg", middle, T0), photo("s.jpg", slightly_nearer_a, T0), photo("c.jpg", clearly_nearer_a, T0)],
        max_distance_m=50,
        max_minutes=30,
    )

    assert [(m.photo, m.record, m.how) for m in matches] == [
        ("m.jpg", None, "ambiguous"),
        ("s.jpg", None, "ambiguous"),
        ("c.jpg", 1, "proximity"),
    ]
    assert matches[0].distance_m == pytest.approx(22.18, abs=0.02)


def test_no_records_means_every_photo_is_unmatched() -> None:
    assert match_photos([], [photo("a.jpg", A, T0)], max_distance_m=50, max_minutes=30) == [
        PhotoMatch("a.jpg", None, "unmatched")
    ]


def test_exif_altitude_honours_its_reference_below_sea_level() -> None:
    survey = Path(__file__).resolve().parents[1] / "fixtures" / "survey"
    below = read_photo((survey / "photo_below_sea_level.jpg").read_bytes(), "photo_below_sea_level.jpg")
    above = read_photo((survey / "photo_above_sea_level.jpg").read_bytes(), "photo_above_sea_level.jpg")
    assert (below.altitude_m, above.altitude_m) == (-12.5, 12.5)
    assert below.as_meta()["altitude_m"] == -12.5
