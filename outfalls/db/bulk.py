"""Bulk writes: rows streamed into a table with COPY on the session's own transaction (tens of times faster than
INSERTs for an import of 10^5 outfalls, and rolled back with everything else).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy.orm import Session


def copy_rows(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Stream ``rows`` into ``table`` with COPY on the session's transaction; a key missing from a row is NULL."""
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([copy_value(row.get(c)) for c in columns])


def copy_value(value: Any) -> Any:
    """A Python value as COPY takes it (enums by value, dicts as JSONB)."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return Jsonb(value)
    return value


