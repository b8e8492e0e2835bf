"""CSV registers: ``COPY`` straight from PostgreSQL, behind a BOM so that Excel reads the Chinese, with text that
a spreadsheet would run as a formula neutralised in the same statement (``outfalls.registers.formulas``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from outfalls.registers.columns import COLUMNS
from outfalls.registers.files import Progress
from outfalls.registers.formulas import neutralise_sql
from outfalls.registers.query import RegisterQuery, raw_connection


def csv_sql(query: RegisterQuery) -> str:
    """The register's statement with every text column neutralised; numbers and dates as they are. The
    register's own ``ORDER BY`` (inside a statement with CTEs, which PostgreSQL never flattens) sets the order.
    """
    columns = ", ".join(
        f"{neutralise_sql('r.' + c.name)} AS {c.name}" if c.kind == "str" else f"r.{c.name}" for c in COLUMNS
    )
    return f"SELECT {columns} FROM ({query.sql}) r"


def write_csv(session: Session, query: RegisterQuery, path: Path, note: Progress) -> int:
    """UTF-8 with a BOM (so Excel reads the Chinese), comma-separated, a header of field names, ISO dates; text
    starting like a formula has a single quote in front.
    """
    rows = 0
    raw = raw_connection(session)
    with path.open("wb") as out, raw.cursor() as cursor:
        out.write("\ufeff".encode())
        with cursor.copy(f"COPY ({csv_sql(query)}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy:
            for block in copy:
                data = bytes(block)
                out.write(data)
                rows += data.count(b"\n")
                note("writing", max(0, rows - 1), query.upper_bound)
    return max(0, rows - 1)
