"""Review clusters: rows of one upload that may be the same outfall are queued as a group a reviewer decides at
once (all separate outfalls, one outfall, or all linked to one outfall).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("review_items", sa.Column("cluster_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_review_items_cluster_id"), "review_items", ["cluster_id"], unique=False)
    # Items queued before, for another row of their upload nearby, keep being decided one by one.


def downgrade() -> None:
    op.drop_index(op.f("ix_review_items_cluster_id"), table_name="review_items")
    op.drop_column("review_items", "cluster_id")
