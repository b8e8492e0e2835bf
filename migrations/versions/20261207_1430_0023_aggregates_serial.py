"""The per-area counts kept by the triggers (``area_state_days``, ``area_milestone_days``,
``area_milestone_months``) are read without parallel workers: a dashboard's answer reads a few thousand of their
rows, and starting workers for it cost more than the read (progress as of a past day at 10⁵ outfalls: 35 ms
with two workers, 24 ms without). The storage parameter keeps every other table's plans as they are.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("area_state_days", "area_milestone_days", "area_milestone_months")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (parallel_workers = 0)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (parallel_workers)")
