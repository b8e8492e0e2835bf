"""Registers (名录 / 管理台账): the outfall register of a scope (the exporter's own, narrowed to a basin and/or an
administrative area) **as of a date**, computed from the events in one set-based query, and written as XLSX, CSV,
GeoPackage, zipped Shapefile, GeoJSON, KML or FlatGeobuf.

The state columns (status, discharge, monitoring, responsible party, remediation, closing) follow
``outfalls.catalogue.lifecycle.state_as_of``: the events effective up to the end of the day, replayed in
recording order.
The identity and location columns (codes, name, type, coordinates, area, basin, river) are the outfall's current
ones, as in progress ("outfalls are placed where they are now"). Outfalls not found yet on that day, rejected
candidates and records merged into another outfall by then are left out.

A register is reproducible: the same scope and date give the same rows in the same order, and nothing in a file
depends on when it was written (GeoPackage and XLSX timestamps are set to the as-of day, zip entries carry a fixed
date), so the same export made tomorrow is byte-identical as long as no event dated on or before that day has been
recorded in the meantime.
"""

from outfalls.registers.columns import COLUMN_NAMES, COLUMNS, SHP_NAMES, Column
from outfalls.registers.export import MEDIA_TYPES, SUFFIX, RegisterExport, check_output, export_register, record_export
from outfalls.registers.files import Progress
from outfalls.registers.jobs import (
    JOB_KIND,
    ExportFile,
    default_as_of,
    export_file,
    export_job,
    export_work,
    file_name,
    recent_exports,
    start_export,
)
from outfalls.registers.ogr import LAYER, shapefile_field_table
from outfalls.registers.query import (
    CRS_CODES,
    FORMATS,
    GROUPINGS,
    Format,
    RegisterQuery,
    check_as_of,
    check_crs,
    check_format,
    iter_chunks,
    register_query,
    register_rows,
)

__all__ = [
    "COLUMNS", "COLUMN_NAMES", "CRS_CODES", "FORMATS", "GROUPINGS", "JOB_KIND", "LAYER", "MEDIA_TYPES", "SHP_NAMES",
    "SUFFIX", "Column", "ExportFile", "Format", "Progress", "RegisterExport", "RegisterQuery", "check_as_of",
    "check_crs", "check_format", "check_output", "default_as_of", "export_file", "export_job", "export_register",
    "export_work", "file_name", "iter_chunks", "recent_exports", "record_export", "register_query",
    "register_rows", "shapefile_field_table", "start_export",
]  # fmt: skip
