"""Map label points (``reference_label_points``), a materialized view of the reference data: a point inside each
province, city, county, basin and sub-basin, and points along each river with the line's azimuth there. They
change only when the reference data does (``load_reference`` refreshes the view), so the map's names no longer
cost seconds of geometry work on every request.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Areas and basins: one point surely inside each polygon (a centroid can fall outside a crescent-shaped basin).
# Rivers: one point per 40 km of each part of the merged line (a river's line often comes in pieces), at least one
# and at most 40, spread evenly, each with the line's azimuth there measured in Web Mercator, the projection the
# map is drawn in, so the text lies along it.
LABEL_POINTS = """
SELECT a.level::text AS kind, a.code, a.name, NULL::text AS name_en,
       ST_X(p) AS lon, ST_Y(p) AS lat, NULL::float8 AS azimuth
FROM admin_areas a CROSS JOIN LATERAL ST_PointOnSurface(a.geom) AS p
WHERE a.geom IS NOT NULL AND a.level IN ('province', 'city', 'county')
UNION ALL
SELECT b.level::text, b.code, b.name, b.name_en, ST_X(p), ST_Y(p), NULL
FROM basins b CROSS JOIN LATERAL ST_PointOnSurface(b.geom) AS p
WHERE b.geom IS NOT NULL
UNION ALL
SELECT 'river', r.code, r.name, NULL::text,
       ST_X(ST_LineInterpolatePoint(part.g, f)), ST_Y(ST_LineInterpolatePoint(part.g, f)),
       degrees(ST_Azimuth(ST_Transform(ST_LineInterpolatePoint(part.g, greatest(f - 0.02, 0)), 3857),
                          ST_Transform(ST_LineInterpolatePoint(part.g, least(f + 0.02, 1)), 3857)))
FROM rivers r
CROSS JOIN LATERAL (
  SELECT d.geom AS g, ST_Length(d.geom::geography) / 1000 AS km
  FROM ST_Dump(ST_LineMerge(r.geom)) AS d
  WHERE ST_Length(d.geom) > 0
) AS part
CROSS JOIN LATERAL (SELECT least(40, greatest(1, ceil(part.km / 40.0)))::int AS n) AS count
CROSS JOIN LATERAL (SELECT (i + 0.5) / count.n AS f FROM generate_series(0, count.n - 1) AS i) AS at
WHERE r.name IS NOT NULL AND r.name <> ''
"""


def upgrade() -> None:
    op.execute(f"CREATE MATERIALIZED VIEW reference_label_points AS {LABEL_POINTS} WITH DATA")


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW reference_label_points")
