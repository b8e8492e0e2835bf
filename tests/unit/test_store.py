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
