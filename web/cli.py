"""``outfalls serve``: the web UI and API (a waitress WSGI server)."""

from __future__ import annotations

import errno
import os
import socket

import click

from outfalls.config import load_settings
from outfalls.db.engine import current_revision, ensure_database, head_revision
from outfalls.errors import OutfallsError


def _check_port(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise click.ClickException(f"cannot resolve host {host!r}: {err.strerror}") from err
    family, _type, _proto, _name, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use (another outfalls or program); "
                    "stop it or choose another with --port"
                ) from err
            raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}") from err


SERVE_THREADS = 8  # a dashboard asks for ~30 tiles and layers at once; most of a request's time is the database's


@click.command()
@click.option("--host", default=None, help="Address to listen on (default from config.toml: 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default from config.toml: 5000).")
@click.option("--threads", type=click.IntRange(1, 64), default=SERVE_THREADS, show_default=True, help="Worker threads.")
def serve(host: str | None, port: int | None, threads: int) -> None:
    """Serve the web UI and the API."""
    from waitress import serve as waitress_serve

    from outfalls.db.engine import make_engine
    from outfalls.progress import backlog
    from web import create_app

    try:
        settings = load_settings(env=os.environ)
        host = host or settings.server.host
        port = port or settings.server.port
        _check_port(host, port)
        url = ensure_database(settings, progress=lambda m: click.echo(m + " ...", err=True))
        if current_revision(url) != head_revision():
            raise click.ClickException("the database schema is not up to date: run `outfalls db up` first")
        app = create_app(settings)
        backlog.fold_soon(make_engine(url))  # what a stopped process left in the counts' backlog
    except OutfallsError as err:
        raise click.ClickException(err.message) from err
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"outfalls is serving on http://{shown}:{port}/  (Ctrl+C to stop)")
    loopback = {"localhost", "127.0.0.1", "::1"}
    if host not in loopback and not settings.server.public_url and set(settings.server.trusted_hosts) <= loopback:
        click.echo("note: only the names in [server] trusted_hosts are answered (now localhost and 127.0.0.1): set "
                   "[server] public_url, or add this server's names to trusted_hosts, so colleagues can reach it",
                   err=True)  # fmt: skip
    waitress_serve(app, host=host, port=port, threads=threads, ident="outfalls", _quiet=True)
