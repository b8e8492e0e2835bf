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
starts the fold in a thread of the committing process (the commit hook of ``outfalls.db.notify``), which tries again
while rows wait; the command line folds in the foreground, with progress, and ``outfalls serve`` folds at start
what a stopped process left.
"""

from __future__ import annotations

import logging
import threading
import time
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


# In the order the triggers of a small statement take the same rows (PostgreSQL fires them by name: milestone days,
# then state days), each table in the order of its key: a fold and a small write wait for each other, never deadlock.
_FOLD = (milestonedays.upsert_sql(_signed(milestonedays.changes_sql)),
         statedays.upsert_sql(_signed(statedays.changes_sql)))  # fmt: skip


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


RETRY_S = 10.0  # between attempts of a background fold that failed, or that found rows another fold holds
ATTEMPTS = 6  # a background fold gives up after this many failures in a row (the next commit or start tries again)


class _Folder:
    """The thread folding the backlog of one database in this process, run again if more came meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.again = False
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        failures = 0
        while True:
            try:
                with Session(self.engine) as session:
                    folded = fold(session)
                    left = waiting(session)  # rows another fold holds: looked at again until they are gone
                if folded:
                    tidy(self.engine)
                    log.info("added %d backlog rows to the counts per area and day", folded)
                failures = 0
            except Exception as err:  # noqa: BLE001 - the rows stay in the backlog for the next attempt
                failures += 1
                left = 1
                log.warning("the counts' backlog was not folded (attempt %d of %d): %s", failures, ATTEMPTS, err)
            with _lock:
                if failures >= ATTEMPTS or (not left and not self.again):
                    self.thread = None
                    return
                self.again = False
            time.sleep(RETRY_S if left else 0)


_lock = threading.Lock()
_folders: dict[str, _Folder] = {}  # by database URL


def fold_soon(engine: Engine) -> None:
    """Fold the backlog of ``engine``'s database in a thread of this process (one at a time per database; a call
    while it runs makes it look again when done). A daemon: a process that exits meanwhile leaves the batch under
    way to roll back and its rows to the next fold (the command line folds in the foreground before exiting).
    """
    key = engine.url.render_as_string(hide_password=False)
    with _lock:
        folder = _folders.setdefault(key, _Folder(engine))
        if folder.thread is not None:
            folder.again = True
            return
        folder.engine = engine
        thread = threading.Thread(target=folder.run, name="outfalls-fold-counts", daemon=True)
        try:
            thread.start()
        except RuntimeError as err:  # no new thread (the interpreter shutting down): the rows wait for the next fold
            log.warning("the counts' backlog is left for the next fold: %s", err)
            return
        folder.thread = thread


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
