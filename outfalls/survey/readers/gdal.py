"""What the readers ask of GDAL (through pyogrio): the layers of a file with their geometry types, how many
features to read, and GDAL's warnings kept as notes instead of reaching the user as Python warnings.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from outfalls.config import UploadSettings
from outfalls.survey.limits import UnusableFile, _too_many_columns, _too_many_rows
from outfalls.survey.readers.raw import Choice

_QUIET = threading.Lock()  # the warnings filters are global: one reader changes them at a time


@contextmanager
def gdal_quiet(heard: list[str] | None = None) -> Iterator[None]:
    """Run GDAL calls with its warnings (``Field format 'TEXT ( 255 )' not supported`` …) recorded, not shown:
    pyogrio turns them into ``RuntimeWarning``s, which say nothing a crew can act on. Each distinct message is
    appended to ``heard``.
    """
    with _QUIET, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if heard is not None:
        for w in caught:
            text = f"GDAL: {w.message}"
            if text not in heard:
                heard.append(text)


def layer_choices(path: Path, name: str) -> list[Choice]:
    """The layers of a GIS file (or sheets GDAL sees in a workbook), with geometry type and feature count.

    Raises:
        UnusableFile: GDAL cannot open the file.
    """
    import pyogrio

    try:
        with gdal_quiet():
            listed = [(str(row[0]), row[1]) for row in pyogrio.list_layers(path)]
            choices = []
            for layer, geometry in listed:
                try:
                    features: int | None = int(pyogrio.read_info(path, layer=layer)["features"])
                except Exception:  # noqa: BLE001 - a count is a courtesy; the read says what is wrong
                    features = None
                choices.append(Choice(layer, str(geometry) if geometry else None, features))
    except Exception as err:  # noqa: BLE001 - GDAL's errors are what they are
        raise UnusableFile(f"{name} is not a file GDAL can read ({err})", field="file") from err
    return choices


def counted(path: Path, layer: str, source: str, limits: UploadSettings, preview_rows: int | None) -> int:
    """How many features to read from a layer: all of them (refused beyond ``max_rows``), or a preview's rows."""
    import pyogrio

    try:
        with gdal_quiet():
            info: dict[str, Any] = pyogrio.read_info(path, layer=layer)
    except Exception as err:  # noqa: BLE001 - GDAL's errors are what they are
        raise UnusableFile(f"{source}: GDAL could not read layer {layer!r}: {err}", field="file") from err
    if len(info["fields"]) > limits.max_columns:
        raise _too_many_columns(source, len(info["fields"]), limits)
    if preview_rows is None and int(info["features"]) > limits.max_rows:
        raise _too_many_rows(source, limits)
    return (limits.max_rows if preview_rows is None else preview_rows) + 1  # one more tells "there are more"
