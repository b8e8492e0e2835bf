"""The ``outfalls`` command line: one click group per noun; ``imagery`` and ``web`` add their commands
through the ``outfalls.commands`` entry points, so this package imports neither.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import click
from sqlalchemy.orm import Session

from outfalls import __version__
from outfalls.config import Settings, load_settings
from outfalls.errors import OutfallsError


@dataclass
class Context:
    """What every command gets: the settings, loaded once."""

    settings: Settings


class OutfallsGroup(click.Group):
    """A group that turns domain errors into clean messages (exit 1, no traceback) and adds the commands of
    the ``outfalls.commands`` entry points (``imagery``, ``serve``) when first asked for a command, so that a
    plug-in may import this module without a cycle.
    """

    _plugins_loaded = False

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group="outfalls.commands"):
            try:
                self.add_command(ep.load(), ep.name)
            except ImportError as err:  # a plug-in that cannot load must not break the rest
                print(f"outfalls: command '{ep.name}' unavailable: {err}", file=sys.stderr)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, plug-ins included."""
        self._load_plugins()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, plug-ins included."""
        self._load_plugins()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; an ``OutfallsError`` becomes a one-line message."""
        try:
            return super().invoke(ctx)
        except OutfallsError as err:
            raise click.ClickException(err.message) from err


@click.group(cls=OutfallsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="outfalls")
@click.pass_context
def main(ctx: click.Context) -> None:
    """outfalls: the river-outfall (入河排污口) catalogue.

    Settings come from config.toml, the file named by OUTFALLS_CONFIG, and OUTFALLS_* variables
    (OUTFALLS_DATA_DIR, OUTFALLS_DATABASE_URL).
    """
    try:
        ctx.obj = Context(settings=load_settings(env=os.environ))
    except OutfallsError as err:
        raise click.ClickException(err.message) from err


def settings_of(ctx: click.Context) -> Settings:
    """The settings of the running command."""
    obj = ctx.find_object(Context)
    if obj is None:  # called outside ``main`` (tests invoking a subcommand directly)
        obj = Context(settings=load_settings(env=os.environ))
        ctx.obj = obj
    return obj.settings


@contextmanager
def session_scope(settings: Settings, *, check_schema: bool = True) -> Iterator[Session]:
    """A session on the catalogue, starting the embedded server when needed; the caller commits."""
    from outfalls.db.engine import current_revision, ensure_database, head_revision, make_engine, make_sessionmaker
    from outfalls.errors import DatabaseUnavailable

    url = ensure_database(settings, progress=lambda m: click.echo(m + " ...", err=True))
    if check_schema:
        current, head = current_revision(url), head_revision()
        if current != head:
            raise DatabaseUnavailable(
                f"the database schema is at revision {current or 'none'}, this version needs {head}: "
                "run `outfalls db migrate`"
            )
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
            if check_schema:
                _fold_counts(session, engine)
    finally:
        engine.dispose()


def _fold_counts(session: Session, engine: Any) -> None:
    """Add what a bulk command left in the counts' backlog to the progress counts before exiting, with progress
    (a fold already running in this process, started by the commit, finishes first).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from outfalls.progress import backlog

    session.rollback()  # whatever the command left uncommitted is not the backlog's
    backlog.wait(engine)
    try:
        waiting = backlog.waiting(session)
        session.rollback()
        if not waiting:
            return
        with click.progressbar(length=waiting, label="progress counts", file=sys.stderr, show_eta=False) as bar:
            backlog.fold(session, progress=bar.update)
        backlog.wait(engine)
        backlog.tidy(engine)
    except SQLAlchemyError as err:  # what the command did is committed; the rows wait for the next fold
        session.rollback()
        click.echo(f"warning: the progress counts were not brought up to date ({err.__class__.__name__}); "
                   "`outfalls serve` or the next command does it", err=True)  # fmt: skip


def echo_json(value: Any) -> None:
    """Print one JSON document (UTF-8, Chinese unescaped)."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _register() -> None:
    from outfalls.cli import case, code, db, demo, outfall, progress, reference, register, signboard, survey, user

    main.add_command(db.db)
    main.add_command(user.user)
    main.add_command(user.token)
    main.add_command(outfall.outfall)
    main.add_command(reference.reference)
    main.add_command(demo.demo)
    main.add_command(progress.progress)
    main.add_command(progress.target)
    main.add_command(case.case)
    main.add_command(survey.survey)
    main.add_command(register.register)
    main.add_command(code.code)
    main.add_command(signboard.signboard)


_register()
