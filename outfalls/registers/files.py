"""What the register writers share: the progress callback, fixed zip entries and removing a written file or
folder.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[str, int, int], None]
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry: the same in every export


def fixed_zip_entry(name: str) -> zipfile.ZipInfo:
    """A deflated zip entry with a fixed date and mode, so that the archive depends only on its contents."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def remove(path: Path) -> None:
    """Delete a file, or a folder of files (a Shapefile's parts)."""
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    else:
        path.unlink()
