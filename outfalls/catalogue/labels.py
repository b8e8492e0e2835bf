"""Map labels from the product's own reference data, so a map without a basemap still names what it shows:
a point inside each province, city, county, basin and sub-basin (``ST_PointOnSurface``), and points along each
river (``ST_LineInterpolatePoint``) with the line's direction there, for the text to follow it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# One river label per this many km of each part of its line (at least one, at most RIVER_LABELS_MAX), spread
# evenly, so that a zoomed-in view still holds one; the map keeps those of one river apart on screen.
RIVER_LABEL_SPACING_KM = 40.0
RIVER_LABELS_MAX = 40

# Areas and basins: one point surely inside each polygon (a centroid can fall outside a crescent-shaped basin).
_AREAS = """
SELECT a.level AS kind, a.code, a.name, NULL::text AS name_en,
       ST_X(p) AS lon, ST_Y(p) AS lat, NULL::float8 AS azimuth
FROM admin_areas a CROSS JOIN LATERAL ST_PointOnSurface(a.geom) AS p
WHERE a.geom IS NOT NULL AND a.level IN ('province', 'city', 'county')
UNION ALL
SELECT b.level, b.code, b.name, b.name_en, ST_X(p), ST_Y(p), NULL
FROM basins b CROSS JOIN LATERAL ST_PointOnSurface(b.geom) AS p
WHERE b.geom IS NOT NULL
"""
# Rivers: points spread along each part of the merged line (a river's line often comes in pieces), each with the
# line's azimuth there measured in Web Mercator, the projection the map is drawn in, so the text lies along it.
_RIVERS = """
SELECT 'river' AS kind, r.code, r.name, NULL::text AS name_en,
       ST_X(ST_LineInterpolatePoint(part.g, f)) AS lon, ST_Y(ST_LineInterpolatePoint(part.g, f)) AS lat,
       degrees(ST_Azimuth(ST_Transform(ST_LineInterpolatePoint(part.g, greatest(f - 0.02, 0)), 3857),
                          ST_Transform(ST_LineInterpolatePoint(part.g, least(f + 0.02, 1)), 3857))) AS azimuth
FROM rivers r
CROSS JOIN LATERAL (
  SELECT d.geom AS g, ST_Length(d.geom::geography) / 1000 AS km
  FROM ST_Dump(ST_LineMerge(r.geom)) AS d
  WHERE ST_Length(d.geom) > 0
) AS part
CROSS JOIN LATERAL (
  SELECT least(:most, greatest(1, ceil(part.km / :spacing)))::int AS n
) AS count
CROSS JOIN LATERAL (SELECT (i + 0.5) / count.n AS f FROM generate_series(0, count.n - 1) AS i) AS at
WHERE r.name IS NOT NULL AND r.name <> ''
"""


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
    params = {"spacing": RIVER_LABEL_SPACING_KM, "most": RIVER_LABELS_MAX}
    rows = session.execute(text(f"{_AREAS} UNION ALL {_RIVERS} ORDER BY 1, 2"), params).mappings()
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
