"""The centre of each administrative area (``admin_area_centres``), a materialized view of the reference data: the
point where the national map tiles draw an area's count of outfalls. It changes only when the reference data does
(``load_reference`` refreshes the view), so a tile no longer works out the centroid of every county it covers.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 06:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AREA_CENTRES = "SELECT id, ST_Centroid(geom)::geometry(Point, 4490) AS centre FROM admin_areas WHERE geom IS NOT NULL"


def upgrade() -> None:
    op.execute(f"CREATE MATERIALIZED VIEW admin_area_centres AS {AREA_CENTRES} WITH DATA")
    op.execute("CREATE UNIQUE INDEX ix_admin_area_centres_id ON admin_area_centres (id)")
    op.execute("CREATE INDEX ix_admin_area_centres_centre ON admin_area_centres USING gist (centre)")


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW admin_area_centres")
