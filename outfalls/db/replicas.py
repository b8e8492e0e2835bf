"""Read replicas: PostgreSQL streaming replicas (hot standbys) of the catalogue's server.

Owns the local replicas of the embedded cluster (``outfalls db replica add``: ``pg_basebackup -R`` into
``data_dir/replicas/<name>``, each with its own socket and port) and the state of every replica, configured or
local, as the primary's ``pg_stat_replication`` reports it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from outfalls.config import Settings
from outfalls.db.cluster import PORT, Cluster
from outfalls.db.engine import cluster_for, database_url, make_engine, redact
from outfalls.errors import Conflict, InvalidInput, NotFound

FIRST_PORT = PORT + 1
# A replica's name is its folder, its replication slot and the application_name the primary shows for it.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """One replica as the primary sees it.

    ``state`` is ``pg_stat_replication.state`` (``streaming``, ``catchup``, ``startup``, ``backup``, ``stopping``)
    while the replica is connected; else ``running`` (it answers but does not stream), ``stopped`` (local, not
    running) or ``unreachable``. ``lag_bytes`` is how much WAL the primary wrote that the replica has not replayed.
    """

    name: str
    url: str
    state: str
    lag_bytes: int | None


def replicas_dir(settings: Settings) -> Path:
    """The folder of the local replicas."""
    return settings.storage.data_dir / "replicas"


def _replica(settings: Settings, name: str) -> Cluster:
    root = replicas_dir(settings) / name
    try:
        port = int((root / "port").read_text())
    except (OSError, ValueError) as err:
        raise NotFound(f"there is no local replica named {name!r}", entity="replica", id=name) from err
    return Cluster(root, port=port)


def local_replicas(settings: Settings) -> list[tuple[str, Cluster]]:
    """The local replicas of the embedded cluster, by name (none with an external database)."""
    if not settings.database.is_embedded or not replicas_dir(settings).is_dir():
        return []
    names = sorted(p.name for p in replicas_dir(settings).iterdir() if (p / "port").is_file())
    return [(name, _replica(settings, name)) for name in names]


def replica_urls(settings: Settings) -> tuple[str, ...]:
    """Every replica reads may go to: the configured ones, then the local ones."""
    local = tuple(replica.url(settings.database.name) for _, replica in local_replicas(settings))
    return settings.database.replica_urls + local


def add_replica(settings: Settings, name: str | None = None) -> tuple[str, Cluster]:
    """Create and start a local streaming replica of the (running) embedded cluster.

    Returns:
        The replica's name and cluster (``cluster.url(dbname)`` is where it answers).

    Raises:
        InvalidInput: an external database is configured, or the name is not a lower-case identifier.
        Conflict: a replica of that name exists.
        DatabaseUnavailable: the primary is not running, or the base backup or the start failed.
    """
    if not settings.database.is_embedded:
        raise InvalidInput("local replicas copy the embedded cluster; an external database has replicas of its own "
                           "([database] replica_urls)", field="database.url")  # fmt: skip
    existing = local_replicas(settings)
    taken = {n for n, _ in existing}
    if name is None:
        name = next(f"replica{i}" for i in range(1, len(taken) + 2) if f"replica{i}" not in taken)
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(f"a replica's name is lower-case letters, digits and _, starting with a letter: {name!r}",
                           field="name", value=name)  # fmt: skip
    if name in taken or (replicas_dir(settings) / name).exists():
        raise Conflict(f"a replica named {name!r} exists already", name=name)
    primary = cluster_for(settings)
    primary.start(timeout_s=settings.database.start_timeout_s)
    port = max([FIRST_PORT - 1, *(c.port for _, c in existing)]) + 1
    replica = Cluster(replicas_dir(settings) / name, port=port)
    try:
        replica.clone_from(primary, slot=name, timeout_s=settings.database.start_timeout_s)
    except Exception:
        replica.remove()
        primary.drop_slot(name)
        raise
    (replica.root / "port").write_text(str(port))
    return name, replica


def remove_replica(settings: Settings, name: str) -> None:
    """Stop a local replica, drop its replication slot on the primary and delete its folder.

    Raises:
        NotFound: no local replica has that name.
    """
    replica = _replica(settings, name)
    replica.stop(immediate=True)
    primary = cluster_for(settings)
    if primary.is_running:
        primary.drop_slot(name)
    shutil.rmtree(replica.root, ignore_errors=True)
    replica.remove()


def start_replicas(settings: Settings) -> list[str]:
    """Start the local replicas that are not running (after the primary); returns their names."""
    started = []
    for name, replica in local_replicas(settings):
        if not replica.is_running:
            replica.start(timeout_s=settings.database.start_timeout_s)
            started.append(name)
    return started


def stop_replicas(settings: Settings) -> list[str]:
    """Stop the running local replicas; returns their names."""
    return [name for name, replica in local_replicas(settings) if replica.stop()]


def replica_states(settings: Settings) -> list[ReplicaState]:
    """The state of every replica: the primary's ``pg_stat_replication`` row for it, else whether it answers."""
    streams: dict[str, tuple[str, int | None]] = {}
    engine = make_engine(database_url(settings), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT application_name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
                "FROM pg_stat_replication"
            ))  # fmt: skip
            streams = {str(r[0]): (str(r[1]), None if r[2] is None else int(r[2])) for r in rows}
    except DBAPIError:
        streams = {}
    finally:
        engine.dispose()
    states = []
    for name, replica in local_replicas(settings):
        url = replica.url(settings.database.name)
        state, lag = streams.get(name) or ("running" if replica.is_running else "stopped", None)
        states.append(ReplicaState(name, url, state, lag))
    for url in settings.database.replica_urls:
        states.append(_remote_state(url, streams))
    return states


def _remote_state(url: str, streams: dict[str, tuple[str, int | None]]) -> ReplicaState:
    """A configured replica: asked for the name it streams under (``cluster_name``), then found on the primary."""
    shown = redact(url)
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_setting('cluster_name')")).scalar_one()
            receiving = conn.execute(sa.text("SELECT status FROM pg_stat_wal_receiver")).scalar()
    except DBAPIError:
        return ReplicaState(shown, shown, "unreachable", None)
    finally:
        engine.dispose()
    name = str(name or shown)
    state, lag = streams.get(name) or (str(receiving or "running"), None)
    return ReplicaState(name, shown, state, lag)
