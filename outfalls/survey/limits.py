"""The bounds of an upload (`[upload]` in config.toml): bytes, unpacked bytes, members, rows, columns, cell size
and the file's name, each refused with a message naming its limit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from outfalls.config import UploadSettings
from outfalls.errors import InvalidInput

MAX_NAME_BYTES = 255  # what file systems allow for one name
DEFAULT_LIMITS = UploadSettings()  # those of config.toml


class UnusableFile(InvalidInput):
    """The file cannot be read as a survey file at all (as opposed to rows that are rejected)."""

    code = "unusable_file"


# --- limits ------------------------------------------------------------------------------------------------


def _size(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{round(mb / 1024, 2):g} GB" if mb >= 1024 else f"{round(mb, 2):g} MB"


def check_file_name(name: str) -> str:
    """The name of an uploaded file without its folders, as the readers and the store keep it.

    Raises:
        UnusableFile: a name longer than 255 bytes (no file system keeps it) or with control characters.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in base):
        raise UnusableFile("the file name contains a control character; rename the file", field="file")
    if len(base.encode()) > MAX_NAME_BYTES:
        raise UnusableFile(f"the file name is {len(base.encode())} bytes long; at most {MAX_NAME_BYTES} bytes: "
                           "rename the file", field="file")  # fmt: skip
    return base or "upload"


def _check_bytes(size: int, name: str, limits: UploadSettings) -> None:
    if size > limits.max_bytes:
        raise UnusableFile(f"{name} is {_size(size)}; at most {_size(limits.max_bytes)} ([upload] max_bytes): "
                           "split it into several uploads", field="file")  # fmt: skip


def _too_many_rows(source: str, limits: UploadSettings) -> UnusableFile:
    return UnusableFile(f"{source} has more than {limits.max_rows} rows ([upload] max_rows): split it into several "
                        "uploads", field="file")  # fmt: skip


def _too_many_columns(source: str, n: int, limits: UploadSettings) -> UnusableFile:
    return UnusableFile(f"{source} has {n} columns; at most {limits.max_columns} columns ([upload] max_columns)",
                        field="file")  # fmt: skip


def _check_cell(value: Any, source: str, number: int, column: str, limits: UploadSettings) -> None:
    if isinstance(value, str) and len(value) > limits.max_cell_chars:
        raise UnusableFile(f"{source} row {number}, column {column}: a value of {len(value)} characters; at most "
                           f"{limits.max_cell_chars} characters ([upload] max_cell_chars)", field="file")  # fmt: skip


def _check_archive(path: Path, name: str, limits: UploadSettings) -> None:
    """A ZIP-based file (XLSX, KMZ) whose files would unpack beyond the limits is refused before it is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a ZIP after all: the reader says what is wrong with it
    _check_members(name, len(members), sum(m.file_size for m in members), limits)


def _check_members(name: str, count: int, unpacked: int, limits: UploadSettings) -> None:
    if count > limits.max_members:
        raise UnusableFile(f"{name} holds {count} files; at most {limits.max_members} ([upload] max_members)",
                           field="file")  # fmt: skip
    if unpacked > limits.max_unpacked_bytes:
        raise UnusableFile(f"{name} unpacks to {_size(unpacked)}; at most {_size(limits.max_unpacked_bytes)} "
                           "([upload] max_unpacked_bytes)", field="file")  # fmt: skip
