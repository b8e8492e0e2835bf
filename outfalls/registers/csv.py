"""CSV registers: ``COPY`` straight from PostgreSQL, behind a BOM so that Excel reads the Chinese."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from outfalls.registers.files import Progress
from outfalls.registers.query import RegisterQuery, no_jit, raw_connection


def write_csv(session: Session, query: RegisterQuery, path: Path, note: Progress) -> int:
    """UTF-8 with a BOM (so Excel reads the Chinese), comma-separated, a header of field names, ISO dates."""
    rows = 0
    raw = raw_connection(session)
    with path.open("wb") as out, no_jit(raw), raw.cursor() as cursor:
        out.write("\ufeff".encode())
        with cursor.copy(f"COPY ({query.sql}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy:
            for block in copy:
                data = bytes(block)
                out.write(data)
                rows += data.count(b"\n")
                note("writing", max(0, rows - 1), query.upper_bound)
    return max(0, rows - 1)
