"""``outfalls reference``: basins, rivers, administrative areas and code lists."""

from __future__ import annotations

from pathlib import Path

import click

from outfalls.cli import echo_json, session_scope, settings_of
from outfalls.config import PROJECT_DIR


@click.group()
def reference() -> None:
    """Reference data: basins, rivers, administrative areas, code lists."""


@reference.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=PROJECT_DIR / "data" / "reference",
    show_default="data/reference",
    help="Folder with the reference files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print per-table counts as JSON.")
@click.pass_context
def load(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Load or refresh the reference data; a second run changes nothing and says so."""
    from outfalls.reference import load_reference

    with session_scope(settings_of(ctx)) as session:
        report = load_reference(session, directory, progress=None if as_json else lambda m: click.echo(m + " ..."))
        session.commit()
    if as_json:
        echo_json({"changed": report.changed, "tables": report.as_dict()})
        return
    for name, counts in report.tables.items():
        click.echo(
            f"  {name:<12} {counts.inserted:>5} new  {counts.updated:>5} updated  {counts.unchanged:>5} unchanged"
        )
    click.echo(
        "reference data is up to date; nothing changed" if not report.changed else f"{report.changed} rows changed"
    )
