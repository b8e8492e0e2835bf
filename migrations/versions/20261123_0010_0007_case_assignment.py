"""Case assignment: the officer and deadline of an outfall's case, and the outfall version after each event.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 00:07:14.891332
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('events', sa.Column('outfall_version', sa.Integer(), nullable=True))
    op.add_column('outfalls', sa.Column('assigned_to', sa.String(length=64), nullable=True))
    op.add_column('outfalls', sa.Column('case_deadline', sa.Date(), nullable=True))
    op.create_index(op.f('ix_outfalls_assigned_to'), 'outfalls', ['assigned_to'], unique=False)
    op.create_index(op.f('ix_outfalls_case_deadline'), 'outfalls', ['case_deadline'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_outfalls_case_deadline'), table_name='outfalls')
    op.drop_index(op.f('ix_outfalls_assigned_to'), table_name='outfalls')
    op.drop_column('outfalls', 'case_deadline')
    op.drop_column('outfalls', 'assigned_to')
    op.drop_column('events', 'outfall_version')
