"""The embedded PostgreSQL + PostGIS cluster: ``initdb``/``pg_ctl`` on Debian's binaries.

The server listens on a unix socket only (no TCP). When started as root it runs as the unprivileged
``postgres`` user, because ``initdb`` and ``postgres`` refuse to run as root. The same code starts
``outfalls db up`` and the test suite's throwaway server.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from outfalls.errors import DatabaseUnavailable

PG_LIB = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
SUPERUSER = "postgres"
PORT = 5432
REPLICATION_MARK = "# written by outfalls: streaming replicas may connect over the local socket"
# A unix socket path must fit in sockaddr_un.sun_path (108 bytes with the terminating NUL).
SOCKET_PATH_MAX = 103


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """Where the cluster lives and whether it is up."""

    running: bool
    initialised: bool
    data_dir: str
    socket_dir: str
    bin_dir: str
    pid: int | None


def find_bin_dir() -> Path:
    """Return the newest Debian PostgreSQL ``bin`` folder whose version has PostGIS installed.

    Raises:
        DatabaseUnavailable: no PostgreSQL server with PostGIS is installed.
    """
    versions = sorted(
        (int(p.name) for p in PG_LIB.glob("*") if p.name.isdigit() and (p / "bin" / "pg_ctl").exists()),
        reverse=True,
    )
    for version in versions:
        if list(Path(f"/usr/share/postgresql/{version}/extension").glob("postgis.control")):
            return PG_LIB / str(version) / "bin"
    if versions:
        raise DatabaseUnavailable(
            f"PostgreSQL {versions[0]} is installed but PostGIS is not: install postgresql-{versions[0]}-postgis-3 "
            "(make install does this)"
        )
    raise DatabaseUnavailable("PostgreSQL server binaries are not installed (make install installs them)")


class Cluster:
    """A PostgreSQL cluster in ``root`` (data in ``root/data``, log in ``root/server.log``).

    Args:
        root: the cluster folder, created when missing.
        socket_dir: where the server puts its socket; default ``root/run``, or a short folder under
            the system temp dir when that path would be too long for a unix socket.
        fsync: False for throwaway test clusters (faster, not crash-safe).
        bin_dir: PostgreSQL's ``bin`` folder; found automatically by default.
        port: the number in the socket's name (``.s.PGSQL.<port>``); a replica beside the primary takes its own.
    """

    def __init__(
        self,
        root: Path,
        *,
        socket_dir: Path | None = None,
        fsync: bool = True,
        bin_dir: Path | None = None,
        port: int = PORT,
    ) -> None:
        self.root = Path(root).absolute()
        self.port = port
        self.pgdata = self.root / "data"
        self.log_file = self.root / "server.log"
        self.fsync = fsync
        self._bin_dir = bin_dir
        self.socket_dir = socket_dir or self._default_socket_dir()

    def _default_socket_dir(self) -> Path:
        inside = self.root / "run"
        if len(str(inside / f".s.PGSQL.{self.port}")) <= SOCKET_PATH_MAX:
            return inside
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"outfalls-{digest}"

    @property
    def bin_dir(self) -> Path:
        """PostgreSQL's ``bin`` folder."""
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        return self._bin_dir

    def tool(self, name: str) -> str:
        """The full path of a PostgreSQL program (``pg_dump``, ``psql`` ...)."""
        return str(self.bin_dir / name)

    # -- state ---------------------------------------------------------------------------------
    @property
    def is_initialised(self) -> bool:
        """True when ``initdb`` has run."""
        return (self.pgdata / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """The postmaster's pid when it is running, else None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    @property
    def is_running(self) -> bool:
        """True when the server process is alive and its socket exists."""
        return self.pid() is not None and (self.socket_dir / f".s.PGSQL.{self.port}").exists()

    def status(self) -> ClusterStatus:
        """Report where the cluster is and whether it runs."""
        pid = self.pid()
        return ClusterStatus(
            running=pid is not None,
            initialised=self.is_initialised,
            data_dir=str(self.pgdata),
            socket_dir=str(self.socket_dir),
            bin_dir=str(self.bin_dir),
            pid=pid,
        )

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname`` on this cluster (unix socket, psycopg 3)."""
        port = "" if self.port == PORT else f"&port={self.port}"
        return f"postgresql+psycopg://{SUPERUSER}@/{dbname}?host={self.socket_dir}{port}"

    # -- lifecycle -----------------------------------------------------------------------------
    def init(self) -> None:
        """Create the cluster (``initdb``) unless it exists.

        Raises:
            DatabaseUnavailable: the folder cannot be used by the server user, or initdb failed.
        """
        if self.is_initialised:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise DatabaseUnavailable(
                f"{self.pgdata} exists and is not empty but holds no PostgreSQL cluster; move it away first",
                path=str(self.pgdata),
            )
        self._prepare_dirs()
        self._run(
            [
                self.tool("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            what="initdb",
        )
        conf = [
            "# written by outfalls: unix socket only, no TCP",
            "listen_addresses = ''",
            f"unix_socket_directories = '{self.socket_dir}'",
            f"port = {self.port}",
            "max_connections = 100",
            "shared_buffers = '256MB'",
            "work_mem = '32MB'",
            "maintenance_work_mem = '256MB'",
            "max_wal_size = '2GB'",
        ]
        if not self.fsync:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.pgdata / "postgresql.conf").open("a") as f:
            f.write("\n" + "\n".join(conf) + "\n")
        self._allow_replication()

    def _allow_replication(self) -> None:
        """Let streaming replicas connect over the local socket (``outfalls db replica add``).

        Runs at every start, so a cluster made before replicas existed gains the settings; PostgreSQL reads them
        when it starts. A replica's own copy of these settings is harmless (it serves no replicas of its own).
        """
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text()
        if REPLICATION_MARK not in text:
            with conf.open("a") as f:
                f.write(f"\n{REPLICATION_MARK}\nwal_level = replica\nmax_wal_senders = 10\n"
                        "max_replication_slots = 10\nhot_standby = on\n")  # fmt: skip
        hba = self.pgdata / "pg_hba.conf"
        rules = [line.split()[:2] for line in hba.read_text().splitlines() if not line.lstrip().startswith("#")]
        if ["local", "replication"] not in rules:
            with hba.open("a") as f:
                f.write(f"\n{REPLICATION_MARK}\nlocal replication {SUPERUSER} trust\n")

    def clone_from(self, primary: Cluster, *, slot: str, timeout_s: int = 120) -> None:
        """Make this cluster a streaming replica of ``primary`` (``pg_basebackup -R``) and start it.

        The base backup keeps a replication slot on the primary, so the primary holds the WAL this replica has not
        replayed yet (``drop_slot`` when the replica goes away).

        Raises:
            DatabaseUnavailable: the folder is in use, or the backup or the start failed.
        """
        if self.is_initialised:
            raise DatabaseUnavailable(f"{self.pgdata} already holds a cluster", path=str(self.pgdata))
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_dirs()
        self._run(
            [self.tool("pg_basebackup"), "-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot,
             "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", SUPERUSER, "-w"],
            what="pg_basebackup",
        )  # fmt: skip
        # The copy carries the primary's socket and port; the last setting in the file wins. ``cluster_name`` is
        # the name the primary shows in pg_stat_replication.application_name.
        with (self.pgdata / "postgresql.conf").open("a") as f:
            f.write(f"\n# written by outfalls: a streaming replica\nunix_socket_directories = '{self.socket_dir}'\n"
                    f"port = {self.port}\ncluster_name = '{slot}'\n")  # fmt: skip
        self.start(timeout_s=timeout_s)

    def drop_slot(self, slot: str) -> None:
        """Drop a replica's replication slot when it exists (the replica must be stopped)."""
        self.psql("postgres", f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                              f"WHERE slot_name = '{_ident(slot)}'")  # fmt: skip

    def start(self, timeout_s: int = 60) -> None:
        """Start the server (initialising first when needed); a no-op when it runs.

        Raises:
            DatabaseUnavailable: the server did not start; the message quotes its log.
        """
        self.init()
        if self.is_running:
            return
        self._allow_replication()
        self._prepare_dirs()
        try:
            self._run(
                [
                    self.tool("pg_ctl"),
                    "start",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(timeout_s),
                    "-o",
                    f"-k {self.socket_dir} -p {self.port} -c listen_addresses=''",
                ],
                what="pg_ctl start",
            )
        except DatabaseUnavailable as err:
            raise DatabaseUnavailable(f"{err.message}\n{self._log_tail()}", log=str(self.log_file)) from err

    def stop(self, *, immediate: bool = False) -> bool:
        """Stop the server; returns False when it was not running."""
        if not self.is_initialised or self.pid() is None:
            return False
        mode = "immediate" if immediate else "fast"
        self._run([self.tool("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", mode, "-w"], what="pg_ctl stop")
        return True

    # -- databases -----------------------------------------------------------------------------
    def psql(self, dbname: str, sql: str) -> str:
        """Run SQL with ``psql`` as the superuser; returns its output (tuples only)."""
        out = subprocess.run(
            [
                self.tool("psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                dbname,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise DatabaseUnavailable(f"SQL on {dbname} failed: {out.stderr.strip()}")
        return out.stdout

    def has_database(self, dbname: str) -> bool:
        """True when ``dbname`` exists."""
        return self.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{_ident(dbname)}'").strip() == "1"

    def create_database(
        self, dbname: str, *, template: str | None = None, extensions: Sequence[str] = ("postgis",)
    ) -> str:
        """Create ``dbname`` (from ``template`` when given, which is fast) and return its URL."""
        sql = f'CREATE DATABASE "{_ident(dbname)}"'
        if template:
            sql += f' TEMPLATE "{_ident(template)}"'
        self.psql("postgres", sql)
        for ext in extensions:
            self.psql(dbname, f'CREATE EXTENSION IF NOT EXISTS "{_ident(ext)}"')
        return self.url(dbname)

    def drop_database(self, dbname: str) -> None:
        """Drop ``dbname`` if it exists, closing its connections."""
        self.psql("postgres", f'DROP DATABASE IF EXISTS "{_ident(dbname)}" WITH (FORCE)')

    # -- helpers -------------------------------------------------------------------------------
    def _server_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError as err:
            raise DatabaseUnavailable(
                f"running as root needs the unprivileged '{SERVER_USER}' user (Debian's postgresql package creates it)"
            ) from err

    def _prepare_dirs(self) -> None:
        user = self._server_user()
        for d in (self.root, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        if user is None:
            return
        for d in (self.root, self.socket_dir, self.pgdata):
            if d.exists():
                os.chown(d, user.pw_uid, user.pw_gid)
        if self.log_file.exists():
            os.chown(self.log_file, user.pw_uid, user.pw_gid)
        for d in (self.root, self.socket_dir):
            blocked = self._first_untraversable(d, user)
            if blocked is not None:
                raise DatabaseUnavailable(
                    f"PostgreSQL runs as the '{SERVER_USER}' user, who cannot enter {blocked} "
                    f"(needed for {d}); choose a data folder it can reach (OUTFALLS_DATA_DIR) "
                    f"or allow it with: chmod o+x {blocked}",
                    path=str(blocked),
                )

    @staticmethod
    def _first_untraversable(path: Path, user: pwd.struct_passwd) -> Path | None:
        for p in [*reversed(path.parents), path]:
            st = p.stat()
            if st.st_uid == user.pw_uid:
                ok = bool(st.st_mode & 0o100)
            elif st.st_gid == user.pw_gid or st.st_gid in os.getgrouplist(user.pw_name, user.pw_gid):
                ok = bool(st.st_mode & 0o010)
            else:
                ok = bool(st.st_mode & 0o001)
            if not ok:
                return p
        return None

    def _run(self, cmd: list[str], *, what: str) -> None:
        user = self._server_user()

        def demote() -> None:  # pragma: no cover - runs in the child
            if user is not None:
                os.setgid(user.pw_gid)
                os.initgroups(user.pw_name, user.pw_gid)
                os.setuid(user.pw_uid)

        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        if user is not None:
            env["HOME"] = user.pw_dir
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False, preexec_fn=demote, env=env, cwd="/")
        except OSError as err:
            raise DatabaseUnavailable(f"{what} could not run: {err}") from err
        if out.returncode != 0:
            detail = (out.stderr or out.stdout).strip()
            raise DatabaseUnavailable(f"{what} failed: {detail}", command=what)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "server log:\n" + "\n".join(text.splitlines()[-lines:])

    def remove(self) -> None:
        """Stop the server and delete the cluster folder (test clusters only)."""
        self.stop(immediate=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.socket_dir.is_relative_to(Path(tempfile.gettempdir())):
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise DatabaseUnavailable(f"invalid database or extension name: {name!r}")
    return name
