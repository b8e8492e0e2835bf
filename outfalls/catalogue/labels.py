"""Map labels from the product's own reference data, so a map without a basemap still names what it shows:
a point inside each province, city, county, basin and sub-basin (``ST_PointOnSurface``), and points along each
river (``ST_LineInterpolatePoint``) with the line's direction there, for the text to follow it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# The points are computed once per load of the reference data, in the materialized view
# ``reference_label_points`` (migration 0019, refreshed by ``outfalls.reference.load_reference``): a point inside
# each province, city, county, basin and sub-basin, and one per 40 km along each river with its azimuth there.
_POINTS = "SELECT kind, code, name, name_en, lon, lat, azimuth FROM reference_label_points ORDER BY kind, code"


def text_angle_deg(azimuth_deg: float | None) -> float:
    """The rotation (degrees clockwise, as CSS ``rotate``) that lays text along a line of this azimuth (degrees
    clockwise from north), never upside down: from -90 up to 90.
    """
    if azimuth_deg is None:
        return 0.0
    angle = (azimuth_deg - 90.0) % 180.0  # text runs east at rotation 0, i.e. along azimuth 90
    return round(angle - 180.0 if angle >= 90.0 else angle, 1)


def reference_labels(session: Session) -> dict[str, Any]:
    """Label points as a GeoJSON FeatureCollection in CGCS2000 lon/lat. Each feature's properties: ``kind``
    (province, city, county, basin, sub_basin, river), ``code``, ``name``, ``name_en`` (basins; else null) and
    ``angle`` (the text's rotation in degrees; 0 but for rivers).
    """
    rows = session.execute(text(_POINTS)).mappings()
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(r["lon"], 5), round(r["lat"], 5)]},
            "properties": {"kind": r["kind"], "code": r["code"], "name": r["name"], "name_en": r["name_en"],
                           "angle": text_angle_deg(r["azimuth"])},  # fmt: skip
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}
