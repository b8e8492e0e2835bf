import hashlib
import io
from pathlib import Path

import pytest

from outfalls.errors import InvalidInput, NotFound
from outfalls.store import FileStore


def test_same_bytes_same_file(tmp_path: Path):
    store = FileStore(tmp_path / "store")
    data = b"\xff\xd8photo bytes" * 1000
    a = store.put(io.BytesIO(data))
    b = store.put(io.BytesIO(data))
    digest = hashlib.sha256(data).hexdigest()
    assert a.sha256 == b.sha256 == digest and a.size_bytes == len(data)
    assert a.path == tmp_path / "store" / digest[:2] / digest[2:4] / digest
    assert a.path.read_bytes() == data
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == [a.path]  # no temp files left
    with store.open(digest) as f:
        assert f.read() == data


def test_missing_and_malformed_digests(tmp_path: Path):
    store = FileStore(tmp_path)
    with pytest.raises(NotFound):
        store.open("0" * 64)
    with pytest.raises(InvalidInput, match="SHA-256"):
        store.path_of("../../etc/passwd")


PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "geoapi_flipped_image.jpg"


def test_thumbnails_are_upright_small_and_made_once(tmp_path: Path) -> None:
    from PIL import Image

    store = FileStore(tmp_path / "store")
    with PHOTO.open("rb") as f:
        stored = store.put(f)
    thumb = store.thumbnail(stored.sha256)
    assert thumb.is_relative_to(tmp_path / "store" / "thumbs")
    with Image.open(thumb) as small, Image.open(PHOTO) as raw:
        assert small.format == "JPEG" and max(small.size) == 320
        assert small.size == (320, 240)  # orientation 3 keeps the aspect; the content turns 180°
        raw.draft("RGB", (320, 320))
        stored_way = raw.convert("RGB").resize(small.size)
        upright = stored_way.rotate(180)

        def diff(a: Image.Image, b: Image.Image) -> float:
            pa, pb = a.convert("L").tobytes(), b.convert("L").tobytes()
            return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)

        assert diff(small, upright) < diff(small, stored_way) / 2
    mtime = thumb.stat().st_mtime_ns
    assert store.thumbnail(stored.sha256) == thumb and thumb.stat().st_mtime_ns == mtime  # cached
    assert PHOTO.read_bytes() == store.path_of(stored.sha256).read_bytes()  # the original is untouched


def test_a_file_that_is_not_an_image_has_no_thumbnail(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    stored = store.put(io.BytesIO(b"%PDF-1.4 not really an image"))
    with pytest.raises(InvalidInput, match="not an image"):
        store.thumbnail(stored.sha256)
    assert not (tmp_path / "store" / "thumbs" / "320" / f"{stored.sha256}.jpg").exists()
