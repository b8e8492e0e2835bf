"""Outfalls per state, location and day (``area_state_days``), kept from ``outfall_milestones`` by statement
triggers, so national map tiles count outfalls per area without scanning every milestone row. The SQL is the text
``outfalls.progress.statedays`` generates from the state rule, frozen here (a test compares them).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# statedays.state_days_trigger_sql()
TRIGGER_BODY = (
    " BEGIN IF TG_OP = 'INSERT' THEN INSERT INTO area_state_days AS a (day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id, n) SELECT day, state, admin_area_id, basin_id, sub_basin_id, "
    "river_id, sum(n) FROM (SELECT c.day, CASE WHEN (m.merged_on <= c.day) THEN 'merged' WHEN "
    "(m.rejected_on <= c.day) THEN 'rejected' WHEN (m.closed_on <= c.day) THEN 'closed' WHEN "
    "(m.remediated_on <= c.day) THEN 'remediated' WHEN (m.remediating_on <= c.day) THEN 'remediating'"
    " WHEN (m.traced_on <= c.day) THEN 'traced' WHEN (m.surveyed_on <= c.day) THEN 'surveyed' ELSE "
    "'candidate' END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id,"
    " 0), coalesce(m.river_id, 0), 1 FROM new_rows AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day "
    "FROM unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day >= m.found_on UNION ALL "
    "SELECT c.day, CASE WHEN (m.merged_on <= c.day - 1) THEN 'merged' WHEN (m.rejected_on <= c.day - "
    "1) THEN 'rejected' WHEN (m.closed_on <= c.day - 1) THEN 'closed' WHEN (m.remediated_on <= c.day "
    "- 1) THEN 'remediated' WHEN (m.remediating_on <= c.day - 1) THEN 'remediating' WHEN (m.traced_on"
    " <= c.day - 1) THEN 'traced' WHEN (m.surveyed_on <= c.day - 1) THEN 'surveyed' ELSE 'candidate' "
    "END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), -1 FROM new_rows AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM"
    " unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day > m.found_on UNION ALL "
    "SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) THEN 'merged' WHEN "
    "(m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infinity'::date) THEN "
    "'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.remediating_on <= "
    "'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THEN 'traced' WHEN "
    "(m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 FROM new_rows AS m WHERE m.found_on IS NOT NULL) AS x(day, state, "
    "admin_area_id, basin_id, sub_basin_id, river_id, n) GROUP BY day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; ELSIF TG_OP = 'UPDATE' "
    "THEN INSERT INTO area_state_days AS a (day, state, admin_area_id, basin_id, sub_basin_id, "
    "river_id, n) SELECT day, state, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM "
    "(SELECT c.day, CASE WHEN (m.merged_on <= c.day) THEN 'merged' WHEN (m.rejected_on <= c.day) THEN"
    " 'rejected' WHEN (m.closed_on <= c.day) THEN 'closed' WHEN (m.remediated_on <= c.day) THEN "
    "'remediated' WHEN (m.remediating_on <= c.day) THEN 'remediating' WHEN (m.traced_on <= c.day) "
    "THEN 'traced' WHEN (m.surveyed_on <= c.day) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 FROM new_rows AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM "
    "unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day >= m.found_on UNION ALL "
    "SELECT c.day, CASE WHEN (m.merged_on <= c.day - 1) THEN 'merged' WHEN (m.rejected_on <= c.day - "
    "1) THEN 'rejected' WHEN (m.closed_on <= c.day - 1) THEN 'closed' WHEN (m.remediated_on <= c.day "
    "- 1) THEN 'remediated' WHEN (m.remediating_on <= c.day - 1) THEN 'remediating' WHEN (m.traced_on"
    " <= c.day - 1) THEN 'traced' WHEN (m.surveyed_on <= c.day - 1) THEN 'surveyed' ELSE 'candidate' "
    "END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), -1 FROM new_rows AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM"
    " unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day > m.found_on UNION ALL "
    "SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) THEN 'merged' WHEN "
    "(m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infinity'::date) THEN "
    "'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.remediating_on <= "
    "'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THEN 'traced' WHEN "
    "(m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 FROM new_rows AS m WHERE m.found_on IS NOT NULL UNION ALL SELECT "
    "c.day, CASE WHEN (m.merged_on <= c.day) THEN 'merged' WHEN (m.rejected_on <= c.day) THEN "
    "'rejected' WHEN (m.closed_on <= c.day) THEN 'closed' WHEN (m.remediated_on <= c.day) THEN "
    "'remediated' WHEN (m.remediating_on <= c.day) THEN 'remediating' WHEN (m.traced_on <= c.day) "
    "THEN 'traced' WHEN (m.surveyed_on <= c.day) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), -1 FROM old_rows AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM"
    " unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day >= m.found_on UNION ALL "
    "SELECT c.day, CASE WHEN (m.merged_on <= c.day - 1) THEN 'merged' WHEN (m.rejected_on <= c.day - "
    "1) THEN 'rejected' WHEN (m.closed_on <= c.day - 1) THEN 'closed' WHEN (m.remediated_on <= c.day "
    "- 1) THEN 'remediated' WHEN (m.remediating_on <= c.day - 1) THEN 'remediating' WHEN (m.traced_on"
    " <= c.day - 1) THEN 'traced' WHEN (m.surveyed_on <= c.day - 1) THEN 'surveyed' ELSE 'candidate' "
    "END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 FROM old_rows AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM "
    "unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day > m.found_on UNION ALL "
    "SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) THEN 'merged' WHEN "
    "(m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infinity'::date) THEN "
    "'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.remediating_on <= "
    "'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THEN 'traced' WHEN "
    "(m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), -1 FROM old_rows AS m WHERE m.found_on IS NOT NULL) AS x(day, state, "
    "admin_area_id, basin_id, sub_basin_id, river_id, n) GROUP BY day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; ELSE INSERT INTO "
    "area_state_days AS a (day, state, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT "
    "day, state, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM (SELECT c.day, CASE "
    "WHEN (m.merged_on <= c.day) THEN 'merged' WHEN (m.rejected_on <= c.day) THEN 'rejected' WHEN "
    "(m.closed_on <= c.day) THEN 'closed' WHEN (m.remediated_on <= c.day) THEN 'remediated' WHEN "
    "(m.remediating_on <= c.day) THEN 'remediating' WHEN (m.traced_on <= c.day) THEN 'traced' WHEN "
    "(m.surveyed_on <= c.day) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_area_id, 0), "
    "coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 FROM old_rows "
    "AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM unnest(ARRAY[m.found_on, m.merged_on, "
    "m.rejected_on, m.surveyed_on, m.traced_on, m.remediating_on, m.remediated_on, m.closed_on]) AS "
    "d) AS c WHERE c.day >= m.found_on UNION ALL SELECT c.day, CASE WHEN (m.merged_on <= c.day - 1) "
    "THEN 'merged' WHEN (m.rejected_on <= c.day - 1) THEN 'rejected' WHEN (m.closed_on <= c.day - 1) "
    "THEN 'closed' WHEN (m.remediated_on <= c.day - 1) THEN 'remediated' WHEN (m.remediating_on <= "
    "c.day - 1) THEN 'remediating' WHEN (m.traced_on <= c.day - 1) THEN 'traced' WHEN (m.surveyed_on "
    "<= c.day - 1) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_area_id, 0), "
    "coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), 1 FROM old_rows "
    "AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS day FROM unnest(ARRAY[m.found_on, m.merged_on, "
    "m.rejected_on, m.surveyed_on, m.traced_on, m.remediating_on, m.remediated_on, m.closed_on]) AS "
    "d) AS c WHERE c.day > m.found_on UNION ALL SELECT 'infinity'::date, CASE WHEN (m.merged_on <= "
    "'infinity'::date) THEN 'merged' WHEN (m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN "
    "(m.closed_on <= 'infinity'::date) THEN 'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN "
    "'remediated' WHEN (m.remediating_on <= 'infinity'::date) THEN 'remediating' WHEN (m.traced_on <="
    " 'infinity'::date) THEN 'traced' WHEN (m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE "
    "'candidate' END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id,"
    " 0), coalesce(m.river_id, 0), -1 FROM old_rows AS m WHERE m.found_on IS NOT NULL) AS x(day, "
    "state, admin_area_id, basin_id, sub_basin_id, river_id, n) GROUP BY day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; END IF; RETURN NULL; END "
)
# statedays.backfill_sql()
BACKFILL = (
    "INSERT INTO area_state_days AS a (day, state, admin_area_id, basin_id, sub_basin_id, river_id, "
    "n) SELECT day, state, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM (SELECT "
    "c.day, CASE WHEN (m.merged_on <= c.day) THEN 'merged' WHEN (m.rejected_on <= c.day) THEN "
    "'rejected' WHEN (m.closed_on <= c.day) THEN 'closed' WHEN (m.remediated_on <= c.day) THEN "
    "'remediated' WHEN (m.remediating_on <= c.day) THEN 'remediating' WHEN (m.traced_on <= c.day) "
    "THEN 'traced' WHEN (m.surveyed_on <= c.day) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 FROM outfall_milestones AS m CROSS JOIN LATERAL (SELECT DISTINCT d AS"
    " day FROM unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day >= m.found_on UNION ALL "
    "SELECT c.day, CASE WHEN (m.merged_on <= c.day - 1) THEN 'merged' WHEN (m.rejected_on <= c.day - "
    "1) THEN 'rejected' WHEN (m.closed_on <= c.day - 1) THEN 'closed' WHEN (m.remediated_on <= c.day "
    "- 1) THEN 'remediated' WHEN (m.remediating_on <= c.day - 1) THEN 'remediating' WHEN (m.traced_on"
    " <= c.day - 1) THEN 'traced' WHEN (m.surveyed_on <= c.day - 1) THEN 'surveyed' ELSE 'candidate' "
    "END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), -1 FROM outfall_milestones AS m CROSS JOIN LATERAL (SELECT DISTINCT d "
    "AS day FROM unnest(ARRAY[m.found_on, m.merged_on, m.rejected_on, m.surveyed_on, m.traced_on, "
    "m.remediating_on, m.remediated_on, m.closed_on]) AS d) AS c WHERE c.day > m.found_on UNION ALL "
    "SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) THEN 'merged' WHEN "
    "(m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infinity'::date) THEN "
    "'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.remediating_on <= "
    "'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THEN 'traced' WHEN "
    "(m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 FROM outfall_milestones AS m WHERE m.found_on IS NOT NULL) AS x(day, "
    "state, admin_area_id, basin_id, sub_basin_id, river_id, n) GROUP BY day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (day, state, admin_area_id, "
    "basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n"
)
TRIGGERS = (
    ("insert", "INSERT", "NEW TABLE AS new_rows"),
    ("update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("delete", "DELETE", "OLD TABLE AS old_rows"),
)


def upgrade() -> None:
    op.create_table(
        "area_state_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("admin_area_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sub_basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("river_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "state", "admin_area_id", "basin_id", "sub_basin_id", "river_id", name=op.f("pk_area_state_days")
        ),
    )
    op.execute(f"CREATE FUNCTION area_state_days_apply() RETURNS trigger LANGUAGE plpgsql AS $${TRIGGER_BODY}$$")
    for name, event, tables in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER milestones_state_days_{name} AFTER {event} ON outfall_milestones "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION area_state_days_apply()"
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    for name, _event, _tables in TRIGGERS:
        op.execute(f"DROP TRIGGER milestones_state_days_{name} ON outfall_milestones")
    op.execute("DROP FUNCTION area_state_days_apply()")
    op.drop_table("area_state_days")
