"""``outfalls db``: the embedded cluster (or the external server) and its schema."""

from __future__ import annotations

import os
from pathlib import Path

import click

from outfalls.cli import echo_json, settings_of
from outfalls.config import Settings
from outfalls.db import backup as backups
from outfalls.db import replicas as local
from outfalls.db.cluster import find_bin_dir
from outfalls.db.engine import (
    check_connection,
    cluster_for,
    current_revision,
    database_url,
    ensure_database,
    head_revision,
    migrate,
    redact,
)
from outfalls.errors import DatabaseUnavailable


@click.group()
def db() -> None:
    """Start, stop, migrate, back up and restore the database."""


def _say(message: str) -> None:
    click.echo(message + " ...", err=True)


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def up(ctx: click.Context, as_json: bool) -> None:
    """Start the embedded PostgreSQL server (creating it first) and migrate the schema."""
    settings = settings_of(ctx)
    url = ensure_database(settings, progress=_say)
    before = current_revision(url)
    if before != head_revision():
        _say(f"migrating the schema from {before or 'empty'} to {head_revision()}")
        migrate(url)
    for name in local.start_replicas(settings):
        _say(f"started the replica {name}")
    _print_status(settings, as_json)


@db.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the embedded PostgreSQL server."""
    settings = settings_of(ctx)
    if not settings.database.is_embedded:
        click.echo(f"an external database is configured ({redact(settings.database.url)}); nothing to stop")
        return
    for name in local.stop_replicas(settings):
        click.echo(f"stopped the replica {name}")
    if cluster_for(settings).stop():
        click.echo("stopped the embedded PostgreSQL server")
    else:
        click.echo("the embedded PostgreSQL server was not running")


def _status(settings: Settings) -> dict[str, object]:
    url = database_url(settings)
    info: dict[str, object] = {
        "embedded": settings.database.is_embedded,
        "url": redact(url),
        "data_dir": str(settings.storage.data_dir),
    }
    if settings.database.is_embedded:
        st = cluster_for(settings).status()
        info |= {
            "running": st.running,
            "initialised": st.initialised,
            "cluster_dir": st.data_dir,
            "socket_dir": st.socket_dir,
            "pid": st.pid,
        }
    else:
        try:
            check_connection(url)
            info["running"] = True
        except DatabaseUnavailable as err:
            info |= {"running": False, "error": err.message}
    revision = None
    if info["running"]:
        try:
            revision = current_revision(url)
        except Exception:  # noqa: BLE001 - a status report must not fail on an unreadable database
            revision = None
    info |= {"revision": revision, "head": head_revision()}
    if revision is not None and revision == info["head"]:
        info["count_backlog_rows"] = _count_backlog(url)
    states = local.replica_states(settings) if info["running"] else []
    info["replicas"] = [{"name": r.name, "url": redact(r.url), "state": r.state, "lag_bytes": r.lag_bytes}
                        for r in states]  # fmt: skip
    return info


def _count_backlog(url: str) -> int | None:
    """Milestone rows a bulk write left for the progress counts, not yet folded (None: unreadable)."""
    from sqlalchemy.orm import Session

    from outfalls.db.engine import make_engine
    from outfalls.progress import backlog

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return backlog.waiting(session)
    except Exception:  # noqa: BLE001 - a status report must not fail on an unreadable database
        return None
    finally:
        engine.dispose()


def _print_status(settings: Settings, as_json: bool) -> None:
    info = _status(settings)
    if as_json:
        echo_json(info)
        return
    where = "embedded cluster in " + str(info.get("cluster_dir")) if info["embedded"] else "external server"
    click.echo(f"database: {where}")
    click.echo(
        f"  running:  {'yes' if info['running'] else 'no'}" + (f" (pid {info['pid']})" if info.get("pid") else "")
    )
    click.echo(f"  url:      {info['url']}")
    click.echo(f"  data dir: {info['data_dir']}")
    if info["running"]:
        state = "up to date" if info["revision"] == info["head"] else f"needs migration to {info['head']}"
        click.echo(f"  schema:   {info['revision'] or 'empty'} ({state})")
    if info.get("count_backlog_rows"):
        click.echo(f"  counts:   {info['count_backlog_rows']:,} milestone rows wait to be added (`outfalls serve` "
                   "or the next command adds them)")  # fmt: skip
    if info.get("error"):
        click.echo(f"  error:    {info['error']}")
    for r in info["replicas"]:  # type: ignore[attr-defined]
        lag = "" if r["lag_bytes"] is None else f", {r['lag_bytes']} bytes behind"
        click.echo(f"  replica:  {r['name']} {r['state']}{lag} ({r['url']})")


@db.group()
def replica() -> None:
    """Add or remove local streaming replicas of the embedded cluster (read-only copies that serve reads)."""


@replica.command("add")
@click.option("--name", default=None, help="The replica's name (lower-case letters, digits, _); default replicaN.")
@click.option("--json", "as_json", is_flag=True, help='Print {"name", "url"} as JSON.')
@click.pass_context
def replica_add(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Create and start a streaming replica of the embedded cluster (pg_basebackup -R) under the data folder.

    The web server sends read-only pages and APIs to it while it keeps up (see [database] replica_max_lag_s).
    """
    settings = settings_of(ctx)
    ensure_database(settings, progress=_say)
    _say("copying the cluster (pg_basebackup)")
    name, cluster = local.add_replica(settings, name)
    url = cluster.url(settings.database.name)
    if as_json:
        echo_json({"name": name, "url": url})
    else:
        click.echo(f"added the replica {name}, streaming from the embedded cluster: {url}")


