"""Backup and restore of a whole instance: the catalogue database and the file stores, in one archive.

A backup is a tar holding ``database.dump`` (``pg_dump`` custom format), ``store/…`` (photos, evidence, exports),
``imagery/…`` (orthophoto COGs) and ``manifest.json`` (the SHA-256 and size of every member, the schema revision).
Caches (thumbnails, imagery tiles) are left out: they are rebuilt. A restore checks the whole archive first, builds
the new database and file folders beside the old ones and swaps them in only when everything is in place, so a
failed restore leaves the catalogue as it was. A plain ``pg_dump`` archive (what backups used to be) restores the
database only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from outfalls import __version__
from outfalls.config import Settings
from outfalls.db.cluster import find_bin_dir
from outfalls.db.engine import current_revision, database_url, head_revision, make_engine, migrate, redact
from outfalls.errors import Conflict, DatabaseUnavailable, InvalidInput

FORMAT = "outfalls-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = "database.dump"
CHUNK = 1 << 20
# Tables whose rows are a catalogue worth protecting; reference data and targets are reloadable, so an instance
# holding only those (a fresh `outfalls db up`, `outfalls reference load`) takes a restore without --replace.
CATALOGUE_TABLES = ("outfalls", "observations", "events", "users", "attachments", "orthophotos")

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup wrote."""

    path: Path
    size_bytes: int
    revision: str | None
    database_bytes: int
    store_files: int
    imagery_files: int


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore brought back; ``kind`` is ``archive`` (database and files) or ``pg_dump`` (database only)."""

    path: Path
    kind: Literal["archive", "pg_dump"]
    revision: str | None
    backup_revision: str | None
    files_restored: bool
    store_files: int
    imagery_files: int
    replaced: bool


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
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **libpq_env(url)}, check=False)
    if out.returncode != 0:
        raise DatabaseUnavailable(f"{what} failed: {out.stderr.strip()}")


def _quiet(_message: str) -> None:
    """No progress report."""


# -- backup ------------------------------------------------------------------------------------------------------
def _stores(settings: Settings) -> list[tuple[str, Path, tuple[Path, ...]]]:
    """The file stores in an archive: member prefix, folder, sub-folders left out (caches)."""
    store, imagery = settings.storage.store_dir, settings.imagery.store_dir
    return [
        ("store", store, (store / "thumbs", settings.imagery.tile_cache_dir)),
        ("imagery", imagery, (settings.imagery.tile_cache_dir,)),
    ]


def stored_files(root: Path, skip: tuple[Path, ...] = ()) -> Iterator[Path]:
    """The files of a store, sorted; caches in ``skip`` and half-written files (``.incoming-…``) left out."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if here / d not in skip)
        for name in sorted(filenames):
            path = here / name
            if not name.startswith(".") and path.is_file() and not path.is_symlink():
                yield path


class _HashingReader(io.RawIOBase):
    """Reads a file and hashes what was read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Read into ``buffer`` and hash the bytes."""
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return int(n or 0)


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> dict[str, object]:
    info = tarfile.TarInfo(name)
    st = path.stat()
    info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o644
    with path.open("rb") as f:
        reader = _HashingReader(f)
        tar.addfile(info, reader)
    return {"sha256": reader.digest.hexdigest(), "size": st.st_size}


def backup(settings: Settings, path: Path, *, progress: Progress | None = None) -> BackupReport:
    """Write the database and the file stores to one archive at ``path`` (replaced only once complete).

    The database is dumped first, then the files: stored files are written once and before the rows that refer
    to them commit, so every file the dump refers to is in the archive.

    Raises:
        DatabaseUnavailable: pg_dump failed.
        InvalidInput: ``path`` cannot be written or a stored file cannot be read.
    """
    say = progress or _quiet
    url = database_url(settings)
    revision = current_revision(url)
    target = path.absolute()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    except OSError as err:
        raise InvalidInput(f"cannot write {path}: {err.strerror or err}", field="file", value=str(path)) from err
    try:
        dump = work / DATABASE_MEMBER
        say(f"dumping the database (schema {revision or 'empty'})")
        _run([str(find_bin_dir() / "pg_dump"), "-Fc", "--no-owner", "-f", str(dump), *libpq_args(url)], url, "pg_dump")
        members: dict[str, dict[str, object]] = {}
        counts: dict[str, int] = {}
        partial = work / "archive.tar"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            members[DATABASE_MEMBER] = _add_file(tar, dump, DATABASE_MEMBER)
            for prefix, root, skip in _stores(settings):
                files = list(stored_files(root, skip))
                counts[prefix] = len(files)
                say(f"adding {len(files)} files from {root}")
                for file in files:
                    name = f"{prefix}/{file.relative_to(root).as_posix()}"
                    members[name] = _add_file(tar, file, name)
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "outfalls_version": __version__,
                "revision": revision,
                "members": members,
            }
            body = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(datetime.now(UTC).timestamp()), 0o644
            tar.addfile(info, io.BytesIO(body))
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, target)  # a reader never sees half an archive under the final name
    except OSError as err:
        raise InvalidInput(f"cannot write {path}: {err}", field="file", value=str(path)) from err
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupReport(
        path=path,
        size_bytes=target.stat().st_size,
        revision=revision,
        database_bytes=int(str(members[DATABASE_MEMBER]["size"])),
        store_files=counts["store"],
        imagery_files=counts["imagery"],
    )


