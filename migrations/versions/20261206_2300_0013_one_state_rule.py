"""The event → state rule in one place: the stage rank and the milestone trigger are those generated from
``outfalls.catalogue.transitions`` (the same text, frozen here; a test compares the installed functions with
what the table generates, so a change of the rule needs a revision like this one).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# transitions.rank_function_sql()
RANK_BODY = (
    " SELECT CASE kind WHEN 'created' THEN CASE coalesce(payload->>'status', 'surveyed') WHEN 'candid"
    "ate' THEN 0 WHEN 'surveyed' THEN 1 WHEN 'traced' THEN 2 WHEN 'remediating' THEN 3 WHEN 'remediat"
    "ed' THEN 4 WHEN 'closed' THEN 5 END WHEN 'surveyed' THEN 1 WHEN 'traced' THEN 2 WHEN 'remediatio"
    "n_planned' THEN 3 WHEN 'remediated' THEN 4 WHEN 'closed' THEN 5 END "
)
# transitions.milestone_trigger_sql()
TRIGGER_BODY = (
    ' BEGIN INSERT INTO outfall_milestones AS m (outfall_id, basin_id, sub_basin_id, river_id, admin_'
    'area_id, found_on, rejected_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on, r'
    'emediated_on, closed_on) SELECT e.outfall_id, o.basin_id, o.sub_basin_id, o.river_id, o.admin_ar'
    "ea_id, min(e.day) FILTER (WHERE e.kind = 'created') AS found_on, min(e.day) FILTER (WHERE e.kind"
    " IN ('rejected')) AS rejected_on, min(e.day) FILTER (WHERE e.kind IN ('merged')) AS merged_on, m"
    "in(e.day) FILTER (WHERE e.rank >= 1) AS surveyed_on, min(e.day) FILTER (WHERE e.kind = 'sampled'"
    ') AS sampled_on, min(e.day) FILTER (WHERE e.rank >= 2) AS traced_on, min(e.day) FILTER (WHERE e.'
    'rank >= 3) AS remediating_on, min(e.day) FILTER (WHERE e.rank >= 4) AS remediated_on, min(e.day)'
    ' FILTER (WHERE e.rank >= 5) AS closed_on FROM (SELECT outfall_id, kind, (effective_at AT TIME ZO'
    "NE 'UTC')::date AS day, outfall_event_rank(kind, payload) AS rank FROM new_events WHERE kind IN "
    "('created', 'rejected', 'merged', 'sampled') OR outfall_event_rank(kind, payload) IS NOT NULL) e"
    ' JOIN outfalls o ON o.id = e.outfall_id GROUP BY e.outfall_id, o.basin_id, o.sub_basin_id, o.riv'
    'er_id, o.admin_area_id ON CONFLICT (outfall_id) DO UPDATE SET basin_id = EXCLUDED.basin_id, sub_'
    'basin_id = EXCLUDED.sub_basin_id, river_id = EXCLUDED.river_id, admin_area_id = EXCLUDED.admin_a'
    'rea_id, found_on = LEAST(m.found_on, EXCLUDED.found_on), rejected_on = LEAST(m.rejected_on, EXCL'
    'UDED.rejected_on), merged_on = LEAST(m.merged_on, EXCLUDED.merged_on), surveyed_on = LEAST(m.sur'
    'veyed_on, EXCLUDED.surveyed_on), sampled_on = LEAST(m.sampled_on, EXCLUDED.sampled_on), traced_o'
    'n = LEAST(m.traced_on, EXCLUDED.traced_on), remediating_on = LEAST(m.remediating_on, EXCLUDED.re'
    'mediating_on), remediated_on = LEAST(m.remediated_on, EXCLUDED.remediated_on), closed_on = LEAST'
    '(m.closed_on, EXCLUDED.closed_on); UPDATE outfall_milestones m SET merged_on = NULL FROM new_eve'
    "nts e WHERE e.kind = 'split' AND m.outfall_id = e.outfall_id; RETURN NULL; END "
)

_OLD_RANK = (
    'CREATE OR REPLACE FUNCTION outfall_event_rank(kind text, payload jsonb) RETURNS integer\nLANGUAGE'
    " sql IMMUTABLE PARALLEL SAFE AS $$\n  SELECT CASE kind\n    WHEN 'created' THEN CASE COALESCE(payl"
    "oad->>'status', 'surveyed')\n      WHEN 'candidate' THEN 0 WHEN 'surveyed' THEN 1 WHEN 'traced' T"
    "HEN 2 WHEN 'remediating' THEN 3\n      WHEN 'remediated' THEN 4 WHEN 'closed' THEN 5 END\n    WHEN"
    " 'surveyed' THEN 1 WHEN 'traced' THEN 2 WHEN 'remediation_planned' THEN 3\n    WHEN 'remediated' "
    "THEN 4 WHEN 'closed' THEN 5 END\n$$"
)
_OLD_TRIGGER = (
    'CREATE OR REPLACE FUNCTION outfall_milestones_from_events() RETURNS trigger LANGUAGE plpgsql AS '
    '$$ BEGIN INSERT INTO outfall_milestones AS m (outfall_id, basin_id, sub_basin_id, river_id, admi'
    'n_area_id, found_on, rejected_on, merged_on, surveyed_on, sampled_on, traced_on, remediating_on,'
    ' remediated_on, closed_on) SELECT e.outfall_id, o.basin_id, o.sub_basin_id, o.river_id, o.admin_'
    "area_id, min(e.day) FILTER (WHERE e.kind = 'created') AS found_on, min(e.day) FILTER (WHERE e.ki"
    "nd = 'rejected') AS rejected_on, min(e.day) FILTER (WHERE e.kind = 'merged') AS merged_on, min(e"
    ".day) FILTER (WHERE e.rank >= 1) AS surveyed_on, min(e.day) FILTER (WHERE e.kind = 'sampled') AS"
    ' sampled_on, min(e.day) FILTER (WHERE e.rank >= 2) AS traced_on, min(e.day) FILTER (WHERE e.rank'
    ' >= 3) AS remediating_on, min(e.day) FILTER (WHERE e.rank >= 4) AS remediated_on, min(e.day) FIL'
    "TER (WHERE e.rank >= 5) AS closed_on FROM (SELECT outfall_id, kind, (effective_at AT TIME ZONE '"
    "UTC')::date AS day, outfall_event_rank(kind, payload) AS rank FROM new_events WHERE kind IN ('cr"
    "eated', 'rejected', 'merged', 'sampled') OR outfall_event_rank(kind, payload) IS NOT NULL) e JOI"
    'N outfalls o ON o.id = e.outfall_id GROUP BY e.outfall_id, o.basin_id, o.sub_basin_id, o.river_i'
    'd, o.admin_area_id ON CONFLICT (outfall_id) DO UPDATE SET basin_id = EXCLUDED.basin_id, sub_basi'
    'n_id = EXCLUDED.sub_basin_id, river_id = EXCLUDED.river_id, admin_area_id = EXCLUDED.admin_area_'
    'id, found_on = LEAST(m.found_on, EXCLUDED.found_on), rejected_on = LEAST(m.rejected_on, EXCLUDED'
    '.rejected_on), merged_on = LEAST(m.merged_on, EXCLUDED.merged_on), surveyed_on = LEAST(m.surveye'
    'd_on, EXCLUDED.surveyed_on), sampled_on = LEAST(m.sampled_on, EXCLUDED.sampled_on), traced_on = '
    'LEAST(m.traced_on, EXCLUDED.traced_on), remediating_on = LEAST(m.remediating_on, EXCLUDED.remedi'
    'ating_on), remediated_on = LEAST(m.remediated_on, EXCLUDED.remediated_on), closed_on = LEAST(m.c'
    'losed_on, EXCLUDED.closed_on);UPDATE outfall_milestones m SET merged_on = NULL FROM new_events e'
    " WHERE e.kind = 'split' AND m.outfall_id = e.outfall_id; RETURN NULL; END $$"
)


def upgrade() -> None:
    op.execute("CREATE OR REPLACE FUNCTION outfall_event_rank(kind text, payload jsonb) RETURNS integer "
               "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$" + RANK_BODY + "$$")
    op.execute("CREATE OR REPLACE FUNCTION outfall_milestones_from_events() RETURNS trigger LANGUAGE plpgsql AS $$"
               + TRIGGER_BODY + "$$")


def downgrade() -> None:
    op.execute(_OLD_RANK)
    op.execute(_OLD_TRIGGER)
