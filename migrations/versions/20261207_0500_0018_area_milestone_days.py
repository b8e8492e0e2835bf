"""Progress counts per metric, location and day (``area_milestone_days``) and per month (``area_milestone_months``),
kept from ``outfall_milestones`` by statement triggers, so progress as of a date, the monthly trend and the first day
read aggregate rows instead of scanning every milestone row. The SQL is the text ``outfalls.progress.milestonedays``
generates, frozen here (a test compares them); the upgrade fills both tables from the milestones already there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# milestonedays.milestone_days_trigger_sql()
TRIGGER_BODY = (
    " BEGIN IF TG_OP = 'INSERT' THEN WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, n) AS (SELECT CASE WHEN t.total THEN 'infinity'::date ELSE x.day END, x.metric, "
    "coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 * x.n FROM new_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, "
    "'found', 1), (m.found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL "
    "THEN greatest(m.found_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN "
    "m.surveyed_on IS NOT NULL THEN greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE "
    "WHEN m.surveyed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.surveyed_on, least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), "
    "(CASE WHEN m.sampled_on IS NOT NULL THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), "
    "(CASE WHEN m.sampled_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.sampled_on, least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE"
    " WHEN m.traced_on IS NOT NULL THEN greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE "
    "WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE "
    "WHEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediating_on) END, "
    "'remediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m.merged_on)"
    " IS NOT NULL THEN greatest(m.found_on, m.remediating_on, least(m.rejected_on, m.merged_on)) END,"
    " 'remediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on, "
    "m.remediated_on) END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT NULL AND "
    "least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediated_on, "
    "least(m.rejected_on, m.merged_on)) END, 'remediated', -1), (CASE WHEN m.closed_on IS NOT NULL "
    "THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.closed_on IS NOT NULL AND"
    " least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.closed_on, "
    "least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metric, n) CROSS JOIN (VALUES "
    "(false), (true)) AS t(total) WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL), d AS (INSERT "
    "INTO area_milestone_days AS a (day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) "
    "SELECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM x GROUP BY day,"
    " metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (day, "
    "metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n) "
    "INSERT INTO area_milestone_months AS a (month, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, n) SELECT date_trunc('month', day::timestamp)::date, metric, admin_area_id, basin_id, "
    "sub_basin_id, river_id, sum(n) FROM x WHERE day < 'infinity'::date GROUP BY date_trunc('month', "
    "day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> "
    "0 ON CONFLICT (month, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n ="
    " a.n + EXCLUDED.n; ELSIF TG_OP = 'UPDATE' THEN WITH x(day, metric, admin_area_id, basin_id, "
    "sub_basin_id, river_id, n) AS (SELECT CASE WHEN t.total THEN 'infinity'::date ELSE x.day END, "
    "x.metric, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), "
    "coalesce(m.river_id, 0), 1 * x.n FROM new_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, "
    "'found', 1), (m.found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL "
    "THEN greatest(m.found_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN "
    "m.surveyed_on IS NOT NULL THEN greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE "
    "WHEN m.surveyed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.surveyed_on, least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), "
    "(CASE WHEN m.sampled_on IS NOT NULL THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), "
    "(CASE WHEN m.sampled_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.sampled_on, least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE"
    " WHEN m.traced_on IS NOT NULL THEN greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE "
    "WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE "
    "WHEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediating_on) END, "
    "'remediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m.merged_on)"
    " IS NOT NULL THEN greatest(m.found_on, m.remediating_on, least(m.rejected_on, m.merged_on)) END,"
    " 'remediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on, "
    "m.remediated_on) END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT NULL AND "
    "least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediated_on, "
    "least(m.rejected_on, m.merged_on)) END, 'remediated', -1), (CASE WHEN m.closed_on IS NOT NULL "
    "THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.closed_on IS NOT NULL AND"
    " least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.closed_on, "
    "least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metric, n) CROSS JOIN (VALUES "
    "(false), (true)) AS t(total) WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL UNION ALL SELECT"
    " CASE WHEN t.total THEN 'infinity'::date ELSE x.day END, x.metric, coalesce(m.admin_area_id, 0),"
    " coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 * x.n FROM "
    "old_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m.found_on, 'live', 1), "
    "(CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, "
    "least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN "
    "greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL "
    "AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on, "
    "least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL "
    "THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL "
    "AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, "
    "least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN "
    "greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND "
    "least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, "
    "least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL "
    "THEN greatest(m.found_on, m.remediating_on) END, 'remediating', 1), (CASE WHEN m.remediating_on "
    "IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, "
    "m.remediating_on, least(m.rejected_on, m.merged_on)) END, 'remediating', -1), (CASE WHEN "
    "m.remediated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) END, 'remediated', 1), "
    "(CASE WHEN m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'remediated', -1),"
    " (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), "
    "(CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS "
    "x(day, metric, n) CROSS JOIN (VALUES (false), (true)) AS t(total) WHERE m.found_on IS NOT NULL "
    "AND x.day IS NOT NULL), d AS (INSERT INTO area_milestone_days AS a (day, metric, admin_area_id, "
    "basin_id, sub_basin_id, river_id, n) SELECT day, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, sum(n) FROM x GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id "
    "HAVING sum(n) <> 0 ON CONFLICT (day, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO"
    " UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_months AS a (month, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('month', "
    "day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM x "
    "WHERE day < 'infinity'::date GROUP BY date_trunc('month', day::timestamp)::date, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (month, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; ELSE WITH "
    "x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) AS (SELECT CASE WHEN t.total "
    "THEN 'infinity'::date ELSE x.day END, x.metric, coalesce(m.admin_area_id, 0), "
    "coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 * x.n FROM "
    "old_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m.found_on, 'live', 1), "
    "(CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, "
    "least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN "
    "greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL "
    "AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on, "
    "least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL "
    "THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL "
    "AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, "
    "least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN "
    "greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND "
    "least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, "
    "least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL "
    "THEN greatest(m.found_on, m.remediating_on) END, 'remediating', 1), (CASE WHEN m.remediating_on "
    "IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, "
    "m.remediating_on, least(m.rejected_on, m.merged_on)) END, 'remediating', -1), (CASE WHEN "
    "m.remediated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) END, 'remediated', 1), "
    "(CASE WHEN m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'remediated', -1),"
    " (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), "
    "(CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS "
    "x(day, metric, n) CROSS JOIN (VALUES (false), (true)) AS t(total) WHERE m.found_on IS NOT NULL "
    "AND x.day IS NOT NULL), d AS (INSERT INTO area_milestone_days AS a (day, metric, admin_area_id, "
    "basin_id, sub_basin_id, river_id, n) SELECT day, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, sum(n) FROM x GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id "
    "HAVING sum(n) <> 0 ON CONFLICT (day, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO"
    " UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_months AS a (month, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('month', "
    "day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM x "
    "WHERE day < 'infinity'::date GROUP BY date_trunc('month', day::timestamp)::date, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (month, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; END IF; "
    "RETURN NULL; END "
)
# milestonedays.backfill_sql()
BACKFILL = (
    "WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) AS (SELECT CASE WHEN "
    "t.total THEN 'infinity'::date ELSE x.day END, x.metric, coalesce(m.admin_area_id, 0), "
    "coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), 1 * x.n FROM "
    "outfall_milestones AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m.found_on, "
    "'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, "
    "least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN "
    "greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL "
    "AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on, "
    "least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL "
    "THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL "
    "AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, "
    "least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN "
    "greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND "
    "least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, "
    "least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL "
    "THEN greatest(m.found_on, m.remediating_on) END, 'remediating', 1), (CASE WHEN m.remediating_on "
    "IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, "
    "m.remediating_on, least(m.rejected_on, m.merged_on)) END, 'remediating', -1), (CASE WHEN "
    "m.remediated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) END, 'remediated', 1), "
    "(CASE WHEN m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'remediated', -1),"
    " (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), "
    "(CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN "
    "greatest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS "
    "x(day, metric, n) CROSS JOIN (VALUES (false), (true)) AS t(total) WHERE m.found_on IS NOT NULL "
    "AND x.day IS NOT NULL), d AS (INSERT INTO area_milestone_days AS a (day, metric, admin_area_id, "
    "basin_id, sub_basin_id, river_id, n) SELECT day, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, sum(n) FROM x GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id "
    "HAVING sum(n) <> 0 ON CONFLICT (day, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO"
    " UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_months AS a (month, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('month', "
    "day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM x "
    "WHERE day < 'infinity'::date GROUP BY date_trunc('month', day::timestamp)::date, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ON CONFLICT (month, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n"
)
TRIGGERS = (
    ("insert", "INSERT", "NEW TABLE AS new_rows"),
    ("update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("delete", "DELETE", "OLD TABLE AS old_rows"),
)


def upgrade() -> None:
    op.create_table(
        "area_milestone_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("admin_area_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sub_basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("river_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day",
            "metric",
            "admin_area_id",
            "basin_id",
            "sub_basin_id",
            "river_id",
            name=op.f("pk_area_milestone_days"),
        ),
    )
    op.create_table(
        "area_milestone_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("admin_area_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sub_basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("river_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "metric",
            "admin_area_id",
            "basin_id",
            "sub_basin_id",
            "river_id",
            name=op.f("pk_area_milestone_months"),
        ),
    )
    op.execute(f"CREATE FUNCTION area_milestone_days_apply() RETURNS trigger LANGUAGE plpgsql AS $${TRIGGER_BODY}$$")
    for name, event, tables in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER milestones_milestone_days_{name} AFTER {event} ON outfall_milestones "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION area_milestone_days_apply()"
        )
    op.execute(BACKFILL)
    op.execute("ANALYZE area_milestone_days")
    op.execute("ANALYZE area_milestone_months")


def downgrade() -> None:
    for name, _event, _tables in TRIGGERS:
        op.execute(f"DROP TRIGGER milestones_milestone_days_{name} ON outfall_milestones")
    op.execute("DROP FUNCTION area_milestone_days_apply()")
    op.drop_table("area_milestone_months")
    op.drop_table("area_milestone_days")
