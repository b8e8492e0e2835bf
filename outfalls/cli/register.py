"""``outfalls register export``: the outfall register (名录) of a scope as of a date, in an office or GIS format."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from outfalls import clock
from outfalls.cli import echo_json, session_scope, settings_of

PROGRESS_FROM = 20_000  # rows: below this an export takes about a second and shows no bar


@click.group()
def register() -> None:
    """Registers (名录): export the outfall register of a basin or area as of a date."""


def _day(value: str | None) -> date | None:
    return None if value is None else clock.parse_day(value, field="--as-of")


@register.command("export")
@click.option("--basin", default=None, metavar="CODE", help="Only this basin or sub-basin (HH, HH-08, CJ-10 ...).")
@click.option("--area", default=None, metavar="CODE", help="Only this province, city or county (GB/T 2260).")
@click.option("--as-of", "as_of", default=None, metavar="DATE", help="The register as it stood at the end of this day "
              "(default today).")  # fmt: skip
@click.option("--format", "fmt", default="xlsx", show_default=True, metavar="xlsx|csv|gpkg|shp|geojson|kml|fgb|html",
              help="xlsx, csv (UTF-8 with BOM), gpkg, shp (zipped), geojson, kml, fgb, or html (one self-contained "
                   "map file that opens with no network).")  # fmt: skip
@click.option("--crs", default="4490", show_default=True, metavar="4490|4326",
              help="Coordinates in CGCS2000 (4490) or WGS 84 (4326).")  # fmt: skip
@click.option("--by", default="basin", show_default=True, metavar="basin|type",
              help="XLSX: one sheet per basin, or per 一级 type.")  # fmt: skip
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (replaced if it exists).")  # fmt: skip
@click.option("--actor", default="cli", show_default=True, help="Who is recorded in the audit log as exporting.")
@click.option("--json", "as_json", is_flag=True, help="Print a summary object: file, format, rows, crs, as_of, scope, "
              "sha256.")  # fmt: skip
@click.pass_context
def export(ctx: click.Context, basin: str | None, area: str | None, as_of: str | None, fmt: str, crs: str, by: str,
           output: Path, actor: str, as_json: bool) -> None:  # fmt: skip
    """Export the register: every outfall of the scope as it stood at the end of --as-of, computed from the
    events (outfalls found later, rejected candidates and merged duplicates are left out). The same scope and
    date give the same file again. The export is recorded in the audit log.
    """
    from outfalls import registers
    from outfalls.scope import Scope

    kind = registers.check_format(fmt.lower())
    srid = registers.check_crs(crs)
    day = registers.check_as_of(_day(as_of))
    registers.check_output(output)
    settings = settings_of(ctx)
    with session_scope(settings) as session:
        bar: Any = None

        def step(_stage: str, done: int, total: int) -> None:
            nonlocal bar
            if bar is None and total >= PROGRESS_FROM:
                bar = click.progressbar(length=total, label=f"{output.name}", file=sys.stderr, show_eta=False)
                bar.__enter__()
            if bar is not None and done > bar.pos:
                bar.update(min(done, bar.length) - bar.pos)

        try:
            result = registers.export_register(session, output, fmt=kind, scope=Scope.national(), basin=basin,
                                               area=area, as_of=day, crs=srid, by=by, progress=step,
                                               targets=settings.targets)  # fmt: skip
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        registers.record_export(session, result, actor=actor)
        session.commit()
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(f"{result.file}: {result.rows} outfalls as of {result.as_of}, {result.format}, EPSG:{result.crs}, "
               f"scope {result.scope}; sha256 {result.sha256}")  # fmt: skip
