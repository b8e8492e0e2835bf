"""Where a read goes: to a streaming replica that is up, keeps up and has replayed the reader's own last write,
else to the primary. Writes always go to the primary; the web decides which requests are reads.

A replica's health is checked with a short timeout and kept a few seconds, so a replica that stops or falls
behind costs one quick check, not a failed request. Read-your-writes: after a user's commit the primary's WAL
position (``pg_current_wal_insert_lsn()``) is remembered for that user; their next read waits briefly for a replica's
``pg_last_wal_replay_lsn()`` to pass it, else goes to the primary. Lag is judged against the primary's flushed
position (``pg_current_wal_flush_lsn()``): all a replica can have been sent.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

CHECK_EVERY_S = 3.0  # how long a replica's health is trusted
WAIT_FOR_REPLAY_S = 0.5  # how long a reader waits for a replica to replay their own last write
POLL_S = 0.02
CHECK_TIMEOUT_MS = 1000


def lsn_value(lsn: str) -> int:
    """A WAL position (``16/B374D848``) as a number, so positions compare."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(slots=True)
class ReplicaHealth:
    """What the last check found on one replica."""

    is_usable: bool = False
    replay_lsn: int = 0
    lag_s: float | None = None
    checked_at: float = float("-inf")
    caught_up_at: float | None = None  # the last check that found it level with the primary
    error: str = ""