# -- checks ------------------------------------------------------------------------------------------------------
def _damaged(path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"{path} is damaged or truncated ({why}); nothing was changed. Use another copy of the backup.",
        field="file",
        value=str(path),
    )


def archive_kind(path: Path) -> Literal["archive", "pg_dump"]:
    """What ``path`` is: an archive made by :func:`backup` or a plain pg_dump custom-format archive.

    Raises:
        InvalidInput: no such file, or neither kind.
    """
    if not path.is_file():
        raise InvalidInput(f"backup file {path} does not exist", field="file", value=str(path))
    with path.open("rb") as f:
        if f.read(5) == b"PGDMP":
            return "pg_dump"
    try:
        if tarfile.is_tarfile(path):
            return "archive"
    except OSError:
        pass
    raise InvalidInput(
        f"{path} is not a backup made by `outfalls db backup` (neither an outfalls archive nor a pg_dump archive)",
        field="file",
        value=str(path),
    )


def check_dump(path: Path, *, read_all: bool, shown_as: Path | None = None) -> None:
    """Check a pg_dump archive: its table of contents (``pg_restore --list``), and with ``read_all`` every byte of
    its data (``pg_restore -f /dev/null``), which is how a truncated dump shows.

    Raises:
        InvalidInput: the archive is damaged or truncated.
    """
    pg_restore = str(find_bin_dir() / "pg_restore")
    checks = [["--list"]] + ([["-f", os.devnull]] if read_all else [])
    for args in checks:
        out = subprocess.run([pg_restore, *args, str(path)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            reason = (out.stderr.strip().splitlines() or ["pg_restore failed"])[-1].removeprefix("pg_restore: ")
            raise _damaged(shown_as or path, reason)


def _known_revision(revision: str | None, path: Path) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from outfalls.db.engine import MIGRATIONS_DIR

    try:
        found = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise InvalidInput(
            f"{path} holds schema revision {revision}, which this version of outfalls does not know "
            f"(it is at {head_revision()}); restore it with the version that made it",
            field="file",
            value=str(path),
        )


@dataclass(frozen=True, slots=True)
class _Staged:
    source: Path
    root: Path
    dump: Path
    revision: str | None
    counts: dict[str, int]


def _member_target(name: str, staging: Path, path: Path) -> Path:
    parts = PurePosixPath(name).parts
    safe = bool(parts) and not PurePosixPath(name).is_absolute() and all(p not in ("", ".", "..") for p in parts)
    if safe and name == DATABASE_MEMBER:
        return staging / DATABASE_MEMBER
    if safe and len(parts) > 1 and parts[0] in ("store", "imagery"):
        return staging.joinpath(*parts)
    raise InvalidInput(f"{path} holds an unexpected member {name!r}; nothing was changed", field="file")


def stage_archive(path: Path, staging: Path, *, progress: Progress | None = None) -> _Staged:
    """Unpack an archive into ``staging`` and check every member against the manifest.

    Raises:
        InvalidInput: the archive is damaged, truncated, altered or of an unknown format or schema.
    """
    say = progress or _quiet
    say(f"checking {path} against its manifest")
    seen: dict[str, tuple[str, int]] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if member.name == MANIFEST and member.isfile():
                    source = tar.extractfile(member)
                    manifest_bytes = source.read() if source else b""
                    continue
                target = _member_target(member.name, staging, path)
                if not member.isfile():
                    raise InvalidInput(f"{path} holds {member.name!r}, which is not a file", field="file")
                source = tar.extractfile(member)
                if source is None:
                    raise _damaged(path, f"{member.name} cannot be read")
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with target.open("wb") as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                seen[member.name] = (digest.hexdigest(), size)
    except (tarfile.TarError, EOFError) as err:
        raise _damaged(path, str(err) or type(err).__name__) from err
    if manifest_bytes is None:
        raise _damaged(path, f"no {MANIFEST}")
    try:
        manifest = json.loads(manifest_bytes)
        members = manifest["members"]
        expected = {str(name): (str(m["sha256"]), int(m["size"])) for name, m in members.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise _damaged(path, f"{MANIFEST} is unreadable") from err
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise InvalidInput(
            f"{path} is a backup of format {manifest.get('format')!r} version {manifest.get('version')!r}, "
            f"which this version of outfalls cannot read",
            field="file",
        )
    missing = sorted(set(expected) - set(seen))
    if missing:
        raise _damaged(path, f"{len(missing)} files listed in the manifest are missing, e.g. {missing[0]}")
    extra = sorted(set(seen) - set(expected))
    if extra:
        raise _damaged(path, f"{len(extra)} files are not in the manifest, e.g. {extra[0]}")
    wrong = sorted(name for name, got in seen.items() if got != expected[name])
    if wrong:
        raise _damaged(path, f"the checksum of {len(wrong)} files does not match the manifest, e.g. {wrong[0]}")
    if DATABASE_MEMBER not in seen:
        raise _damaged(path, f"no {DATABASE_MEMBER}")
    revision = manifest.get("revision")
    _known_revision(revision, path)
    check_dump(staging / DATABASE_MEMBER, read_all=False, shown_as=path)
    counts = {p: sum(1 for n in seen if n.startswith(p + "/")) for p in ("store", "imagery")}
    return _Staged(path, staging, staging / DATABASE_MEMBER, revision, counts)


def catalogue_held(url: str) -> list[str]:
    """The catalogue tables that hold rows (empty for a freshly migrated or reference-only database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            held = []
            for table in CATALOGUE_TABLES:
                if conn.execute(sa.text(f"SELECT to_regclass('public.{table}') IS NOT NULL")).scalar_one():
                    if conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar_one():
                        held.append(table)
            return held
    finally:
        engine.dispose()


# -- the database swap -------------------------------------------------------------------------------------------
def _admin_engine(url: str) -> sa.Engine:
    """Autocommit connections to the server's maintenance database (CREATE/ALTER/DROP DATABASE)."""
    return make_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False),
                       isolation_level="AUTOCOMMIT")  # fmt: skip


def _q(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _database_exists(admin: sa.Connection, name: str) -> bool:
    return bool(admin.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar())


def drop_database(admin: sa.Connection, name: str) -> None:
    """Drop a database if it exists, closing its connections."""
    admin.execute(sa.text(f"DROP DATABASE IF EXISTS {_q(admin, name)} WITH (FORCE)"))


def rename_database(admin: sa.Connection, old: str, new: str) -> None:
    """Rename a database (one statement: it happens or it does not)."""
    admin.execute(sa.text(f"ALTER DATABASE {_q(admin, old)} RENAME TO {_q(admin, new)}"))


def _allow_connections(admin: sa.Connection, name: str, allow: bool) -> None:
    admin.execute(sa.text(f"ALTER DATABASE {_q(admin, name)} ALLOW_CONNECTIONS {'true' if allow else 'false'}"))
    if not allow:  # a database can be renamed only when nobody is connected to it
        admin.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )


def pg_restore(dump: Path, target_url: str) -> None:
    """Restore a pg_dump archive into an empty database.

    Raises:
        DatabaseUnavailable: pg_restore failed.
    """
    cmd = [str(find_bin_dir() / "pg_restore"), "--no-owner", "--exit-on-error", *libpq_args(target_url), str(dump)]
    _run(cmd, target_url, "pg_restore")


def _sql_error(err: DBAPIError, what: str) -> DatabaseUnavailable:
    reason = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
    return DatabaseUnavailable(f"{what}: {reason}")


# -- restore -----------------------------------------------------------------------------------------------------
def restore(
    settings: Settings, path: Path, *, replace: bool = False, progress: Progress | None = None
) -> RestoreReport:
    """Restore a backup made by :func:`backup` (or a plain pg_dump archive) into this instance.

    Nothing of the current catalogue changes until the new database and file folders are complete: the database
    is restored into a new database and the files into new folders, which are then swapped in; on any failure
    the new ones are removed and the old ones stay as they were.

    Raises:
        InvalidInput: the file does not exist, is not a backup, or is damaged, truncated or altered.
        Conflict: the instance holds a catalogue and ``replace`` is False.
        DatabaseUnavailable: the restore into the new database failed (the old one is untouched).
    """
    say = progress or _quiet
    kind = archive_kind(path)
    url = database_url(settings)
    held = catalogue_held(url)
    if kind == "archive":
        held += [f"{n} files in {root}" for _, root, skip in _stores(settings) if (n := _count(root, skip))]
    if held and not replace:
        raise Conflict(
            f"the database already holds a catalogue ({', '.join(held)}); restore with --replace to overwrite it",
            url=redact(url),
        )
    data_dir = settings.storage.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".restore-"))
    try:
        if kind == "archive":
            staged = stage_archive(path, staging, progress=say)
        else:
            say(f"checking {path} (a plain pg_dump archive: the database only)")
            check_dump(path, read_all=True)
            staged = _Staged(path, staging, path, None, {})
        backup_revision, revision = _restore_database(settings, url, staged, kind, say)
        counts = staged.counts
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreReport(
        path=path,
        kind=kind,
        revision=revision,
        backup_revision=backup_revision,
        files_restored=kind == "archive",
        store_files=counts.get("store", 0),
        imagery_files=counts.get("imagery", 0),
        replaced=bool(held),
    )


