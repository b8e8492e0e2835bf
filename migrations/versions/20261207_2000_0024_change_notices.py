"""Notices that what caches hold changed: at the commit of a transaction that changed what a map tile shows (topic
``catalogue``: the outfalls, their milestones, the areas, basins and rivers tiles are scoped by) or who a login
or API token is (topic ``identity``: sessions ended or moved, tokens revoked, users disabled or renamed, their
roles and scopes), PostgreSQL sends ``NOTIFY outfalls_changed, '<topic>'``; nothing for a transaction that rolls
back. ``outfalls.db.notify`` listens. The transaction's topics are also kept in the transaction-local setting
``outfalls.changed``, so the process that commits knows at its commit what it changed.

Statement triggers: a statement of a million rows costs one call, and a topic is noted once per transaction. A
session seen (``last_seen_at``) or a token used (``last_used_at``) is no change of identity: those columns are left
out of the ``UPDATE OF`` lists, so the minute-by-minute marks of active users empty no cache.

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
SETTING = "outfalls.changed"  # outfalls.db.notify.SETTING
# (trigger name, table, events, topic)
TRIGGERS = (
    *((f"{t}_catalogue_changed", t, "INSERT OR UPDATE OR DELETE OR TRUNCATE", "catalogue")
      for t in ("outfalls", "outfall_milestones", "admin_areas", "basins", "rivers")),
    *((f"{t}_identity_changed", t, "INSERT OR UPDATE OR DELETE OR TRUNCATE", "identity")
      for t in ("user_roles", "user_scopes")),
    ("users_identity_changed", "users", "UPDATE OF login, display_name, is_active, is_national OR DELETE OR TRUNCATE",
     "identity"),
    ("web_sessions_identity_changed", "web_sessions", "UPDATE OF id, user_id, csrf_token, expires_at OR DELETE "
     "OR TRUNCATE", "identity"),
    ("api_tokens_identity_changed", "api_tokens", "UPDATE OF user_id, token_hash, expires_at, revoked_at OR DELETE "
     "OR TRUNCATE", "identity"),
    ("admin_areas_identity_changed", "admin_areas", "UPDATE OF code OR DELETE OR TRUNCATE", "identity"),
    ("basins_identity_changed", "basins", "UPDATE OF code OR DELETE OR TRUNCATE", "identity"),
)  # fmt: skip

FUNCTION = f"""
DECLARE
    topic text := TG_ARGV[0];
    noted text := coalesce(current_setting('{SETTING}', true), '');
BEGIN
    IF strpos(noted || ',', ',' || topic || ',') = 0 THEN
        PERFORM set_config('{SETTING}', noted || ',' || topic, true);
        PERFORM pg_notify('{CHANNEL}', topic);
    END IF;
    RETURN NULL;
END
"""


def upgrade() -> None:
    op.execute(f"CREATE FUNCTION outfalls_changed() RETURNS trigger LANGUAGE plpgsql AS $${FUNCTION}$$")
    for name, table, events, topic in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} AFTER {events} ON {table} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION outfalls_changed('{topic}')")  # fmt: skip


def downgrade() -> None:
    for name, table, _events, _topic in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION outfalls_changed()")