class ReplicaRouter:
    """Chooses a replica engine for reads (round robin over the usable ones) or None for the primary.

    Args:
        primary: the primary's engine (its WAL position is the yardstick of lag).
        replicas: one engine per replica.
        max_lag_s: a replica further behind than this is skipped until it catches up.
        clock: monotonic seconds (tests move it).
    """

    def __init__(
        self,
        primary: Engine,
        replicas: Sequence[Engine],
        *,
        max_lag_s: float,
        check_every_s: float = CHECK_EVERY_S,
        wait_s: float = WAIT_FOR_REPLAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replicas = tuple(replicas)
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self.wait_s = wait_s
        self._clock = clock
        self._health = {e: ReplicaHealth() for e in self.replicas}
        # (when, primary WAL position) at the last checks: a replica that has replayed a position is at most as
        # old as the moment the primary was there
        self._samples: deque[tuple[float, int]] = deque(maxlen=256)
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def health(self, engine: Engine) -> ReplicaHealth:
        """The last known health of a replica (checked again when it is older than a few seconds)."""
        self._refresh()
        return self._health[engine]

    def replica_for(self, after_lsn: int | None = None) -> Engine | None:
        """A replica for a read that must see WAL position ``after_lsn`` (the reader's last commit), or None."""
        self._refresh()
        usable = [e for e in self.replicas if self._health[e].is_usable]
        if not usable:
            return None
        start = next(self._turn)
        ordered = [usable[(start + i) % len(usable)] for i in range(len(usable))]
        if after_lsn is None:
            return ordered[0]
        for engine in ordered:
            if self._health[engine].replay_lsn >= after_lsn:
                return engine
        deadline = self._clock() + self.wait_s
        while True:
            for engine in ordered:
                if self._replayed(engine) >= after_lsn:
                    return engine
            if self._clock() >= deadline:
                return None
            time.sleep(POLL_S)

    def mark_down(self, engine: Engine, reason: str = "") -> None:
        """Skip a replica that just failed a query until its next check."""
        health = self._health.get(engine)
        if health is not None:
            health.is_usable, health.checked_at, health.error = False, self._clock(), reason
            # No engine.dispose(): it would orphan the pool that other requests' connections return to, and a live
            # one left there is never closed. A lost connection already makes SQLAlchemy recycle every connection
            # the pool opened before it, and an idle one is pinged before it is used again.

    def dispose(self) -> None:
        """Close every replica connection."""
        for engine in self.replicas:
            engine.dispose()

    # -- checks -------------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        now = self._clock()
        stale = [e for e in self.replicas if now - self._health[e].checked_at >= self.check_every_s]
        if not stale or not self._lock.acquire(blocking=False):
            return  # another thread is checking: the last known health serves meanwhile
        try:
            primary_lsn = self._primary_lsn()
            if primary_lsn is not None:
                self._samples.append((now, primary_lsn))
            for engine in stale:
                self._check(engine, primary_lsn)
        finally:
            self._lock.release()

    def _primary_lsn(self) -> int | None:
        try:
            with self.primary.connect() as conn:
                # the flush position: all a replica can have been sent. Not the insert position: records that are no
                # commit (a checkpoint's, the background writer's snapshot of running transactions) may sit unflushed
                # in the WAL buffers of an idle primary for as long as nothing commits, and a replica that has every
                # flushed record would look ever further behind. An asynchronous commit is flushed by the WAL writer
                # within a few wal_writer_delay, far below replica_max_lag_s.
                return lsn_value(conn.execute(sa.text("SELECT pg_current_wal_flush_lsn()::text")).scalar_one())
        except DBAPIError:
            return None  # the primary's own trouble shows in the request; the replicas are judged by replay time

    def _check(self, engine: Engine, primary_lsn: int | None) -> None:
        health = self._health[engine]
        now = self._clock()
        health.checked_at = now
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f"SET statement_timeout = {CHECK_TIMEOUT_MS}"))
                row = conn.execute(sa.text(
                    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                    "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
                )).one()  # fmt: skip
                conn.execute(sa.text("RESET statement_timeout"))
        except DBAPIError as err:  # (the pool is left as it is: see mark_down)
            health.is_usable, health.error = False, str(err.orig or err).strip().splitlines()[0]
            return
        in_recovery, replay, replay_age_s = row
        if not in_recovery or replay is None:
            health.is_usable, health.error = False, "not a streaming replica (pg_is_in_recovery() is false)"
            return
        health.replay_lsn = lsn_value(replay)
        reached = [when for when, lsn in self._samples if lsn <= health.replay_lsn]
        if primary_lsn is not None and health.replay_lsn >= primary_lsn:
            health.caught_up_at, health.lag_s = now, 0.0
        elif reached:  # level with the primary as it was at the latest check it has replayed
            health.caught_up_at = max(reached)
            health.lag_s = now - health.caught_up_at
        elif health.caught_up_at is not None:
            health.lag_s = now - health.caught_up_at
        else:
            health.lag_s = replay_age_s
        health.is_usable = health.lag_s is not None and health.lag_s <= self.max_lag_s
        health.error = "" if health.is_usable else f"{health.lag_s} s behind the primary"

    def _replayed(self, engine: Engine) -> int:
        try:
            with engine.connect() as conn:
                replay = conn.execute(sa.text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
        except DBAPIError as err:
            self.mark_down(engine, str(err))
            return 0
        health = self._health[engine]
        health.replay_lsn = max(health.replay_lsn, lsn_value(replay)) if replay else health.replay_lsn
        return health.replay_lsn


class LastCommits:
    """Per-identity WAL position of the last commit (cookie-less, in this process), forgotten once any usable
    replica must have replayed it (older than ``keep_s``, which outlives the lag a usable replica may have).
    """

    def __init__(self, keep_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_s = keep_s
        self._clock = clock
        self._marks: dict[Hashable, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def remember(self, who: Hashable, lsn: int) -> None:
        """Note that ``who`` committed at ``lsn``."""
        now = self._clock()
        with self._lock:
            if len(self._marks) > 10_000:
                self._marks = {k: v for k, v in self._marks.items() if now - v[1] < self.keep_s}
            self._marks[who] = (lsn, now)

    def last(self, who: Hashable) -> int | None:
        """The WAL position a read of ``who`` must see, or None."""
        mark = self._marks.get(who)
        if mark is None or self._clock() - mark[1] >= self.keep_s:
            return None
        return mark[0]


def current_lsn(connection: sa.Connection) -> int:
    """The primary's WAL position now (after a commit: a position that includes it).

    The insert position, not ``pg_current_wal_lsn()`` (the write position): with ``synchronous_commit = off`` a
    commit record may still wait in the WAL buffers, behind the write position.
    """
    return lsn_value(connection.execute(sa.text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one())
