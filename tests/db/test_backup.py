"""Backups hold the database and the file stores; a restore checks the archive first, builds the new catalogue
beside the old one and swaps it in only when it is complete, so a failed restore never loses the catalogue."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls
from outfalls.config import Settings, load_settings
from outfalls.db import backup as backups
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.errors import DatabaseUnavailable
from outfalls.scope import Scope
from outfalls.store import FileStore, attach_file
from outfalls.types import SurveyLevel

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OUTFALLS_")}
ORTHO = Path(__file__).resolve().parents[1] / "fixtures" / "imagery" / "derived_pix4d_tile_a.tif"
# Every row a user would miss, as text: outfalls, their history, raw observations, files and imagery, accounts.
ROWS_SQL = (
    "SELECT count(*) || ':' || md5(coalesce(string_agg(t, '|' ORDER BY t), '')) FROM ("
    " SELECT o::text AS t FROM outfalls o UNION ALL SELECT e::text FROM events e"
    " UNION ALL SELECT b::text FROM observations b UNION ALL SELECT a::text FROM attachments a"
    " UNION ALL SELECT p::text FROM orthophotos p UNION ALL SELECT u::text FROM users u) x"
)


def run(
    *args: str, env: dict[str, str], check: bool = True, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "outfalls", *args], input=input_text, capture_output=True, text=True,
                         env={**BASE_ENV, **env}, timeout=300, check=False)  # fmt: skip
    if check and out.returncode != 0:
        raise AssertionError(f"outfalls {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp folder the unprivileged server user can traverse (pytest's own base is 0700 when run as root)."""
    path = Path(tempfile.mkdtemp(prefix="ofb", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def rows(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text(ROWS_SQL)).scalar_one())
    finally:
        engine.dispose()


def outfall_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM outfalls")).scalar_one())
    finally:
        engine.dispose()


def databases(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    finally:
        engine.dispose()


def files_of(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def embedded_url(data_dir: Path) -> str:
    return Cluster(data_dir / "pg").url("outfalls")


def settings_for(env: dict[str, str]) -> Settings:
    return load_settings(env=env)


def add_attachment(settings: Settings, url: str, content: bytes) -> None:
    """Attach a file to the first outfall, as the case pages do."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            outfall_id = session.scalar(sa.text("SELECT min(id) FROM outfalls"))
            attach_file(session, FileStore(settings.storage.store_dir), io.BytesIO(content), name="evidence.jpg",
                        kind="photo", actor="test", scope=Scope.national(), outfall_id=outfall_id)  # fmt: skip
            session.commit()
    finally:
        engine.dispose()


def add_outfalls(url: str, n: int) -> None:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            create_outfalls(session, [
                NewOutfall(lonlat=(108.9 + i / 1000, 34.4), name=f"口{i}", type_code="4.8", found_by=SurveyLevel.FOOT,
                           found_on=date(2023, 5, 1))
                for i in range(n)
            ], actor="test")  # fmt: skip
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture
def external(clone_db: Callable[[str], str], tmp_path: Path) -> dict[str, str]:
    """An instance on an external server (a clone of the migrated template) with its own data folder."""
    tmp_path.chmod(0o755)
    return {"OUTFALLS_DATABASE_URL": clone_db("backup_src"), "OUTFALLS_DATA_DIR": str(tmp_path / "src")}


def test_restore_into_a_freshly_created_instance_needs_no_replace(external: dict[str, str], open_tmp: Path):
    run("demo", "seed", "--outfalls", "60", "--seed", "4", env=external)
    before = rows(external["OUTFALLS_DATABASE_URL"])
    archive = open_tmp / "catalogue.backup"
    run("db", "backup", str(archive), env=external)
    fresh = {"OUTFALLS_DATA_DIR": str(open_tmp / "fresh")}
    try:
        run("db", "up", env=fresh)  # migrates an empty catalogue: nothing there to protect
        restored = run("db", "restore", str(archive), env=fresh, check=False)
        assert restored.returncode == 0, restored.stderr
        assert rows(embedded_url(open_tmp / "fresh")) == before
        # over real data a restore still needs --replace
        refused = run("db", "restore", str(archive), env=fresh, check=False)
        assert (
            refused.returncode == 1 and "already holds a catalogue" in refused.stderr and "--replace" in refused.stderr
        )
        no_traceback(refused)
    finally:
        run("db", "down", env=fresh, check=False)


def _pg_dump(url: str, target: Path) -> None:
    from outfalls.db.cluster import find_bin_dir

    subprocess.run([str(find_bin_dir() / "pg_dump"), "-Fc", "--no-owner", "-f", str(target),
                    *backups.libpq_args(url)], check=True)  # fmt: skip


def test_a_truncated_backup_is_refused_and_the_catalogue_is_untouched(external: dict[str, str], tmp_path: Path):
    url = external["OUTFALLS_DATABASE_URL"]
    run("demo", "seed", "--outfalls", "120", "--seed", "6", env=external)
    before = rows(url)
    archive = tmp_path / "catalogue.backup"
    run("db", "backup", str(archive), env=external)
    plain = tmp_path / "plain.dump"
    _pg_dump(url, plain)
    for good in (archive, plain):
        cut = tmp_path / f"cut-{good.name}"
        data = good.read_bytes()
        cut.write_bytes(data[: len(data) * 2 // 3])
        out = run("db", "restore", "--replace", str(cut), env=external, check=False)
        assert out.returncode == 1, out.stdout
        assert outfall_count(url) == 120 and rows(url) == before
        no_traceback(out)
        assert "damaged or truncated" in out.stderr and str(cut) in out.stderr
    assert not {d for d in databases(url) if d.startswith("backup_src_")}
    assert [p.name for p in Path(external["OUTFALLS_DATA_DIR"]).iterdir() if p.name.startswith(".")] == []


def test_a_restore_that_fails_half_way_leaves_the_catalogue(
    external: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = settings_for(external)
    url = external["OUTFALLS_DATABASE_URL"]
    add_outfalls(url, 30)
    add_attachment(settings, url, b"the only photo of this outfall")
    archive = tmp_path / "catalogue.backup"
    backups.backup(settings, archive)
    add_outfalls(url, 5)  # newer than the backup: a failed restore must keep them
    before, files_before = rows(url), files_of(settings.storage.store_dir)

    real_pg_restore = backups.pg_restore

    def fails_after_some_tables(dump: Path, target_url: str) -> None:
        real_pg_restore(dump, target_url)
        raise DatabaseUnavailable("pg_restore failed: out of disk space")

    monkeypatch.setattr(backups, "pg_restore", fails_after_some_tables)
    with pytest.raises(DatabaseUnavailable, match="out of disk space"):
        backups.restore(settings, archive, replace=True)
    assert rows(url) == before and files_of(settings.storage.store_dir) == files_before
    assert not {d for d in databases(url) if d.startswith("backup_src_")}
    monkeypatch.undo()

    real_rename = backups.rename_database

    def refuses_the_new_name(admin: sa.Connection, old: str, new: str) -> None:
        if old.endswith("_restore"):
            raise DatabaseUnavailable(f"cannot rename {old}")
        real_rename(admin, old, new)

    monkeypatch.setattr(backups, "rename_database", refuses_the_new_name)
    with pytest.raises(DatabaseUnavailable, match="cannot rename"):
        backups.restore(settings, archive, replace=True)
    assert rows(url) == before and files_of(settings.storage.store_dir) == files_before
    assert not {d for d in databases(url) if d.startswith("backup_src_")}
    monkeypatch.undo()

    report = backups.restore(settings, archive, replace=True)
    assert report.replaced and outfall_count(url) == 30 and report.store_files == 1


def test_a_backup_holds_the_files_and_comes_back_whole(external: dict[str, str], open_tmp: Path):
    src = Path(external["OUTFALLS_DATA_DIR"])
    settings = settings_for(external)
    url = external["OUTFALLS_DATABASE_URL"]
    add_outfalls(url, 12)
    add_attachment(settings, url, b"\xff\xd8 a photo of the outfall")
    ingested = run("imagery", "ingest", str(ORTHO), "--json", env=external)
    assert json.loads(ingested.stdout)["status"] == "ingested"
    run("user", "add", "lintong", "--role", "crew", "--area", "610115", "--password-stdin", env=external,
        input_text="a long enough password\n")  # fmt: skip
    # caches are not backed up: they are rebuilt
    (settings.storage.store_dir / "thumbs" / "320").mkdir(parents=True)
    (settings.storage.store_dir / "thumbs" / "320" / "x.jpg").write_bytes(b"thumb")
    (settings.imagery.tile_cache_dir / "1").mkdir(parents=True)
    (settings.imagery.tile_cache_dir / "1" / "0.png").write_bytes(b"tile")
    before = rows(url)
    store = {k: v for k, v in files_of(settings.storage.store_dir).items() if not k.startswith("thumbs/")}
    imagery = files_of(settings.imagery.store_dir)
    assert len(store) == 1 and len(imagery) == 1

    archive = open_tmp / "catalogue.backup"
    made = run("db", "backup", str(archive), "--json", env=external)
    report = json.loads(made.stdout)
    assert report["file"] == str(archive) and report["bytes"] == archive.stat().st_size
    assert (report["store_files"], report["imagery_files"]) == (1, 1) and report["revision"]
    assert "dumping the database" in made.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"database.dump", "manifest.json"} <= set(names)
    assert {n.removeprefix("store/") for n in names if n.startswith("store/")} == set(store)
    assert {n.removeprefix("imagery/") for n in names if n.startswith("imagery/")} == set(imagery)
    assert manifest["revision"] == report["revision"] and set(manifest["members"]) == set(names) - {"manifest.json"}
    assert manifest["members"][f"store/{next(iter(store))}"]["sha256"] == next(iter(store.values()))

    # wipe the instance, then restore into a fresh one
    run("db", "backup", str(open_tmp / "again.backup"), env=external)
    shutil.rmtree(src)
    fresh_dir = open_tmp / "fresh"
    fresh = {"OUTFALLS_DATA_DIR": str(fresh_dir)}
    fresh_settings = settings_for(fresh)
    try:
        run("db", "up", env=fresh)
        (fresh_settings.imagery.tile_cache_dir / "9").mkdir(parents=True)
        (fresh_settings.imagery.tile_cache_dir / "9" / "stale.png").write_bytes(b"old tile")
        out = run("db", "restore", str(archive), "--json", env=fresh)
        result = json.loads(out.stdout)
        assert result["file"] == str(archive) and result["revision"] == manifest["revision"]
        assert (result["format"], result["files_restored"], result["store_files"], result["imagery_files"]) == (
            "archive", True, 1, 1,
        )  # fmt: skip
        assert "checking" in out.stderr and "swapping" in out.stderr
        assert rows(embedded_url(fresh_dir)) == before
        assert files_of(fresh_settings.storage.store_dir) == store
        assert files_of(fresh_settings.imagery.store_dir) == imagery
        assert not fresh_settings.imagery.tile_cache_dir.exists() or not files_of(fresh_settings.imagery.tile_cache_dir)
        assert [p.name for p in fresh_dir.iterdir() if p.name.startswith(".")] == []

        # a member changed after the backup was written is refused before anything is touched
        tampered = open_tmp / "tampered.backup"
        with tarfile.open(archive) as tar, tarfile.open(tampered, "w") as out_tar:
            for member in tar:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if member.name.startswith("store/"):
                    data = b"swapped" + data[7:]
                out_tar.addfile(member, io.BytesIO(data))
        bad = run("db", "restore", "--replace", str(tampered), env=fresh, check=False)
        assert bad.returncode == 1 and "checksum" in bad.stderr
        no_traceback(bad)
        assert rows(embedded_url(fresh_dir)) == before and files_of(fresh_settings.storage.store_dir) == store

        # an old plain pg_dump archive still restores, the database only, and says so
        plain = open_tmp / "plain.dump"
        _pg_dump(embedded_url(fresh_dir), plain)
        db_only = run("db", "restore", "--replace", str(plain), env=fresh)
        assert "database only" in db_only.stdout + db_only.stderr
        assert rows(embedded_url(fresh_dir)) == before and files_of(fresh_settings.storage.store_dir) == store
    finally:
        run("db", "down", env=fresh, check=False)