def _count(root: Path, skip: tuple[Path, ...]) -> int:
    return sum(1 for _ in stored_files(root, skip))


def _restore_database(
    settings: Settings, url: str, staged: _Staged, kind: str, say: Progress
) -> tuple[str | None, str | None]:
    """Restore into a new database, then swap it and the staged folders in; returns (backup's, final) revision."""
    name = make_url(url).database or settings.database.name
    new_name = f"{name[:40]}_restore"
    new_url = make_url(url).set(database=new_name).render_as_string(hide_password=False)
    admin_engine = _admin_engine(url)
    try:
        with admin_engine.connect() as admin:
            try:
                drop_database(admin, new_name)  # left by a restore that was killed
                admin.execute(sa.text(f"CREATE DATABASE {_q(admin, new_name)}"))
            except DBAPIError as err:
                raise _sql_error(err, f"cannot create the database {new_name} to restore into") from err
            try:
                say(f"restoring the database into {new_name}")
                pg_restore(staged.dump, new_url)
                backup_revision = current_revision(new_url)
                _known_revision(backup_revision, staged.source)
                if backup_revision is not None and backup_revision != head_revision():
                    say(f"migrating the restored schema from {backup_revision} to {head_revision()}")
                    migrate(new_url)
                revision = current_revision(new_url)
                say("swapping the restored catalogue in")
                _swap(admin, settings, name, new_name, staged, kind, say)
            except BaseException:
                say(f"the restore failed; dropping {new_name}, the catalogue is unchanged")
                drop_database(admin, new_name)
                raise
    except DBAPIError as err:
        raise _sql_error(err, "the restore failed, the catalogue is unchanged") from err
    finally:
        admin_engine.dispose()
    return backup_revision, revision


