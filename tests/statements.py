"""The SQL statements a piece of code sends: those through SQLAlchemy (on one connection) and those sent straight
to psycopg (``outfalls.db.engine.read_row``: the identity SELECT, the state lookups, tiles), in the order sent. A
prepared statement counts once each time it is executed (as the statement it runs), not when it is prepared.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.sql
import sqlalchemy as sa

from outfalls.db.engine import prepared_body


@contextmanager
def statements_sent(connection: sa.Connection) -> Iterator[list[str]]:
    """A list that fills with the statements sent while the block runs, whitespace collapsed."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    driver_execute = psycopg.Connection.execute

    def sent_by_driver(self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.as_string(self) if isinstance(query, psycopg.sql.Composable) else str(query)
        text = prepared_body(text) or text  # a prepared statement is recorded as the statement it runs
        if not text.startswith("PREPARE "):
            sent.append(" ".join(text.split()))
        return driver_execute(self, query, *args, **kwargs)

    sa.event.listen(connection, "before_cursor_execute", record)
    psycopg.Connection.execute = sent_by_driver  # type: ignore[method-assign,assignment]
    try:
        yield sent
    finally:
        psycopg.Connection.execute = driver_execute  # type: ignore[method-assign]
        sa.event.remove(connection, "before_cursor_execute", record)
