"""Notices that the catalogue or an identity changed, and the caches they keep up to date (``ChangeCache``).

Revision 0024 makes PostgreSQL send a notice on ``outfalls_changed`` (``NOTIFY``, the topic as payload:
``catalogue`` or ``identity``) when a transaction that changed them commits; nothing is sent for one that rolls back.
One thread per database and process listens on its own connection (``application_name`` ``outfalls-listen``) and
counts the notices of each topic. A cache keeps what it read with the :meth:`ChangeListener.token` of its topic,
taken *before* reading, and serves it only while the token is the same: what it serves is never older than the last
notice heard.

Commits of this process count at once, before their notice comes back, so whoever wrote reads their own write: the
triggers also note the transaction's topics in the transaction-local setting ``outfalls.changed``, which is read
just before each commit of a SQLAlchemy connection (one short SELECT) and counted when the session's commit is
done. Other processes hear of a commit as soon as PostgreSQL delivers the notice (well under a millisecond on one
machine). While the listener has no connection (the server restarting, a network cut) the token is None and a cache
neither serves nor keeps anything: no notice could be heard then. When it connects again every token changes.

Hand-written on psycopg's ``notifies()``: SQLAlchemy's pool has no LISTEN support, and no maintained library keeps a
LISTEN connection alive across server restarts for a threaded WSGI server.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import psycopg
from cachetools import LRUCache
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

CHANNEL = "outfalls_changed"  # revision 0024 notifies it
SETTING = "outfalls.changed"  # the topics a transaction changed, noted by the same triggers
CATALOGUE = "catalogue"  # what a map tile shows
IDENTITY = "identity"  # who a session or an API token is
COUNTS = "counts"  # milestone rows left to the backlog of the counts per area and day (revision 0026)
APPLICATION_NAME = "outfalls-listen"
RETRY_S = 1.0  # between attempts to connect again
POLL_S = 1.0  # how often the listening thread looks up from its connection (to stop when asked)
FIRST_CONNECT_WAIT_S = 0.5  # how long the first caller waits for the listener's connection

log = logging.getLogger(__name__)

# Commits of this process, per topic (an increment lost between two threads is harmless: the other one lands, and
# a token taken before both differs from one taken after).
_local: Counter[str] = Counter()
_pending = threading.local()  # topics (and engine) of the commit under way in this thread
_after: dict[str, list[Callable[[Engine], None]]] = {}  # what to do once a transaction changing a topic committed


def after_commit(topic: str, then: Callable[[Engine], None]) -> None:
    """Call ``then(engine)`` in the committing thread each time this process commits a transaction that changed
    ``topic`` (on ``engine``); it must not raise, and should hand long work to another thread.
    """
    _after.setdefault(topic, []).append(then)


@event.listens_for(Engine, "commit")
def _before_commit(connection: Connection) -> None:
    """Read the topics the transaction about to commit changed (the triggers noted them)."""
    try:
        raw: Any = connection.connection.dbapi_connection
        row = raw.execute(f"SELECT current_setting('{SETTING}', true)").fetchone()
        topics = {t for t in (row[0] or "").split(",") if t} if row else set()
    except psycopg.Error:  # a failed transaction: it will not commit, but count every topic to be safe
        topics = {CATALOGUE, IDENTITY}
    if topics:
        _pending.topics = getattr(_pending, "topics", set()) | topics
        _pending.engine = connection.engine


@event.listens_for(Session, "after_commit")
def _committed(_session: Session) -> None:
    topics: set[str] = getattr(_pending, "topics", set())
    engine: Engine | None = getattr(_pending, "engine", None)
    _pending.topics, _pending.engine = set(), None
    for topic in topics:
        _local[topic] += 1
    for topic in topics:
        for then in _after.get(topic, ()):
            if engine is not None:
                try:
                    then(engine)
                except Exception:  # the commit is done: what follows it must not make it look failed
                    log.exception("after the commit of %s", topic)


Token = tuple[int, int, int]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ChangeListener:
    """Listens for the change notices on one database (started on first use, then kept running)."""

    def __init__(self, url: str, *, retry_s: float = RETRY_S, poll_s: float = POLL_S) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.retry_s = retry_s
        self.poll_s = poll_s
        self._connections = 0  # written by the listening thread only, as are the counts
        self._notices: Counter[str] = Counter()
        self._listening = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._tried = threading.Event()  # set once the first attempt to connect is over
        self.backend_pid: int | None = None  # the listening connection's server process (tests end it)

    def token(self, topic: str) -> Token | None:
        """Where ``topic`` stands now (connections made, notices heard, this process's commits), or None while no
        notice can be heard (not connected).
        """
        if self._thread is None:
            self._start()
        if not self._listening:
            return None
        return (self._connections, self._notices[topic], _local[topic])

    @property
    def listening(self) -> bool:
        """Whether notices are being heard."""
        return self._listening

    def close(self) -> None:
        """Stop listening (the thread ends within ``poll_s``)."""
        self._stop.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outfalls-listen", daemon=True)
                self._thread.start()
        self._tried.wait(FIRST_CONNECT_WAIT_S)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, application_name=APPLICATION_NAME,
                                     connect_timeout=5) as conn:  # fmt: skip
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    self._connections += 1  # whatever was read before this connection may be out of date
                    self._listening = True
                    self._tried.set()
                    if failing:
                        log.warning("listening for changes again")
                    failing = False
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=self.poll_s):
                            self._notices[notice.payload] += 1
            except psycopg.Error as err:
                if not failing:
                    log.warning("not listening for changes (the tile and identity caches are off until then): %s",
                                err)  # fmt: skip
                failing = True
            finally:
                self._listening = False
                self._connections += 1
                self.backend_pid = None
                self._tried.set()
            self._stop.wait(self.retry_s)


_listeners: dict[str, ChangeListener] = {}
_registry_lock = threading.Lock()


def listener_for(url: str) -> ChangeListener:
    """The process's listener for the database at ``url`` (one per database, shared by every app and cache)."""
    key = make_url(url).render_as_string(hide_password=False)  # one URL, however it is spelled
    with _registry_lock:
        listener = _listeners.get(key)
        if listener is None:
            listener = _listeners[key] = ChangeListener(url)
        return listener


class ChangeCache(Generic[K, V]):
    """Values by key, kept while ``topic`` has not changed: at most ``maxsize`` of them, each of size
    ``sizeof(value)`` (1 each without it), least recently used going first (``cachetools``). Without a listener (or
    with a ``maxsize`` of 0) nothing is kept.

    A value is kept with the topic's token taken before it was read and served only while the token is the same;
    when the token moves, everything kept is dropped. None (nothing found) is never kept.
    """

    def __init__(self, listener: ChangeListener | None, topic: str, maxsize: int,
                 sizeof: Callable[[V], int] | None = None) -> None:  # fmt: skip
        self.listener = listener if maxsize > 0 else None
        self.topic = topic
        self.maxsize = maxsize
        self._sizeof = sizeof
        self._values: LRUCache[K, V] = LRUCache(maxsize=max(maxsize, 1), getsizeof=sizeof)
        self._token: Token | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K, make: Callable[[], V | None], *, keep: bool | Callable[[], bool] = True) -> V | None:
        """The value of ``key``: kept, or read by ``make()`` and kept when ``keep`` (False for a value read from a
        replica, which may not have replayed the last change heard yet; a callable is asked once ``make`` has read
        the value, so that a caller choosing its database inside ``make`` pays nothing for a kept value) and nothing
        changed while it was read.
        """
        listener = self.listener
        token = listener.token(self.topic) if listener is not None else None
        if token is not None:
            with self._lock:
                if token != self._token:
                    self._values.clear()
                    self._token = token
                value = self._values.get(key)
            if value is not None:
                self.hits += 1
                return value
        self.misses += 1
        value = make()
        unchanged = token is not None and listener is not None and listener.token(self.topic) == token
        if callable(keep):
            keep = keep()
        if keep and unchanged and value is not None and self._size(value) <= self.maxsize:
            with self._lock:
                if self._token == token:
                    self._values[key] = value
        return value

    def replace(self, key: K, value: V) -> None:
        """Put ``value`` in place of the one kept for ``key``, if one is (what this process itself wrote of it)."""
        with self._lock:
            if key in self._values and self._size(value) <= self.maxsize:
                self._values[key] = value

    def clear(self) -> None:
        """Drop everything kept."""
        with self._lock:
            self._values.clear()

    @property
    def size(self) -> int:
        """The size of what is kept (bytes for tiles, entries without ``sizeof``)."""
        with self._lock:
            return int(self._values.currsize)

    def _size(self, value: V) -> int:
        return self._sizeof(value) if self._sizeof is not None else 1