def _swap(admin: sa.Connection, settings: Settings, name: str, new_name: str, staged: _Staged, kind: str,
          say: Progress) -> None:  # fmt: skip
    """Move the staged folders and the new database into place; on failure put everything back."""
    moved_aside: list[tuple[Path, Path]] = []  # (store folder, where its old content waits)
    put_in: list[Path] = []
    old_name: str | None = None
    try:
        if kind == "archive":
            for prefix, root, _skip in _stores(settings):
                new = staged.root / prefix
                new.mkdir(exist_ok=True)  # no files of this store in the archive: the store comes back empty
                if root.exists():
                    aside = staged.root / f"old-{prefix}"
                    os.rename(root, aside)
                    moved_aside.append((root, aside))
                root.parent.mkdir(parents=True, exist_ok=True)
                os.rename(new, root)
                put_in.append(root)
        if _database_exists(admin, name):
            old_name = f"{name[:40]}_old_{secrets.token_hex(4)}"
            _allow_connections(admin, name, False)
            rename_database(admin, name, old_name)
        rename_database(admin, new_name, name)
    except BaseException:
        _put_back(admin, name, old_name)
        for root in reversed(put_in):
            shutil.rmtree(root, ignore_errors=True)
        for root, aside in reversed(moved_aside):
            os.rename(aside, root)
        raise
    if old_name is not None:
        try:
            drop_database(admin, old_name)
        except DBAPIError as err:
            say(f"could not drop the previous database {old_name} ({err.orig}); drop it by hand")
    shutil.rmtree(settings.imagery.tile_cache_dir, ignore_errors=True)  # tiles of the previous imagery


def _put_back(admin: sa.Connection, name: str, old_name: str | None) -> None:
    """Give the previous database back its name and its connections."""
    try:
        if old_name is not None and _database_exists(admin, old_name) and not _database_exists(admin, name):
            rename_database(admin, old_name, name)
        if _database_exists(admin, name):
            _allow_connections(admin, name, True)
    except DBAPIError as err:
        raise _sql_error(err, f"the previous catalogue is in the database {old_name or name}; give it back its "
                              f"name {name} and ALLOW_CONNECTIONS by hand") from err  # fmt: skip
