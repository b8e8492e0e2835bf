"""The reference layers as the map draws them (``reference_layer_shapes``), a materialized view of the reference
data: basins, sub-basins, provinces, cities and counties simplified to 0.002°, rivers to 0.001°, as GeoJSON text
with their properties. They change only when the reference data does (``load_reference`` refreshes the view), so a
dashboard or map asks for its layers without simplifying whole basins on every request. The SQL is
``outfalls.catalogue.queries.reference_layer_sql`` at the default tolerance, frozen here (a test compares them).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAYER_SHAPES = """
SELECT 'basins'::text AS layer, b.id, b.code,
       jsonb_build_object('code', b.code, 'name', b.name, 'name_en', b.name_en, 'parent', p.code) AS properties,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(b.geom, 0.002), 5, 0) AS geometry
FROM basins b LEFT JOIN basins p ON p.id = b.parent_id WHERE b.level = 'basin'
UNION ALL
SELECT 'sub_basins', b.id, b.code,
       jsonb_build_object('code', b.code, 'name', b.name, 'name_en', b.name_en, 'parent', p.code),
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(b.geom, 0.002), 5, 0)
FROM basins b LEFT JOIN basins p ON p.id = b.parent_id WHERE b.level = 'sub_basin'
UNION ALL
SELECT 'rivers', r.id, r.code,
       jsonb_build_object('code', r.code, 'name', r.name, 'length_km', r.length_km, 'basin', b.code),
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(r.geom, 0.001), 5, 0)
FROM rivers r LEFT JOIN basins b ON b.id = r.basin_id
UNION ALL
SELECT CASE a.level WHEN 'province' THEN 'provinces' WHEN 'city' THEN 'cities' ELSE 'counties' END, a.id, a.code,
       jsonb_build_object('code', a.code, 'name', a.name, 'parent', p.code),
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(a.geom, 0.002), 5, 0)
FROM admin_areas a LEFT JOIN admin_areas p ON p.id = a.parent_id
WHERE a.level IN ('province', 'city', 'county') AND a.geom IS NOT NULL
"""


def upgrade() -> None:
    op.execute(f"CREATE MATERIALIZED VIEW reference_layer_shapes AS {LAYER_SHAPES} WITH DATA")
    op.execute("CREATE INDEX ix_reference_layer_shapes_layer ON reference_layer_shapes (layer, code)")


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW reference_layer_shapes")
