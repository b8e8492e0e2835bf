"""Reading the files survey crews send into one shape (``RawTable``): a table of rows with their row numbers as
the user sees them, the point of each row when the file is a GIS file, and the photos that came with it.

``tables`` reads CSV/XLSX/XLS, ``gis`` the GIS files GDAL reads, ``files`` dispatches by kind and unpacks ZIPs;
``raw`` holds what they share. Every dimension of an upload is bounded by the ``[upload]`` settings (bytes,
unpacked bytes and files of a ZIP, rows, columns, characters of a cell): a file beyond one is refused, naming the
limit. An unusable file raises ``UnusableFile`` with a message saying what to do.
"""

from outfalls.survey.limits import DEFAULT_LIMITS, MAX_NAME_BYTES, UnusableFile, check_file_name
from outfalls.survey.readers.files import MAX_PHOTO_BYTES, read_bundle, read_path, read_upload
from outfalls.survey.readers.gis import read_gis
from outfalls.survey.readers.raw import (
    GIS_SUFFIXES,
    PHOTO_SUFFIXES,
    TABLE_SUFFIXES,
    Choice,
    ChoiceNeeded,
    Photo,
    RawTable,
)
from outfalls.survey.readers.tables import read_csv, read_xls, read_xlsx

__all__ = [
    "DEFAULT_LIMITS",
    "GIS_SUFFIXES",
    "MAX_NAME_BYTES",
    "MAX_PHOTO_BYTES",
    "PHOTO_SUFFIXES",
    "TABLE_SUFFIXES",
    "Choice",
    "ChoiceNeeded",
    "Photo",
    "RawTable",
    "UnusableFile",
    "check_file_name",
    "read_bundle",
    "read_csv",
    "read_gis",
    "read_path",
    "read_upload",
    "read_xls",
    "read_xlsx",
]
