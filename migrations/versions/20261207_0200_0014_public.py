"""Public disclosure and reports: each outfall's random public reference (sign board QR code, public page), the
codes the coding rule has given (never reused), and citizens' reports with their photos and steps.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_REF_SQL = "substr(md5(random()::text || clock_timestamp()::text), 1, 16)"


def upgrade() -> None:
    # a volatile default is evaluated for each existing row: every outfall gets its own reference at once
    op.add_column("outfalls", sa.Column("public_ref", sa.String(16), server_default=sa.text(PUBLIC_REF_SQL),
                                        nullable=False))
    op.create_unique_constraint(op.f("uq_outfalls_public_ref"), "outfalls", ["public_ref"])
    op.create_table(
        "issued_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("outfall_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["outfall_id"], ["outfalls.id"], name=op.f("fk_issued_codes_outfall_id_outfalls")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_issued_codes_event_id_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_issued_codes_code")),
    )
    op.create_index(op.f("ix_issued_codes_prefix_seq"), "issued_codes", ["prefix", "seq"])
    op.create_index(op.f("ix_issued_codes_outfall_id"), "issued_codes", ["outfall_id"])
    op.create_table(
        "public_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt", sa.String(16), nullable=False),
        sa.Column("status", sa.Enum("received", "checking", "confirmed", "not_outfall", "duplicate",
                                    name="reportstatus", native_enum=False, length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("geom", geoalchemy2.Geometry(geometry_type="POINT", srid=4490, dimension=2, spatial_index=False,
                                                      from_text="ST_GeomFromEWKT", name="geometry", nullable=False), nullable=False),
        sa.Column("location_source", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(128), nullable=True),
        sa.Column("outfall_ref", sa.String(16), nullable=True),
        sa.Column("admin_area_id", sa.Integer(), nullable=True),
        sa.Column("basin_id", sa.Integer(), nullable=True),
        sa.Column("outfall_id", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["admin_area_id"], ["admin_areas.id"],
                                name=op.f("fk_public_reports_admin_area_id_admin_areas")),
        sa.ForeignKeyConstraint(["basin_id"], ["basins.id"], name=op.f("fk_public_reports_basin_id_basins")),
        sa.ForeignKeyConstraint(["outfall_id"], ["outfalls.id"], name=op.f("fk_public_reports_outfall_id_outfalls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_reports")),
        sa.UniqueConstraint("receipt", name=op.f("uq_public_reports_receipt")),
    )
    op.create_geospatial_index("idx_public_reports_geom", "public_reports", ["geom"], unique=False,
                               postgresql_using="gist", postgresql_ops={})
    for column in ("status", "admin_area_id", "basin_id", "outfall_id"):
        op.create_index(op.f(f"ix_public_reports_{column}"), "public_reports", [column])
    op.create_table(
        "public_report_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["public_reports.id"],
                                name=op.f("fk_public_report_photos_report_id_public_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_report_photos")),
    )
    op.create_index(op.f("ix_public_report_photos_report_id"), "public_report_photos", ["report_id"])
    op.create_table(
        "public_report_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["public_reports.id"],
                                name=op.f("fk_public_report_events_report_id_public_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_report_events")),
    )
    op.create_index(op.f("ix_public_report_events_report_id"), "public_report_events", ["report_id"])


def downgrade() -> None:
    op.drop_table("public_report_events")
    op.drop_table("public_report_photos")
    op.drop_geospatial_index("idx_public_reports_geom", table_name="public_reports", postgresql_using="gist",
                             column_name="geom")
    op.drop_table("public_reports")
    op.drop_table("issued_codes")
    op.drop_constraint(op.f("uq_outfalls_public_ref"), "outfalls", type_="unique")
    op.drop_column("outfalls", "public_ref")
