"""The indexes on ``outfalls``: every one is paid for by every outfall written, so only those some query plan uses
are kept (migration 0020)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def test_outfalls_keep_only_the_indexes_queries_use(session: Session) -> None:
    query = text("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'outfalls'::regclass")
    names = set(session.scalars(query))
    assert names == {
        "pk_outfalls", "uq_outfalls_national_code", "uq_outfalls_public_ref",  # constraints
        "idx_outfalls_geom",  # map, bbox and spatial queries
        "ix_outfalls_basin_id", "ix_outfalls_sub_basin_id", "ix_outfalls_admin_area_id",  # basin, area, scope
        "ix_outfalls_status", "ix_outfalls_found_by",  # counts of a state or of a rare kind of discovery
        "ix_outfalls_local_code",  # is a local code taken
        "ix_outfalls_assigned_to",  # an officer's cases
    }  # fmt: skip
