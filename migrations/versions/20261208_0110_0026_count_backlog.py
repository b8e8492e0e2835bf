"""The backlog of the counts per area and day: a statement writing at least ``outfalls.count_backlog_rows``
milestone rows (10,000 unless set) leaves them, signed, in ``milestone_count_backlog`` instead of upserting the
counts in its own transaction, so a bulk import holds no lock on the busy current counts of every location while it
runs; ``outfalls.progress.backlog.fold`` adds them after its commit in short transactions, and readers count the
milestones while any row waits. The trigger bodies are the text ``outfalls.progress.statedays`` and
``outfalls.progress.milestonedays`` generate, frozen here (tests compare them).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 01:10:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTING = "outfalls.count_backlog_rows"  # outfalls.progress.backlog.SETTING
DEFAULT_ROWS = 10_000
LATER = (
    "SELECT rows >= coalesce(nullif(current_setting('" + SETTING + "', true), '')::bigint, " + str(DEFAULT_ROWS) + ")"
)

# statedays.backlog_trigger_sql()
BACKLOG_BODY = (
    " BEGIN IF TG_OP = 'INSERT' THEN IF outfalls_counts_later((SELECT count(*) FROM new_rows)) THEN I"
    "NSERT INTO milestone_count_backlog (sign, admin_area_id, basin_id, sub_basin_id, river_id, found"
    "_on, rejected_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on, remediated_on, "
    "closed_on) SELECT 1, admin_area_id, basin_id, sub_basin_id, river_id, found_on, rejected_on, mer"
    "ged_on, surveyed_on, sampled_on, traced_on, remediating_on, remediated_on, closed_on FROM new_ro"
    "ws; END IF; ELSIF TG_OP = 'UPDATE' THEN IF outfalls_counts_later((SELECT count(*) FROM new_rows)"
    ") THEN INSERT INTO milestone_count_backlog (sign, admin_area_id, basin_id, sub_basin_id, river_i"
    "d, found_on, rejected_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on, remedia"
    "ted_on, closed_on) SELECT -1, admin_area_id, basin_id, sub_basin_id, river_id, found_on, rejecte"
    "d_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on, remediated_on, closed_on FR"
    "OM old_rows UNION ALL SELECT 1, admin_area_id, basin_id, sub_basin_id, river_id, found_on, rejec"
    "ted_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on, remediated_on, closed_on "
    "FROM new_rows; END IF; ELSE IF outfalls_counts_later((SELECT count(*) FROM old_rows)) THEN INSER"
    "T INTO milestone_count_backlog (sign, admin_area_id, basin_id, sub_basin_id, river_id, found_on,"
    " rejected_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on, remediated_on, clos"
    "ed_on) SELECT -1, admin_area_id, basin_id, sub_basin_id, river_id, found_on, rejected_on, merged"
    "_on, surveyed_on, sampled_on, traced_on, remediating_on, remediated_on, closed_on FROM old_rows;"
    " END IF; END IF; RETURN NULL; END "
)
# statedays.state_days_trigger_sql()
STATE_DAYS_BODY = (
    " BEGIN IF TG_OP = 'INSERT' THEN IF NOT outfalls_counts_later((SELECT count(*) FROM new_rows)) TH"
    "EN INSERT INTO area_state_days AS a (day, state, admin_area_id, basin_id, sub_basin_id, river_id"
    ", n) SELECT day, state, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM (SELECT c.d"
    "ay, CASE WHEN (m.merged_on <= s.at) THEN 'merged' WHEN (m.rejected_on <= s.at) THEN 'rejected' W"
    "HEN (m.closed_on <= s.at) THEN 'closed' WHEN (m.remediated_on <= s.at) THEN 'remediated' WHEN (m"
    ".remediating_on <= s.at) THEN 'remediating' WHEN (m.traced_on <= s.at) THEN 'traced' WHEN (m.sur"
    "veyed_on <= s.at) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_area_id, 0), coalesce(m"
    ".basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), 1 * s.n FROM new_rows AS m "
    "CROSS JOIN LATERAL (VALUES (m.found_on, true), (m.merged_on, m.merged_on IS DISTINCT FROM m.foun"
    "d_on), (m.rejected_on, m.rejected_on IS DISTINCT FROM m.found_on AND m.rejected_on IS DISTINCT F"
    "ROM m.merged_on), (m.surveyed_on, m.surveyed_on IS DISTINCT FROM m.found_on AND m.surveyed_on IS"
    " DISTINCT FROM m.merged_on AND m.surveyed_on IS DISTINCT FROM m.rejected_on), (m.traced_on, m.tr"
    "aced_on IS DISTINCT FROM m.found_on AND m.traced_on IS DISTINCT FROM m.merged_on AND m.traced_on"
    " IS DISTINCT FROM m.rejected_on AND m.traced_on IS DISTINCT FROM m.surveyed_on), (m.remediating_"
    "on, m.remediating_on IS DISTINCT FROM m.found_on AND m.remediating_on IS DISTINCT FROM m.merged_"
    "on AND m.remediating_on IS DISTINCT FROM m.rejected_on AND m.remediating_on IS DISTINCT FROM m.s"
    "urveyed_on AND m.remediating_on IS DISTINCT FROM m.traced_on), (m.remediated_on, m.remediated_on"
    " IS DISTINCT FROM m.found_on AND m.remediated_on IS DISTINCT FROM m.merged_on AND m.remediated_o"
    "n IS DISTINCT FROM m.rejected_on AND m.remediated_on IS DISTINCT FROM m.surveyed_on AND m.remedi"
    "ated_on IS DISTINCT FROM m.traced_on AND m.remediated_on IS DISTINCT FROM m.remediating_on), (m."
    "closed_on, m.closed_on IS DISTINCT FROM m.found_on AND m.closed_on IS DISTINCT FROM m.merged_on "
    "AND m.closed_on IS DISTINCT FROM m.rejected_on AND m.closed_on IS DISTINCT FROM m.surveyed_on AN"
    "D m.closed_on IS DISTINCT FROM m.traced_on AND m.closed_on IS DISTINCT FROM m.remediating_on AND"
    " m.closed_on IS DISTINCT FROM m.remediated_on)) AS c(day, first) CROSS JOIN LATERAL (VALUES (c.d"
    "ay, 1), (c.day - 1, -1)) AS s(at, n) WHERE c.first AND c.day >= m.found_on AND (s.n = 1 OR c.day"
    " > m.found_on) UNION ALL SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) TH"
    "EN 'merged' WHEN (m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infin"
    "ity'::date) THEN 'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.r"
    "emediating_on <= 'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THE"
    "N 'traced' WHEN (m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, coales"
    "ce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_i"
    "d, 0), 1 FROM new_rows AS m WHERE m.found_on IS NOT NULL) AS x(day, state, admin_area_id, basin_"
    "id, sub_basin_id, river_id, n) GROUP BY day, state, admin_area_id, basin_id, sub_basin_id, river"
    "_id HAVING sum(n) <> 0 ORDER BY day, state, admin_area_id, basin_id, sub_basin_id, river_id ON C"
    "ONFLICT (day, state, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EX"
    "CLUDED.n; END IF; ELSIF TG_OP = 'UPDATE' THEN IF NOT outfalls_counts_later((SELECT count(*) FROM"
    " new_rows)) THEN INSERT INTO area_state_days AS a (day, state, admin_area_id, basin_id, sub_basi"
    "n_id, river_id, n) SELECT day, state, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FR"
    "OM (SELECT c.day, CASE WHEN (m.merged_on <= s.at) THEN 'merged' WHEN (m.rejected_on <= s.at) THE"
    "N 'rejected' WHEN (m.closed_on <= s.at) THEN 'closed' WHEN (m.remediated_on <= s.at) THEN 'remed"
    "iated' WHEN (m.remediating_on <= s.at) THEN 'remediating' WHEN (m.traced_on <= s.at) THEN 'trace"
    "d' WHEN (m.surveyed_on <= s.at) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_area_id, "
    "0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), 1 * s.n FROM "
    "new_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, true), (m.merged_on, m.merged_on IS DISTIN"
    "CT FROM m.found_on), (m.rejected_on, m.rejected_on IS DISTINCT FROM m.found_on AND m.rejected_on"
    " IS DISTINCT FROM m.merged_on), (m.surveyed_on, m.surveyed_on IS DISTINCT FROM m.found_on AND m."
    "surveyed_on IS DISTINCT FROM m.merged_on AND m.surveyed_on IS DISTINCT FROM m.rejected_on), (m.t"
    "raced_on, m.traced_on IS DISTINCT FROM m.found_on AND m.traced_on IS DISTINCT FROM m.merged_on A"
    "ND m.traced_on IS DISTINCT FROM m.rejected_on AND m.traced_on IS DISTINCT FROM m.surveyed_on), ("
    "m.remediating_on, m.remediating_on IS DISTINCT FROM m.found_on AND m.remediating_on IS DISTINCT "
    "FROM m.merged_on AND m.remediating_on IS DISTINCT FROM m.rejected_on AND m.remediating_on IS DIS"
    "TINCT FROM m.surveyed_on AND m.remediating_on IS DISTINCT FROM m.traced_on), (m.remediated_on, m"
    ".remediated_on IS DISTINCT FROM m.found_on AND m.remediated_on IS DISTINCT FROM m.merged_on AND "
    "m.remediated_on IS DISTINCT FROM m.rejected_on AND m.remediated_on IS DISTINCT FROM m.surveyed_o"
    "n AND m.remediated_on IS DISTINCT FROM m.traced_on AND m.remediated_on IS DISTINCT FROM m.remedi"
    "ating_on), (m.closed_on, m.closed_on IS DISTINCT FROM m.found_on AND m.closed_on IS DISTINCT FRO"
    "M m.merged_on AND m.closed_on IS DISTINCT FROM m.rejected_on AND m.closed_on IS DISTINCT FROM m."
    "surveyed_on AND m.closed_on IS DISTINCT FROM m.traced_on AND m.closed_on IS DISTINCT FROM m.reme"
    "diating_on AND m.closed_on IS DISTINCT FROM m.remediated_on)) AS c(day, first) CROSS JOIN LATERA"
    "L (VALUES (c.day, 1), (c.day - 1, -1)) AS s(at, n) WHERE c.first AND c.day >= m.found_on AND (s."
    "n = 1 OR c.day > m.found_on) UNION ALL SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infin"
    "ity'::date) THEN 'merged' WHEN (m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.close"
    "d_on <= 'infinity'::date) THEN 'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remedia"
    "ted' WHEN (m.remediating_on <= 'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infini"
    "ty'::date) THEN 'traced' WHEN (m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidat"
    "e' END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coal"
    "esce(m.river_id, 0), 1 FROM new_rows AS m WHERE m.found_on IS NOT NULL UNION ALL SELECT c.day, C"
    "ASE WHEN (m.merged_on <= s.at) THEN 'merged' WHEN (m.rejected_on <= s.at) THEN 'rejected' WHEN ("
    "m.closed_on <= s.at) THEN 'closed' WHEN (m.remediated_on <= s.at) THEN 'remediated' WHEN (m.reme"
    "diating_on <= s.at) THEN 'remediating' WHEN (m.traced_on <= s.at) THEN 'traced' WHEN (m.surveyed"
    "_on <= s.at) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_area_id, 0), coalesce(m.basi"
    "n_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 * s.n FROM old_rows AS m CROS"
    "S JOIN LATERAL (VALUES (m.found_on, true), (m.merged_on, m.merged_on IS DISTINCT FROM m.found_on"
    "), (m.rejected_on, m.rejected_on IS DISTINCT FROM m.found_on AND m.rejected_on IS DISTINCT FROM "
    "m.merged_on), (m.surveyed_on, m.surveyed_on IS DISTINCT FROM m.found_on AND m.surveyed_on IS DIS"
    "TINCT FROM m.merged_on AND m.surveyed_on IS DISTINCT FROM m.rejected_on), (m.traced_on, m.traced"
    "_on IS DISTINCT FROM m.found_on AND m.traced_on IS DISTINCT FROM m.merged_on AND m.traced_on IS "
    "DISTINCT FROM m.rejected_on AND m.traced_on IS DISTINCT FROM m.surveyed_on), (m.remediating_on, "
    "m.remediating_on IS DISTINCT FROM m.found_on AND m.remediating_on IS DISTINCT FROM m.merged_on A"
    "ND m.remediating_on IS DISTINCT FROM m.rejected_on AND m.remediating_on IS DISTINCT FROM m.surve"
    "yed_on AND m.remediating_on IS DISTINCT FROM m.traced_on), (m.remediated_on, m.remediated_on IS "
    "DISTINCT FROM m.found_on AND m.remediated_on IS DISTINCT FROM m.merged_on AND m.remediated_on IS"
    " DISTINCT FROM m.rejected_on AND m.remediated_on IS DISTINCT FROM m.surveyed_on AND m.remediated"
    "_on IS DISTINCT FROM m.traced_on AND m.remediated_on IS DISTINCT FROM m.remediating_on), (m.clos"
    "ed_on, m.closed_on IS DISTINCT FROM m.found_on AND m.closed_on IS DISTINCT FROM m.merged_on AND "
    "m.closed_on IS DISTINCT FROM m.rejected_on AND m.closed_on IS DISTINCT FROM m.surveyed_on AND m."
    "closed_on IS DISTINCT FROM m.traced_on AND m.closed_on IS DISTINCT FROM m.remediating_on AND m.c"
    "losed_on IS DISTINCT FROM m.remediated_on)) AS c(day, first) CROSS JOIN LATERAL (VALUES (c.day, "
    "1), (c.day - 1, -1)) AS s(at, n) WHERE c.first AND c.day >= m.found_on AND (s.n = 1 OR c.day > m"
    ".found_on) UNION ALL SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) THEN '"
    "merged' WHEN (m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infinity'"
    "::date) THEN 'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.remed"
    "iating_on <= 'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THEN 't"
    "raced' WHEN (m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, coalesce(m"
    ".admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0"
    "), -1 FROM old_rows AS m WHERE m.found_on IS NOT NULL) AS x(day, state, admin_area_id, basin_id,"
    " sub_basin_id, river_id, n) GROUP BY day, state, admin_area_id, basin_id, sub_basin_id, river_id"
    " HAVING sum(n) <> 0 ORDER BY day, state, admin_area_id, basin_id, sub_basin_id, river_id ON CONF"
    "LICT (day, state, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLU"
    "DED.n; END IF; ELSE IF NOT outfalls_counts_later((SELECT count(*) FROM old_rows)) THEN INSERT IN"
    "TO area_state_days AS a (day, state, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT "
    "day, state, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM (SELECT c.day, CASE WHE"
    "N (m.merged_on <= s.at) THEN 'merged' WHEN (m.rejected_on <= s.at) THEN 'rejected' WHEN (m.close"
    "d_on <= s.at) THEN 'closed' WHEN (m.remediated_on <= s.at) THEN 'remediated' WHEN (m.remediating"
    "_on <= s.at) THEN 'remediating' WHEN (m.traced_on <= s.at) THEN 'traced' WHEN (m.surveyed_on <= "
    "s.at) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0"
    "), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 * s.n FROM old_rows AS m CROSS JOIN "
    "LATERAL (VALUES (m.found_on, true), (m.merged_on, m.merged_on IS DISTINCT FROM m.found_on), (m.r"
    "ejected_on, m.rejected_on IS DISTINCT FROM m.found_on AND m.rejected_on IS DISTINCT FROM m.merge"
    "d_on), (m.surveyed_on, m.surveyed_on IS DISTINCT FROM m.found_on AND m.surveyed_on IS DISTINCT F"
    "ROM m.merged_on AND m.surveyed_on IS DISTINCT FROM m.rejected_on), (m.traced_on, m.traced_on IS "
    "DISTINCT FROM m.found_on AND m.traced_on IS DISTINCT FROM m.merged_on AND m.traced_on IS DISTINC"
    "T FROM m.rejected_on AND m.traced_on IS DISTINCT FROM m.surveyed_on), (m.remediating_on, m.remed"
    "iating_on IS DISTINCT FROM m.found_on AND m.remediating_on IS DISTINCT FROM m.merged_on AND m.re"
    "mediating_on IS DISTINCT FROM m.rejected_on AND m.remediating_on IS DISTINCT FROM m.surveyed_on "
    "AND m.remediating_on IS DISTINCT FROM m.traced_on), (m.remediated_on, m.remediated_on IS DISTINC"
    "T FROM m.found_on AND m.remediated_on IS DISTINCT FROM m.merged_on AND m.remediated_on IS DISTIN"
    "CT FROM m.rejected_on AND m.remediated_on IS DISTINCT FROM m.surveyed_on AND m.remediated_on IS "
    "DISTINCT FROM m.traced_on AND m.remediated_on IS DISTINCT FROM m.remediating_on), (m.closed_on, "
    "m.closed_on IS DISTINCT FROM m.found_on AND m.closed_on IS DISTINCT FROM m.merged_on AND m.close"
    "d_on IS DISTINCT FROM m.rejected_on AND m.closed_on IS DISTINCT FROM m.surveyed_on AND m.closed_"
    "on IS DISTINCT FROM m.traced_on AND m.closed_on IS DISTINCT FROM m.remediating_on AND m.closed_o"
    "n IS DISTINCT FROM m.remediated_on)) AS c(day, first) CROSS JOIN LATERAL (VALUES (c.day, 1), (c."
    "day - 1, -1)) AS s(at, n) WHERE c.first AND c.day >= m.found_on AND (s.n = 1 OR c.day > m.found_"
    "on) UNION ALL SELECT 'infinity'::date, CASE WHEN (m.merged_on <= 'infinity'::date) THEN 'merged'"
    " WHEN (m.rejected_on <= 'infinity'::date) THEN 'rejected' WHEN (m.closed_on <= 'infinity'::date)"
    " THEN 'closed' WHEN (m.remediated_on <= 'infinity'::date) THEN 'remediated' WHEN (m.remediating_"
    "on <= 'infinity'::date) THEN 'remediating' WHEN (m.traced_on <= 'infinity'::date) THEN 'traced' "
    "WHEN (m.surveyed_on <= 'infinity'::date) THEN 'surveyed' ELSE 'candidate' END, coalesce(m.admin_"
    "area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 F"
    "ROM old_rows AS m WHERE m.found_on IS NOT NULL) AS x(day, state, admin_area_id, basin_id, sub_ba"
    "sin_id, river_id, n) GROUP BY day, state, admin_area_id, basin_id, sub_basin_id, river_id HAVING"
    " sum(n) <> 0 ORDER BY day, state, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (d"
    "ay, state, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; "
    "END IF; END IF; RETURN NULL; END "
)
# milestonedays.milestone_days_trigger_sql()
MILESTONE_DAYS_BODY = (
    " BEGIN IF TG_OP = 'INSERT' THEN IF NOT outfalls_counts_later((SELECT count(*) FROM new_rows)) TH"
    "EN WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) AS (SELECT x.day, x.m"
    "etric, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coale"
    "sce(m.river_id, 0), 1 * x.n FROM new_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', "
    "1), (m.found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN great"
    "est(m.found_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS"
    " NOT NULL THEN greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on"
    " IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surve"
    "yed_on, least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT "
    "NULL THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT "
    "NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, l"
    "east(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN g"
    "reatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND least"
    "(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, least(m.rejected"
    "_on, m.merged_on)) END, 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL THEN greatest(m.f"
    "ound_on, m.remediating_on) END, 'remediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND l"
    "east(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediating_on, least(m"
    ".rejected_on, m.merged_on)) END, 'remediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN"
    " greatest(m.found_on, m.remediated_on) END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT "
    "NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediated_on"
    ", least(m.rejected_on, m.merged_on)) END, 'remediated', -1), (CASE WHEN m.closed_on IS NOT NULL "
    "THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.closed_on IS NOT NULL AND"
    " least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.closed_on, least(m.re"
    "jected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metric, n) WHERE m.found_on IS NOT NULL A"
    "ND x.day IS NOT NULL), g AS (SELECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id"
    ", sum(n)::integer AS n FROM x GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river"
    "_id), d AS (INSERT INTO area_milestone_days AS a (day, metric, admin_area_id, basin_id, sub_basi"
    "n_id, river_id, n) SELECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n FROM g"
    " WHERE n <> 0 UNION ALL SELECT 'infinity'::date, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, sum(n) FROM g GROUP BY metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING "
    "sum(n) <> 0 ORDER BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (d"
    "ay, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n)"
    ", mo AS (INSERT INTO area_milestone_months AS a (month, metric, admin_area_id, basin_id, sub_bas"
    "in_id, river_id, n) SELECT date_trunc('month', day::timestamp)::date, metric, admin_area_id, bas"
    "in_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('month', day::timestamp)::date,"
    " metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, "
    "admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (month, metric, admin_area_id, basin"
    "_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_year"
    "s AS a (year, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('yea"
    "r', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM "
    "g GROUP BY date_trunc('year', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_"
    "id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, admin_area_id, basin_id, sub_basin_id, river"
    "_id ON CONFLICT (year, metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n "
    "= a.n + EXCLUDED.n; END IF; ELSIF TG_OP = 'UPDATE' THEN IF NOT outfalls_counts_later((SELECT cou"
    "nt(*) FROM new_rows)) THEN WITH x(day, metric, admin_area_id, basin_id, sub_basin_id, river_id, "
    "n) AS (SELECT x.day, x.metric, coalesce(m.admin_area_id, 0), coalesce(m.basin_id, 0), coalesce(m"
    ".sub_basin_id, 0), coalesce(m.river_id, 0), 1 * x.n FROM new_rows AS m CROSS JOIN LATERAL (VALUE"
    "S (m.found_on, 'found', 1), (m.found_on, 'live', 1), (CASE WHEN least(m.rejected_on, m.merged_on"
    ") IS NOT NULL THEN greatest(m.found_on, least(m.rejected_on, m.merged_on)) END, 'live', -1), (CA"
    "SE WHEN m.surveyed_on IS NOT NULL THEN greatest(m.found_on, m.surveyed_on) END, 'surveyed', 1), "
    "(CASE WHEN m.surveyed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN grea"
    "test(m.found_on, m.surveyed_on, least(m.rejected_on, m.merged_on)) END, 'surveyed', -1), (CASE W"
    "HEN m.sampled_on IS NOT NULL THEN greatest(m.found_on, m.sampled_on) END, 'sampled', 1), (CASE W"
    "HEN m.sampled_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.f"
    "ound_on, m.sampled_on, least(m.rejected_on, m.merged_on)) END, 'sampled', -1), (CASE WHEN m.trac"
    "ed_on IS NOT NULL THEN greatest(m.found_on, m.traced_on) END, 'traced', 1), (CASE WHEN m.traced_"
    "on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.tra"
    "ced_on, least(m.rejected_on, m.merged_on)) END, 'traced', -1), (CASE WHEN m.remediating_on IS NO"
    "T NULL THEN greatest(m.found_on, m.remediating_on) END, 'remediating', 1), (CASE WHEN m.remediat"
    "ing_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m"
    ".remediating_on, least(m.rejected_on, m.merged_on)) END, 'remediating', -1), (CASE WHEN m.remedi"
    "ated_on IS NOT NULL THEN greatest(m.found_on, m.remediated_on) END, 'remediated', 1), (CASE WHEN"
    " m.remediated_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.f"
    "ound_on, m.remediated_on, least(m.rejected_on, m.merged_on)) END, 'remediated', -1), (CASE WHEN "
    "m.closed_on IS NOT NULL THEN greatest(m.found_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.c"
    "losed_on IS NOT NULL AND least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on,"
    " m.closed_on, least(m.rejected_on, m.merged_on)) END, 'closed', -1)) AS x(day, metric, n) WHERE "
    "m.found_on IS NOT NULL AND x.day IS NOT NULL UNION ALL SELECT x.day, x.metric, coalesce(m.admin_"
    "area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1 *"
    " x.n FROM old_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m.found_on, 'live'"
    ", 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, least(m"
    ".rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN greatest"
    "(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL AND least("
    "m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on, least(m.rejecte"
    "d_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL THEN greatest(m.fo"
    "und_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL AND least(m.reject"
    "ed_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, least(m.rejected_on, m.m"
    "erged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN greatest(m.found_on, m.t"
    "raced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.merge"
    "d_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) END,"
    " 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediating_"
    "on) END, 'remediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m.m"
    "erged_on) IS NOT NULL THEN greatest(m.found_on, m.remediating_on, least(m.rejected_on, m.merged_"
    "on)) END, 'remediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on, m"
    ".remediated_on) END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT NULL AND least(m.reject"
    "ed_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediated_on, least(m.rejected_on, "
    "m.merged_on)) END, 'remediated', -1), (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found_o"
    "n, m.closed_on) END, 'closed', 1), (CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on, m"
    ".merged_on) IS NOT NULL THEN greatest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_on)"
    ") END, 'closed', -1)) AS x(day, metric, n) WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL), "
    "g AS (SELECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n)::integer AS n "
    "FROM x GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id), d AS (INSERT INTO"
    " area_milestone_days AS a (day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) SELE"
    "CT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n FROM g WHERE n <> 0 UNION ALL"
    " SELECT 'infinity'::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g"
    " GROUP BY metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY da"
    "y, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (day, metric, admin_area_"
    "id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n), mo AS (INSERT INTO ar"
    "ea_milestone_months AS a (month, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) SEL"
    "ECT date_trunc('month', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, ri"
    "ver_id, sum(n) FROM g GROUP BY date_trunc('month', day::timestamp)::date, metric, admin_area_id,"
    " basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, admin_area_id, basin_id"
    ", sub_basin_id, river_id ON CONFLICT (month, metric, admin_area_id, basin_id, sub_basin_id, rive"
    "r_id) DO UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_years AS a (year, metric, a"
    "dmin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('year', day::timestamp)::da"
    "te, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc('"
    "year', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum"
    "(n) <> 0 ORDER BY 1, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (year, "
    "metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; END"
    " IF; ELSE IF NOT outfalls_counts_later((SELECT count(*) FROM old_rows)) THEN WITH x(day, metric,"
    " admin_area_id, basin_id, sub_basin_id, river_id, n) AS (SELECT x.day, x.metric, coalesce(m.admi"
    "n_area_id, 0), coalesce(m.basin_id, 0), coalesce(m.sub_basin_id, 0), coalesce(m.river_id, 0), -1"
    " * x.n FROM old_rows AS m CROSS JOIN LATERAL (VALUES (m.found_on, 'found', 1), (m.found_on, 'liv"
    "e', 1), (CASE WHEN least(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, least"
    "(m.rejected_on, m.merged_on)) END, 'live', -1), (CASE WHEN m.surveyed_on IS NOT NULL THEN greate"
    "st(m.found_on, m.surveyed_on) END, 'surveyed', 1), (CASE WHEN m.surveyed_on IS NOT NULL AND leas"
    "t(m.rejected_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.surveyed_on, least(m.rejec"
    "ted_on, m.merged_on)) END, 'surveyed', -1), (CASE WHEN m.sampled_on IS NOT NULL THEN greatest(m."
    "found_on, m.sampled_on) END, 'sampled', 1), (CASE WHEN m.sampled_on IS NOT NULL AND least(m.reje"
    "cted_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.sampled_on, least(m.rejected_on, m"
    ".merged_on)) END, 'sampled', -1), (CASE WHEN m.traced_on IS NOT NULL THEN greatest(m.found_on, m"
    ".traced_on) END, 'traced', 1), (CASE WHEN m.traced_on IS NOT NULL AND least(m.rejected_on, m.mer"
    "ged_on) IS NOT NULL THEN greatest(m.found_on, m.traced_on, least(m.rejected_on, m.merged_on)) EN"
    "D, 'traced', -1), (CASE WHEN m.remediating_on IS NOT NULL THEN greatest(m.found_on, m.remediatin"
    "g_on) END, 'remediating', 1), (CASE WHEN m.remediating_on IS NOT NULL AND least(m.rejected_on, m"
    ".merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediating_on, least(m.rejected_on, m.merge"
    "d_on)) END, 'remediating', -1), (CASE WHEN m.remediated_on IS NOT NULL THEN greatest(m.found_on,"
    " m.remediated_on) END, 'remediated', 1), (CASE WHEN m.remediated_on IS NOT NULL AND least(m.reje"
    "cted_on, m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.remediated_on, least(m.rejected_on"
    ", m.merged_on)) END, 'remediated', -1), (CASE WHEN m.closed_on IS NOT NULL THEN greatest(m.found"
    "_on, m.closed_on) END, 'closed', 1), (CASE WHEN m.closed_on IS NOT NULL AND least(m.rejected_on,"
    " m.merged_on) IS NOT NULL THEN greatest(m.found_on, m.closed_on, least(m.rejected_on, m.merged_o"
    "n)) END, 'closed', -1)) AS x(day, metric, n) WHERE m.found_on IS NOT NULL AND x.day IS NOT NULL)"
    ", g AS (SELECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n)::integer AS "
    "n FROM x GROUP BY day, metric, admin_area_id, basin_id, sub_basin_id, river_id), d AS (INSERT IN"
    "TO area_milestone_days AS a (day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) SE"
    "LECT day, metric, admin_area_id, basin_id, sub_basin_id, river_id, n FROM g WHERE n <> 0 UNION A"
    "LL SELECT 'infinity'::date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM"
    " g GROUP BY metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY "
    "day, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (day, metric, admin_are"
    "a_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n), mo AS (INSERT INTO "
    "area_milestone_months AS a (month, metric, admin_area_id, basin_id, sub_basin_id, river_id, n) S"
    "ELECT date_trunc('month', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, "
    "river_id, sum(n) FROM g GROUP BY date_trunc('month', day::timestamp)::date, metric, admin_area_i"
    "d, basin_id, sub_basin_id, river_id HAVING sum(n) <> 0 ORDER BY 1, metric, admin_area_id, basin_"
    "id, sub_basin_id, river_id ON CONFLICT (month, metric, admin_area_id, basin_id, sub_basin_id, ri"
    "ver_id) DO UPDATE SET n = a.n + EXCLUDED.n) INSERT INTO area_milestone_years AS a (year, metric,"
    " admin_area_id, basin_id, sub_basin_id, river_id, n) SELECT date_trunc('year', day::timestamp)::"
    "date, metric, admin_area_id, basin_id, sub_basin_id, river_id, sum(n) FROM g GROUP BY date_trunc"
    "('year', day::timestamp)::date, metric, admin_area_id, basin_id, sub_basin_id, river_id HAVING s"
    "um(n) <> 0 ORDER BY 1, metric, admin_area_id, basin_id, sub_basin_id, river_id ON CONFLICT (year"
    ", metric, admin_area_id, basin_id, sub_basin_id, river_id) DO UPDATE SET n = a.n + EXCLUDED.n; E"
    "ND IF; END IF; RETURN NULL; END "
)

COUNT_TABLES = ("area_state_days", "area_milestone_days", "area_milestone_months", "area_milestone_years")
DATES = ("found_on", "rejected_on", "merged_on", "surveyed_on", "sampled_on", "traced_on", "remediating_on",
         "remediated_on", "closed_on")  # fmt: skip


def _revision(filename: str) -> ModuleType:
    """A frozen earlier revision of this folder, for the function bodies a downgrade puts back."""
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), Path(__file__).with_name(filename))
    if spec is None or spec.loader is None:
        raise ImportError(filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _install(state_days: str, milestone_days: str) -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION area_state_days_apply() RETURNS trigger LANGUAGE plpgsql AS $${state_days}$$"
    )
    op.execute(
        f"CREATE OR REPLACE FUNCTION area_milestone_days_apply() RETURNS trigger LANGUAGE plpgsql AS $${milestone_days}$$"
    )


def upgrade() -> None:
    op.create_table(
        "milestone_count_backlog",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.Column("admin_area_id", sa.Integer(), nullable=True),
        sa.Column("basin_id", sa.Integer(), nullable=True),
        sa.Column("sub_basin_id", sa.Integer(), nullable=True),
        sa.Column("river_id", sa.Integer(), nullable=True),
        *(sa.Column(d, sa.Date(), nullable=True) for d in DATES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestone_count_backlog")),
    )
    op.execute(f"CREATE FUNCTION outfalls_counts_later(rows bigint) RETURNS boolean LANGUAGE sql STABLE AS $${LATER}$$")
    op.execute(f"CREATE FUNCTION milestone_count_backlog_add() RETURNS trigger LANGUAGE plpgsql AS $${BACKLOG_BODY}$$")
    for name, event, tables in (("insert", "INSERT", "NEW TABLE AS new_rows"),
                                ("update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                                ("delete", "DELETE", "OLD TABLE AS old_rows")):  # fmt: skip
        op.execute(
            f"CREATE TRIGGER milestones_count_backlog_{name} AFTER {event} ON outfall_milestones "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION milestone_count_backlog_add()"
        )
    # a commit that left rows here is told to the process (and the listeners): it folds them (topic ``counts``)
    op.execute("CREATE TRIGGER milestone_count_backlog_counts_changed AFTER INSERT ON milestone_count_backlog "
               "FOR EACH STATEMENT EXECUTE FUNCTION outfalls_changed('counts')")  # fmt: skip
    _install(STATE_DAYS_BODY, MILESTONE_DAYS_BODY)


def downgrade() -> None:
    _install(_revision("20261207_1430_0023_set_based_counts.py").STATE_DAYS_BODY,
             _revision("20261207_2210_0025_milestone_years.py").MILESTONE_DAYS_BODY)  # fmt: skip
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER milestones_count_backlog_{name} ON outfall_milestones")
    op.execute("DROP TRIGGER milestone_count_backlog_counts_changed ON milestone_count_backlog")
    op.execute("DROP FUNCTION milestone_count_backlog_add()")
    op.execute("DROP FUNCTION outfalls_counts_later(bigint)")
    # rows still waiting: the counts are computed again from every milestone, as their revisions filled them
    if op.get_bind().execute(sa.text("SELECT EXISTS (SELECT 1 FROM milestone_count_backlog)")).scalar():
        op.execute("LOCK TABLE outfall_milestones IN SHARE ROW EXCLUSIVE MODE")
        op.execute(f"TRUNCATE {', '.join(COUNT_TABLES)}")
        op.execute(_revision("20261207_0300_0017_area_state_days.py").BACKFILL)
        op.execute(_revision("20261207_0500_0018_area_milestone_days.py").BACKFILL)
        op.execute(_revision("20261207_2210_0025_milestone_years.py").BACKFILL)
    op.drop_table("milestone_count_backlog")
