"""Outfall indexes no query plan uses are dropped, so that writing an outfall updates 11 indexes instead of 16:
``is_demo``, ``exceeds_limit`` and ``case_deadline`` (no query filters or sorts on them), ``type_code`` (the type
filter is a prefix ``LIKE``, which a plain B-tree in a non-C collation cannot serve: it was a sequential scan
with or without it) and ``river_id`` (outfalls are never looked up by river; progress by river reads
``outfall_milestones``, and rivers are reference data that is updated, never deleted).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = ("is_demo", "exceeds_limit", "case_deadline", "type_code", "river_id")


def upgrade() -> None:
    for column in DROPPED:
        op.drop_index(f"ix_outfalls_{column}", table_name="outfalls")


def downgrade() -> None:
    for column in DROPPED:
        op.create_index(f"ix_outfalls_{column}", "outfalls", [column], unique=False)
