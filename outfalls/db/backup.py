"""Backup and restore with ``pg_dump``/``pg_restore`` (custom format)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from outfalls.config import Settings
from outfalls.db.cluster import find_bin_dir
from outfalls.db.engine import cluster_for, database_url, make_engine
from outfalls.errors import Conflict, DatabaseUnavailable, InvalidInput


def libpq_args(url: str) -> list[str]:
    """``pg_dump``/``psql`` connection options for a SQLAlchemy URL."""
    u = make_url(url)
    args = []
    host = u.query.get("host") or u.host
    if host:
        args += ["-h", str(host)]
    if u.port:
        args += ["-p", str(u.port)]
    if u.username:
        args += ["-U", u.username]
    args += ["-d", u.database or "postgres"]
    return args


def libpq_env(url: str) -> dict[str, str]:
    """Environment for libpq programs (the password, never on the command line)."""
    u = make_url(url)
    return {"PGPASSWORD": u.password} if u.password else {}


def _run(cmd: list[str], url: str, what: str) -> None:
    import os

    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **libpq_env(url)}, check=False)
    if out.returncode != 0:
        raise DatabaseUnavailable(f"{what} failed: {out.stderr.strip()}")


def backup(settings: Settings, path: Path) -> int:
    """Write the catalogue database to ``path`` (pg_dump custom format); returns the file size.

    Raises:
        DatabaseUnavailable: pg_dump failed.
    """
    url = database_url(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([str(find_bin_dir() / "pg_dump"), "-Fc", "--no-owner", "-f", str(path), *libpq_args(url)], url, "pg_dump")
    return path.stat().st_size


def _has_catalogue(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT to_regclass('public.outfalls') IS NOT NULL")).scalar_one())
    finally:
        engine.dispose()


def restore(settings: Settings, path: Path, *, replace: bool = False) -> None:
    """Restore a backup made by :func:`backup` into the catalogue database.

    Raises:
        InvalidInput: the file does not exist or is not a pg_dump archive.
        Conflict: the database holds a catalogue and ``replace`` is False.
        DatabaseUnavailable: pg_restore failed.
    """
    if not path.is_file():
        raise InvalidInput(f"backup file {path} does not exist", path=str(path))
    with path.open("rb") as f:
        if f.read(5) != b"PGDMP":
            raise InvalidInput(f"{path} is not a pg_dump custom-format archive", path=str(path))
    url = database_url(settings)
    if _has_catalogue(url) and not replace:
        raise Conflict("the database already holds a catalogue; restore with --replace to overwrite it", url=url)
    pg_restore = str(find_bin_dir() / "pg_restore")
    if settings.database.is_embedded:
        cluster = cluster_for(settings)
        cluster.drop_database(settings.database.name)
        cluster.create_database(settings.database.name, extensions=())
        _run([pg_restore, "--no-owner", "--exit-on-error", *libpq_args(url), str(path)], url, "pg_restore")
    else:
        _run(
            [pg_restore, "--no-owner", "--clean", "--if-exists", "--exit-on-error", *libpq_args(url), str(path)],
            url,
            "pg_restore",
        )
