"""Progress counts by year (``area_milestone_years``): the changes of ``area_milestone_days`` summed by year, kept
by the same trigger as the days and the months. Progress as of a past day subtracts from the current count the
years after the day's year, then the months after its month within its year, then the days after it within its
month: a few rows per location and year instead of one per location and month since. The table is filled from
the months already kept (the same sums); the trigger's SQL is the text ``outfalls.progress.milestonedays``
generates, frozen here (a test compares them).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 22:10:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCATION = "admin_area_id, basin_id, sub_basin_id, river_id"
BACKFILL = (
    f"INSERT INTO area_milestone_years (year, metric, {LOCATION}, n) "
    f"SELECT date_trunc('year', month::timestamp)::date, metric, {LOCATION}, sum(n) FROM area_milestone_months "
    f"GROUP BY 1, metric, {LOCATION} HAVING sum(n) <> 0 ORDER BY 1, metric, {LOCATION}"
)
# milestonedays.milestone_days_trigger_sql()
MILESTONE_DAYS_BODY = (
    " BEGIN IF TG_OP = 'INSERT' THEN WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id,"
    ' n) AS (SELECT x.day, x.metric, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.su'
    'b_basin_id, 0), coalesce(m.river_id, 0), 1 * x.n FROM new_rows AS m CROSS JOIN LATERAL (VALUES (m.fo'
    "und_on, 'found', 1), (m.found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NU"
    "LL THEN greatest(m.found_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surve"
    "yed_on IS NOT NULL THEN greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.survey"
    'ed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surv'
    "eyed_on, least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NUL"
    "L THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL AN"
    'D least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, least(m.reje'
    "cted_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN greatest(m.found"
    "_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.m"
    'erged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) END,'
    " 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediating_on) "
    "END, 'remediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m.merged_on"
    ") IS NOT NULL THEN greatest(m.found_on, m.remediating_on, least(m.rejected_on, m.merged_on)) END, 'r"
    "emediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) "
    "END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) "
    "IS NOT NULL THEN greatest(m.found_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'reme"
    "diated', -1), (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed"
    "', 1), (CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN gre"
    "atest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metr"
    'ic, n) WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL), g AS (SELECT day, metric, admin_area_id,'
    ' basin_id, sub_basin_id, river_id, sum(n)::integer AS n FROM x GROUP BY day, metric, admin_area_id, '
    'basin_id, sub_basin_id, river_id), d AS (INSERT INTO area_milestone_days AS a (day, metric, admin_ar'
    'ea_id, basin_id, sub_basin_id, river_id, n) SELECT day, metric, admin_area_id, basin_id, sub_basin_i'
    "d, river_id, n FROM g WHERE n <> 0 UNION ALL SELECT 'infinity'::date, metric, admin_area_id, basin_i"
    'd, sub_basin_id, river_id, sum(n) FROM g GROUP BY metric, admin_area_id, basin_id, sub_basin_id, riv'
    'er_id HAVING sum(n) <> 0 ORDER BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CO'
    'NFLICT (day, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUD'
    'ED.n), mo AS (INSERT INTO area_milestone_months AS a (month, metric, admin_area_id, basin_id, sub_ba'
    "sin_id, river_id, n) SELECT date_trunc('month', day::timestamp)::date, metric, admin_area_id, basin_"
    "id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('month', day::timestamp)::date, metric"
    ', admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, admin_area_'
    'id, basin_id, sub_basin_id, river_id ON CONFLICT (month, metric, admin_area_id, basin_id, sub_basin_'
    'id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_years AS a (year, metri'
    "c, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('year', day::timestamp)::da"
    "te, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('year"
    "', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0"
    ' ORDER BY 1, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (year, metric, admi'
    "n_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; ELSIF TG_OP = 'UPDA"
    "TE' THEN WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) AS (SELECT x.day, x"
    '.metric, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesc'
    "e(m.river_id, 0), 1 * x.n FROM new_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m"
    ".found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.foun"
    "d_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN"
    " greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL AND l"
    'east(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on, least(m.reject'
    "ed_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL THEN greatest(m.found"
    "_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL AND least(m.rejected_on, "
    'm.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, least(m.rejected_on, m.merged_on)) '
    "END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN greatest(m.found_on, m.traced_on) END, "
    "'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL T"
    "HEN greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE W"
    "HEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediating_on) END, 'remediating', 1),"
    ' (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN grea'
    "test(m.found_on, m.remediating_on, least(m.rejected_on, m.merged_on)) END, 'remediating', -1), (CASE"
    " WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) END, 'remediated', 1), "
    '(CASE WHEN m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greate'
    "st(m.found_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'remediated', -1), (CASE WHE"
    "N m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.clo"
    'sed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.clo'
    "sed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metric, n) WHERE m.found_on"
    ' IS NOT NULL AND x.day IS NOT NULL UNION ALL SELECT x.day, x.metric, coalesce(m.admin_area_id, 0), c'
    'oalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 * x.n FROM old_rows'
    " AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m.found_on, 'live', 1), (CASE WHEN least"
    '(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, least(m.rejected_on, m.merged_on)'
    ") END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN greatest(m.found_on, m.surveyed_on) EN"
    "D, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT"
    " NULL THEN greatest(m.found_on, m.surveyed_on, least(m.rejected_on, m.merged_on)) END, 'surveyed', -"
    "1), (CASE WHEN m.sampled_on IS NOT NULL THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), "
    '(CASE WHEN m.sampled_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest('
    "m.found_on, m.sampled_on, least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.trace"
    "d_on IS NOT NULL THEN greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS"
    ' NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, l'
    "east(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL THEN g"
    "reatest(m.found_on, m.remediating_on) END, 'remediating', 1), (CASE WHEN m.remediating_on IS NOT NUL"
    'L AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediating_on, leas'
    "t(m.rejected_on, m.merged_on)) END, 'remediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN "
    "greatest(m.found_on, m.remediated_on) END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT NULL "
    'AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediated_on, least(m'
    ".rejected_on, m.merged_on)) END, 'remediated', -1), (CASE WHEN m.closed_on IS NOT NULL THEN greatest"
    "(m.found_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected"
    '_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_o'
    "n)) END, 'closed', -1)) AS x(day, metric, n) WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL), g "
    'AS (SELECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n)::integer AS n FROM x'
    ' GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id), d AS (INSERT INTO area_mile'
    'stone_days AS a (day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT day, metric'
    ", admin_area_id, basin_id, sub_basin_id, river_id, n FROM g WHERE n <> 0 UNION ALL SELECT 'infinity'"
    '::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY metric, admi'
    'n_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY day, metric, admin_area_id, '
    'basin_id, sub_basin_id, river_id ON CONFLICT (day, metric, admin_area_id, basin_id, sub_basin_id, ri'
    'ver_id) DO UPDATE SET n = a.n + EXCLUDED.n), mo AS (INSERT INTO area_milestone_months AS a (month, m'
    "etric, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('month', day::timestamp"
    ')::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('
    "'month', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n"
    ') <> 0 ORDER BY 1, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (month, metri'
    'c, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO '
    'area_milestone_years AS a (year, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT '
    "date_trunc('year', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, s"
    "um(n) FROM g GROUP BY date_trunc('year', day::timestamp)::date, metric, admin_area_id, basin_id, sub"
    '_basin_id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, admin_area_id, basin_id, sub_basin_id, ri'
    'ver_id ON CONFLICT (year, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n ='
    ' a.n + EXCLUDED.n; ELSE WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) AS ('
    'SELECT x.day, x.metric, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_'
    'id, 0), coalesce(m.river_id, 0), -1 * x.n FROM old_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on,'
    " 'found', 1), (m.found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN"
    " greatest(m.found_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on "
    "IS NOT NULL THEN greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on I"
    'S NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on'
    ", least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL THEN "
    "greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL AND least"
    '(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, least(m.rejected_on'
    ", m.merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN greatest(m.found_on, m."
    "traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.merged_o"
    "n) IS NOT NULL THEN greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) END, 'trace"
    "d', -1), (CASE WHEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediating_on) END, 'r"
    "emediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NO"
    "T NULL THEN greatest(m.found_on, m.remediating_on, least(m.rejected_on, m.merged_on)) END, 'remediat"
    "ing', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) END, 'r"
    "emediated', 1), (CASE WHEN m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT "
    "NULL THEN greatest(m.found_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'remediated'"
    ", -1), (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), "
    '(CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m'
    ".found_on, m.closed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metric, n) "
    'WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL), g AS (SELECT day, metric, admin_area_id, basin_'
    'id, sub_basin_id, river_id, sum(n)::integer AS n FROM x GROUP BY day, metric, admin_area_id, basin_i'
    'd, sub_basin_id, river_id), d AS (INSERT INTO area_milestone_days AS a (day, metric, admin_area_id, '
    'basin_id, sub_basin_id, river_id, n) SELECT day, metric, admin_area_id, basin_id, sub_basin_id, rive'
    "r_id, n FROM g WHERE n <> 0 UNION ALL SELECT 'infinity'::date, metric, admin_area_id, basin_id, sub_"
    'basin_id, river_id, sum(n) FROM g GROUP BY metric, admin_area_id, basin_id, sub_basin_id, river_id H'
    'AVING sum(n) <> 0 ORDER BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT '
    '(day, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n), '
    'mo AS (INSERT INTO area_milestone_months AS a (month, metric, admin_area_id, basin_id, sub_basin_id,'
    " river_id, n) SELECT date_trunc('month', day::timestamp)::date, metric, admin_area_id, basin_id, sub"
    "_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('month', day::timestamp)::date, metric, admin"
    '_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, admin_area_id, bas'
    'in_id, sub_basin_id, river_id ON CONFLICT (month, metric, admin_area_id, basin_id, sub_basin_id, riv'
    'er_id) DO UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_years AS a (year, metric, admi'
    "n_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('year', day::timestamp)::date, met"
    "ric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('year', day:"
    ':timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER '
    'BY 1, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (year, metric, admin_area_'
    'id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; END IF; RETURN NULL; END '
)


def _revision(filename: str) -> ModuleType:
    """A frozen earlier revision of this folder, for the function body a downgrade puts back."""
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), Path(__file__).with_name(filename))
    if spec is None or spec.loader is None:
        raise ImportError(filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _install(milestone_days: str) -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION area_milestone_days_apply() RETURNS trigger LANGUAGE plpgsql AS $${milestone_days}$$"
    )


def upgrade() -> None:
    op.create_table(
        "area_milestone_years",
        sa.Column("year", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("admin_area_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sub_basin_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("river_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "year", "metric", "admin_area_id", "basin_id", "sub_basin_id", "river_id",
            name=op.f("pk_area_milestone_years"),
        ),
    )  # fmt: skip
    # the table is filled in the same transaction as the trigger starts keeping it: no change falls between
    op.execute("LOCK TABLE outfall_milestones IN SHARE ROW EXCLUSIVE MODE")
    op.execute(BACKFILL)
    op.execute("ANALYZE area_milestone_years")  # planned with its real size from the first read on
    _install(MILESTONE_DAYS_BODY)


def downgrade() -> None:
    _install(_revision("20261207_1430_0023_set_based_counts.py").MILESTONE_DAYS_BODY)
    op.drop_table("area_milestone_years")
