"""Notices that the catalogue changed, for caches of what it looked like.

Revision 0024 makes PostgreSQL send a notice on ``outfalls_changed`` (``NOTIFY``) when a transaction that changed
what a map tile shows commits; PostgreSQL sends nothing for a transaction that rolls back. One thread per database
and process listens on its own connection (``application_name`` ``outfalls-listen``) and counts the notices. A
cache keeps what it read with the :meth:`ChangeListener.token` it took *before* reading and serves it only while the
token is the same, so what it serves is never older than the last notice heard.

Commits made in this process through SQLAlchemy sessions change the token at once, before their notice comes back,
so whoever wrote reads their own write. Other processes hear of a commit as soon as PostgreSQL delivers the notice
(well under a millisecond on one machine). While the listener has no connection (the server restarting, a network
cut) the token is None and a cache neither serves nor keeps anything: no notice could be heard then. When it
connects again the token changes, so nothing kept before is served.

Hand-written on psycopg's ``notifies()``: SQLAlchemy's pool has no LISTEN support and no maintained library
keeps a LISTEN connection alive across server restarts for a threaded WSGI server.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

CHANNEL = "outfalls_changed"  # revision 0024 notifies it
APPLICATION_NAME = "outfalls-listen"
RETRY_S = 1.0  # between attempts to connect again
POLL_S = 1.0  # how often the listening thread looks up from its connection (to stop when asked)
FIRST_CONNECT_WAIT_S = 0.5  # how long the first caller waits for the listener's connection

log = logging.getLogger(__name__)


class _LocalCommits:
    """Commits of SQLAlchemy sessions in this process (a lost increment between two threads is harmless: the
    other one lands, and a token taken before both differs from one taken after).
    """

    n = 0


@event.listens_for(Session, "after_commit")
def _committed(_session: Session) -> None:
    _LocalCommits.n += 1


Token = tuple[int, int]


class ChangeListener:
    """Listens for the catalogue's change notices on one database (started on first use, then kept running)."""

    def __init__(self, url: str, *, retry_s: float = RETRY_S, poll_s: float = POLL_S) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.retry_s = retry_s
        self.poll_s = poll_s
        self._notices = 0  # written by the listening thread only
        self._listening = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._tried = threading.Event()  # set once the first attempt to connect is over
        self.backend_pid: int | None = None  # the listening connection's server process (tests end it)

    def token(self) -> Token | None:
        """What the catalogue's change count is now (notices heard, this process's commits), or None while no
        notice can be heard (not connected).
        """
        if self._thread is None:
            self._start()
        if not self._listening:
            return None
        return (self._notices, _LocalCommits.n)

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
                    self._notices += 1  # whatever was read before this connection may be out of date
                    self._listening = True
                    self._tried.set()
                    if failing:
                        log.warning("listening for catalogue changes again")
                    failing = False
                    while not self._stop.is_set():
                        for _notice in conn.notifies(timeout=self.poll_s):
                            self._notices += 1
            except psycopg.Error as err:
                if not failing:
                    log.warning("not listening for catalogue changes (tile cache off until it can): %s", err)
                failing = True
            finally:
                self._listening = False
                self._notices += 1
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
