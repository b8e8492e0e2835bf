"""Milestones follow a split (a duplicate merged by mistake counts again) and skip events that move none.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("found_on", "rejected_on", "merged_on", "surveyed_on", "sampled_on", "traced_on", "remediating_on",
            "remediated_on", "closed_on")  # fmt: skip


def _function(relevant_only: bool) -> str:
    where = (
        " WHERE kind IN ('created', 'rejected', 'merged', 'sampled') OR outfall_event_rank(kind, payload) IS NOT NULL"
        if relevant_only
        else ""
    )
    aggregate = (
        "SELECT e.outfall_id, o.basin_id, o.sub_basin_id, o.river_id, o.admin_area_id, "
        "min(e.day) FILTER (WHERE e.kind = 'created') AS found_on, "
        "min(e.day) FILTER (WHERE e.kind = 'rejected') AS rejected_on, "
        "min(e.day) FILTER (WHERE e.kind = 'merged') AS merged_on, "
        "min(e.day) FILTER (WHERE e.rank >= 1) AS surveyed_on, "
        "min(e.day) FILTER (WHERE e.kind = 'sampled') AS sampled_on, "
        "min(e.day) FILTER (WHERE e.rank >= 2) AS traced_on, "
        "min(e.day) FILTER (WHERE e.rank >= 3) AS remediating_on, "
        "min(e.day) FILTER (WHERE e.rank >= 4) AS remediated_on, "
        "min(e.day) FILTER (WHERE e.rank >= 5) AS closed_on "
        "FROM (SELECT outfall_id, kind, (effective_at AT TIME ZONE 'UTC')::date AS day, "
        f"outfall_event_rank(kind, payload) AS rank FROM new_events{where}) e "
        "JOIN outfalls o ON o.id = e.outfall_id "
        "GROUP BY e.outfall_id, o.basin_id, o.sub_basin_id, o.river_id, o.admin_area_id"
    )
    upsert = (
        "INSERT INTO outfall_milestones AS m (outfall_id, basin_id, sub_basin_id, river_id, admin_area_id, "
        + ", ".join(_COLUMNS)
        + ") "
        + aggregate
        + " ON CONFLICT (outfall_id) DO UPDATE SET basin_id = EXCLUDED.basin_id, sub_basin_id = EXCLUDED.sub_basin_id, "
        "river_id = EXCLUDED.river_id, admin_area_id = EXCLUDED.admin_area_id, "
        + ", ".join(f"{c} = LEAST(m.{c}, EXCLUDED.{c})" for c in _COLUMNS)
    )
    split = (
        # a split undoes a merge: the outfall counts again (from then on it is no longer merged)
        "UPDATE outfall_milestones m SET merged_on = NULL FROM new_events e "
        "WHERE e.kind = 'split' AND m.outfall_id = e.outfall_id"
        if relevant_only
        else ""
    )
    body = upsert + ";" + (split + ";" if split else "")
    return (
        "CREATE OR REPLACE FUNCTION outfall_milestones_from_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        + body
        + " RETURN NULL; END $$"
    )


def upgrade() -> None:
    op.execute(_function(relevant_only=True))
    # outfalls split off before this revision: they count again
    op.execute(
        "UPDATE outfall_milestones m SET merged_on = NULL WHERE EXISTS (SELECT 1 FROM events e WHERE "
        "e.outfall_id = m.outfall_id AND e.kind = 'split' AND e.id > (SELECT max(x.id) FROM events x WHERE "
        "x.outfall_id = m.outfall_id AND x.kind = 'merged'))"
    )


def downgrade() -> None:
    op.execute(_function(relevant_only=False))