@replica.command("remove")
@click.argument("name")
@click.pass_context
def replica_remove(ctx: click.Context, name: str) -> None:
    """Stop the local replica NAME, drop its replication slot and delete its folder."""
    local.remove_replica(settings_of(ctx), name)
    click.echo(f"removed the replica {name}")


@db.command()
@click.option("--json", "as_json", is_flag=True,
              help='Print {"running", "url", "data_dir", "replicas": [{name, url, state, lag_bytes}], ...} as JSON.')
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Say where the database is and whether it is up."""
    _print_status(settings_of(ctx), as_json)


@db.command("migrate")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
@click.option("--json", "as_json", is_flag=True, help="Print the revisions as JSON.")
@click.pass_context
def migrate_cmd(ctx: click.Context, revision: str, as_json: bool) -> None:
    """Upgrade the schema (Alembic migrations in migrations/)."""
    settings = settings_of(ctx)
    url = ensure_database(settings, progress=_say)
    before = current_revision(url)
    migrate(url, revision)
    after = current_revision(url)
    if as_json:
        echo_json({"from": before, "to": after, "changed": before != after})
    elif before == after:
        click.echo(f"schema already at {after}; nothing to do")
    else:
        click.echo(f"migrated the schema from {before or 'empty'} to {after}")


@db.command()
@click.pass_context
def psql(ctx: click.Context) -> None:
    """Open psql on the catalogue database."""
    settings = settings_of(ctx)
    url = ensure_database(settings, progress=_say)
    exe = str(find_bin_dir() / "psql")
    os.environ.update(backups.libpq_env(url))
    os.execv(exe, [exe, *backups.libpq_args(url)])


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def backup(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Write the database and the file stores (attachments, exports, imagery) to FILE, one archive."""
    settings = settings_of(ctx)
    ensure_database(settings, progress=_say)
    report = backups.backup(settings, file, progress=_say)
    if as_json:
        echo_json({
            "file": str(file), "bytes": report.size_bytes, "revision": report.revision,
            "database_bytes": report.database_bytes, "store_files": report.store_files,
            "imagery_files": report.imagery_files,
        })  # fmt: skip
    else:
        click.echo(
            f"wrote {file} ({report.size_bytes / 1e6:.1f} MB): the database (schema {report.revision or 'empty'}), "
            f"{report.store_files} stored files, {report.imagery_files} imagery files"
        )


@db.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite a database that already holds a catalogue.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def restore(ctx: click.Context, file: Path, replace: bool, as_json: bool) -> None:
    """Restore the database and the file stores from FILE (made by `outfalls db backup`).

    The archive is checked first and the catalogue is swapped in only once complete: a failed restore leaves
    the instance as it was. A plain pg_dump archive restores the database only.
    """
    settings = settings_of(ctx)
    ensure_database(settings, progress=_say)
    report = backups.restore(settings, file, replace=replace, progress=_say)
    if not report.files_restored:
        click.echo(
            f"{file} is a plain pg_dump archive: restored the database only; the file stores were left as they are",
            err=True,
        )
    if as_json:
        echo_json({
            "file": str(file), "revision": report.revision, "backup_revision": report.backup_revision,
            "format": report.kind, "files_restored": report.files_restored, "store_files": report.store_files,
            "imagery_files": report.imagery_files, "replaced": report.replaced,
        })  # fmt: skip
        return
    what = (
        f"the database, {report.store_files} stored files, {report.imagery_files} imagery files"
        if report.files_restored
        else "the database only"
    )
    replaced = "; the previous catalogue was replaced" if report.replaced else ""
    click.echo(f"restored {file} (schema {report.revision}): {what}{replaced}")
