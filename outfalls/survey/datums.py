"""The coordinate systems a crew declares for an upload: a datum by name, or any coordinate system by EPSG code.

GCJ-02 and BD-09 are the offset datums of Chinese consumer map apps: undetectable from the points themselves, so
the uploader says so. Kept free of heavy imports: the CLI reads ``DATUMS`` when it starts.
"""

from __future__ import annotations

from typing import Final

DATUMS: Final = {"wgs84": "EPSG:4326", "cgcs2000": "EPSG:4490", "gcj02": "GCJ-02", "bd09": "BD-09"}


def declared_crs(datum: str | None, epsg: str | None = None) -> str | None:
    """The CRS an uploader declares: a datum of ``DATUMS`` by name, or ``"epsg"`` with ``epsg`` (e.g. ``4524``).

    Returns:
        The CRS, or None when nothing is declared (the file's own CRS, else WGS84, is used).

    Raises:
        InvalidInput: an unknown datum, ``"epsg"`` without a code, or an unknown EPSG code.
    """
    from outfalls.errors import InvalidInput
    from outfalls.geo import parse_crs

    datum, epsg = (datum or "").strip(), (epsg or "").strip()
    if datum == "epsg":
        if not epsg:
            raise InvalidInput("give the EPSG code of the coordinate system", field="epsg")
        return parse_crs(epsg)
    if datum and datum not in DATUMS:
        raise InvalidInput(f"unknown datum {datum!r}", field="datum", value=datum)
    return DATUMS.get(datum) if datum else None
