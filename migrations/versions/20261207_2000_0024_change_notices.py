"""A notice on the channel ``outfalls_changed`` (PostgreSQL ``NOTIFY``) at the commit of every transaction that
changed what a map tile shows: the outfalls, their milestones (states as of a day, and the counts per area kept
with them) and the areas, basins and rivers a tile is scoped by. Statement triggers, so a statement of a million
rows sends one notice, and PostgreSQL folds a transaction's identical notices into one, sent only if it commits.
``outfalls.db.notify`` listens, so a process's tile cache learns at once that what it holds is out of date.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "outfalls_changed"  # outfalls.db.notify.CHANNEL
TABLES = ("outfalls", "outfall_milestones", "admin_areas", "basins", "rivers")


def upgrade() -> None:
    op.execute(
        "CREATE FUNCTION outfalls_notify_changed() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    for name in TABLES:
        op.execute(
            f"CREATE TRIGGER {name}_notify_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION outfalls_notify_changed()"
        )


def downgrade() -> None:
    for name in TABLES:
        op.execute(f"DROP TRIGGER {name}_notify_changed ON {name}")
    op.execute("DROP FUNCTION outfalls_notify_changed()")
