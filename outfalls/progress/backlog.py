"""The backlog of the counts per area and day (revision 0026): a statement writing at least
``outfalls.count_backlog_rows`` milestone rows (10,000 unless the setting says otherwise) leaves them, signed, in
``milestone_count_backlog`` instead of upserting the counts of ``area_state_days`` and ``area_milestone_days`` (and
its months and years) in its own transaction.

Why: a bulk import touches the current count of nearly every location. Upserted in the importing transaction, those
rows stay locked until it commits, and every event recorded meanwhile in the same places waits for the whole import
(minutes at a national scale); the import also pays for the counts before its outfalls can be seen. Folded
afterwards, in transactions of ``FOLD_BATCH`` rows, the counts are locked a second or two at a time.

Nothing read is ever behind: while a row waits, the readers (``days_conditions``, ``state_days_conditions``) count
the milestones themselves, as they do for a scope the counts cannot answer. A commit that filled the backlog
starts the fold in a thread of the committing process (the commit hook of ``outfalls.db.notify``); the command
line folds in the foreground, with progress, and ``outfalls serve`` folds what a stopped process left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from outfalls.db import notify
from outfalls.progress import milestonedays, statedays
from outfalls.progress.statedays import BACKLOG_COLUMNS

log = logging.getLogger(__name__)

FOLD_BATCH = 50_000  # backlog rows folded per transaction: a second or two of locks on the busy counts
SETTING = "outfalls.count_backlog_rows"  # read by outfalls_counts_later() (revision 0026)
_BATCH_TABLE = "count_backlog_batch"
_COLUMNS = ", ".join(("id", "sign", *BACKLOG_COLUMNS))
_NEW_BATCH = (
    f"CREATE TEMPORARY TABLE {_BATCH_TABLE} ON COMMIT DROP AS SELECT {_COLUMNS} FROM milestone_count_backlog "
    "WITH NO DATA"
)
# The oldest rows no other fold holds, moved into this transaction's batch: two folds never take the same row.
_TAKE = (
    f"WITH taken AS (DELETE FROM milestone_count_backlog WHERE id IN (SELECT id FROM milestone_count_backlog "
    f"ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}) "
    f"INSERT INTO {_BATCH_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM taken"
)


def _signed(changes: Callable[[str, int], str]) -> str:
    """The changes of the batch's rows: those of the new rows added, those of the old rows taken away."""
    return (
        changes(f"(SELECT * FROM {_BATCH_TABLE} WHERE sign = 1)", 1)
        + " UNION ALL "
        + changes(f"(SELECT * FROM {_BATCH_TABLE} WHERE sign = -1)", -1)
    )


_FOLD = (statedays.upsert_sql(_signed(statedays.changes_sql)),
         milestonedays.upsert_sql(_signed(milestonedays.changes_sql)))  # fmt: skip


def waiting(session: Session) -> int:
    """How many milestone rows wait in the backlog."""
    return int(session.scalar(text("SELECT count(*) FROM milestone_count_backlog")) or 0)


def fold(session: Session, *, batch: int = FOLD_BATCH, progress: Callable[[int], None] | None = None) -> int:
    """Add the backlog's rows to the counts, ``batch`` rows a transaction (each committed), until none is left
    that another fold does not hold. ``progress`` hears of each batch folded. Returns the rows folded.
    """
    total = 0
    while True:
        session.execute(text(_NEW_BATCH))
        taken = session.execute(text(_TAKE), {"n": batch}).rowcount or 0  # type: ignore[attr-defined]
        if taken:
            for statement in _FOLD:
                session.execute(text(statement))
        session.execute(text(f"DROP TABLE {_BATCH_TABLE}"))  # (a savepoint's commit would not drop it)
        session.commit()
        if not taken:
            return total
        total += taken
        if progress:
            progress(taken)


def tidy(engine: Engine) -> None:
    """VACUUM the backlog after a fold: its rows are all deleted, and readers look at its first key on every read,
    which would otherwise step over every dead entry until autovacuum comes by.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM milestone_count_backlog"))


class _Folder:
    """The thread folding the backlog of one database in this process, run again if more came meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.again = False
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        while True:
            try:
                with Session(self.engine) as session:
                    folded = fold(session)
                if folded:
                    tidy(self.engine)
                    log.info("added %d backlog rows to the counts per area and day", folded)
            except Exception as err:  # noqa: BLE001 - the rows stay in the backlog for the next fold
                log.warning("the counts' backlog was not folded (its rows wait for the next fold): %s", err)
            with _lock:
                if not self.again:
                    self.thread = None
                    return
                self.again = False


_lock = threading.Lock()
_folders: dict[str, _Folder] = {}  # by database URL


def fold_soon(engine: Engine) -> None:
    """Fold the backlog of ``engine``'s database in a thread of this process (one at a time per database; a call
    while it runs makes it look again when done). The thread is not a daemon: a command line that filled the
    backlog finishes folding before it exits.
    """
    key = engine.url.render_as_string(hide_password=False)
    with _lock:
        folder = _folders.setdefault(key, _Folder(engine))
        if folder.thread is not None:
            folder.again = True
            return
        folder.engine = engine
        folder.thread = threading.Thread(target=folder.run, name="outfalls-fold-counts", daemon=False)
        folder.thread.start()


def wait(engine: Engine) -> None:
    """Wait until no fold of ``engine``'s database runs in this process."""
    key = engine.url.render_as_string(hide_password=False)
    while True:
        with _lock:
            folder = _folders.get(key)
            thread = folder.thread if folder is not None else None
        if thread is None:
            return
        thread.join()


notify.after_commit(notify.COUNTS, fold_soon)
