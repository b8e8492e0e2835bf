"""Drone imagery: sorties (flight records), orthophotos with valid-pixel footprints, interpretation cells,
analysts' marks with their review, and verification tasks for crews.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 01:04:17.263744
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "interpretation_cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("basin_id", sa.Integer(), nullable=False),
        sa.Column("grid_srid", sa.Integer(), nullable=False),
        sa.Column("grid_i", sa.Integer(), nullable=False),
        sa.Column("grid_j", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("todo", "in_progress", "done", "reviewed", name="cellstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("analyst", sa.String(length=128), nullable=True),
        sa.Column("reviewer", sa.String(length=128), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["basin_id"], ["basins.id"], name=op.f("fk_interpretation_cells_basin_id_basins")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interpretation_cells")),
        sa.UniqueConstraint(
            "basin_id",
            "grid_srid",
            "grid_i",
            "grid_j",
            name=op.f("uq_interpretation_cells_basin_id_grid_srid_grid_i_grid_j"),
        ),
    )
    op.create_geospatial_index(
        "idx_interpretation_cells_geom",
        "interpretation_cells",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_interpretation_cells_analyst"), "interpretation_cells", ["analyst"], unique=False)
    op.create_index(op.f("ix_interpretation_cells_basin_id"), "interpretation_cells", ["basin_id"], unique=False)
    op.create_index(op.f("ix_interpretation_cells_status"), "interpretation_cells", ["status"], unique=False)
    op.create_table(
        "verification_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("crew", sa.String(length=128), nullable=False),
        sa.Column("basin_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["basin_id"], ["basins.id"], name=op.f("fk_verification_tasks_basin_id_basins")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_tasks")),
    )
    op.create_index(op.f("ix_verification_tasks_crew"), "verification_tasks", ["crew"], unique=False)
    op.create_table(
        "sorties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("flown_on", sa.Date(), nullable=True),
        sa.Column("aircraft_type", sa.String(length=128), nullable=True),
        sa.Column("altitude_m", sa.Float(), nullable=True),
        sa.Column("area_km2", sa.Float(), nullable=True),
        sa.Column("length_km", sa.Float(), nullable=True),
        sa.Column("photo_count", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=128), nullable=True),
        sa.Column("basin_id", sa.Integer(), nullable=True),
        sa.Column("river_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["basin_id"], ["basins.id"], name=op.f("fk_sorties_basin_id_basins")),
        sa.ForeignKeyConstraint(["river_id"], ["rivers.id"], name=op.f("fk_sorties_river_id_rivers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sorties")),
        sa.UniqueConstraint("code", name=op.f("uq_sorties_code")),
    )
    op.create_index(op.f("ix_sorties_basin_id"), "sorties", ["basin_id"], unique=False)
    op.create_index(op.f("ix_sorties_river_id"), "sorties", ["river_id"], unique=False)
    op.create_geospatial_table(
        "orthophotos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("cog_path", sa.Text(), nullable=False),
        sa.Column("sortie_id", sa.Integer(), nullable=True),
        sa.Column("captured_on", sa.Date(), nullable=True),
        sa.Column("crs", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("band_count", sa.Integer(), nullable=False),
        sa.Column("band_layout", sa.String(length=64), nullable=False),
        sa.Column("mask_kind", sa.String(length=16), nullable=False),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("resolution_m", sa.Float(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("footprint_area_m2", sa.Float(), nullable=False),
        sa.Column("ingested_by", sa.String(length=128), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["sortie_id"], ["sorties.id"], name=op.f("fk_orthophotos_sortie_id_sorties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orthophotos")),
        sa.UniqueConstraint("sha256", name=op.f("uq_orthophotos_sha256")),
    )
    op.create_geospatial_index(
        "idx_orthophotos_footprint",
        "orthophotos",
        ["footprint"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_orthophotos_sortie_id"), "orthophotos", ["sortie_id"], unique=False)
    op.create_geospatial_table(
        "imagery_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("point", "area", name="markkind", native_enum=False, length=16), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                srid=4490,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("orthophoto_id", sa.Integer(), nullable=True),
        sa.Column("type_guess", sa.String(length=32), nullable=True),
        sa.Column("confidence", sa.String(length=16), nullable=True),
        sa.Column("area_kind", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "review",
            sa.Enum("pending", "accepted", "edited", "rejected", name="markreview", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=128), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("original", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("outfall_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["interpretation_cells.id"], name=op.f("fk_imagery_marks_cell_id_interpretation_cells")
        ),
        sa.ForeignKeyConstraint(
            ["orthophoto_id"], ["orthophotos.id"], name=op.f("fk_imagery_marks_orthophoto_id_orthophotos")
        ),
        sa.ForeignKeyConstraint(["outfall_id"], ["outfalls.id"], name=op.f("fk_imagery_marks_outfall_id_outfalls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imagery_marks")),
    )
    op.create_geospatial_index(
        "idx_imagery_marks_geom", "imagery_marks", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_imagery_marks_author"), "imagery_marks", ["author"], unique=False)
    op.create_index(op.f("ix_imagery_marks_cell_id"), "imagery_marks", ["cell_id"], unique=False)
    op.create_index(op.f("ix_imagery_marks_orthophoto_id"), "imagery_marks", ["orthophoto_id"], unique=False)
    op.create_index(op.f("ix_imagery_marks_outfall_id"), "imagery_marks", ["outfall_id"], unique=False)
    op.create_index(op.f("ix_imagery_marks_review"), "imagery_marks", ["review"], unique=False)
    op.create_table(
        "verification_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mark_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mark_id"], ["imagery_marks.id"], name=op.f("fk_verification_stops_mark_id_imagery_marks")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["verification_tasks.id"], name=op.f("fk_verification_stops_task_id_verification_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_stops")),
        sa.UniqueConstraint("mark_id", name=op.f("uq_verification_stops_mark_id")),
        sa.UniqueConstraint("task_id", "seq", name=op.f("uq_verification_stops_task_id_seq")),
    )
    op.create_index(op.f("ix_verification_stops_task_id"), "verification_stops", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_verification_stops_task_id"), table_name="verification_stops")
    op.drop_table("verification_stops")
    op.drop_index(op.f("ix_imagery_marks_review"), table_name="imagery_marks")
    op.drop_index(op.f("ix_imagery_marks_outfall_id"), table_name="imagery_marks")
    op.drop_index(op.f("ix_imagery_marks_orthophoto_id"), table_name="imagery_marks")
    op.drop_index(op.f("ix_imagery_marks_cell_id"), table_name="imagery_marks")
    op.drop_index(op.f("ix_imagery_marks_author"), table_name="imagery_marks")
    op.drop_geospatial_index(
        "idx_imagery_marks_geom", table_name="imagery_marks", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("imagery_marks")
    op.drop_index(op.f("ix_orthophotos_sortie_id"), table_name="orthophotos")
    op.drop_geospatial_index(
        "idx_orthophotos_footprint", table_name="orthophotos", postgresql_using="gist", column_name="footprint"
    )
    op.drop_geospatial_table("orthophotos")
    op.drop_index(op.f("ix_sorties_river_id"), table_name="sorties")
    op.drop_index(op.f("ix_sorties_basin_id"), table_name="sorties")
    op.drop_table("sorties")
    op.drop_index(op.f("ix_verification_tasks_crew"), table_name="verification_tasks")
    op.drop_table("verification_tasks")
    op.drop_index(op.f("ix_interpretation_cells_status"), table_name="interpretation_cells")
    op.drop_index(op.f("ix_interpretation_cells_basin_id"), table_name="interpretation_cells")
    op.drop_index(op.f("ix_interpretation_cells_analyst"), table_name="interpretation_cells")
    op.drop_geospatial_index(
        "idx_interpretation_cells_geom", table_name="interpretation_cells", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("interpretation_cells")
