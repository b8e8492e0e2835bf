"""``outfalls survey``: import the files survey crews send, and the survey's coverage.

``survey import`` exits 0 when every row was accepted (rows received before count as accepted earlier), 2 when
some rows were rejected (the others are imported), and 1 for a file that cannot be used at all.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import click

from outfalls.cli import echo_json, session_scope, settings_of
from outfalls.survey.datums import DATUMS

STAGES = {"validated": 30, "stored": 50, "reconciled": 70, "created": 90}  # per cent of the progress bar


@click.group()
def survey() -> None:
    """Foot-survey intake: import survey files, GPS tracks and coverage."""


def _crs(datum: str | None, crs: str | None) -> str | None:
    from outfalls.errors import InvalidInput

    if datum and crs:
        raise InvalidInput("give --datum or --crs, not both", field="crs")
    return DATUMS[datum] if datum else crs


@survey.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--datum", type=click.Choice(sorted(DATUMS)), default=None,
              help="Datum of the coordinates (default: the file's own CRS, else WGS84).")  # fmt: skip
@click.option("--crs", default=None, metavar="EPSG:N", help="Any coordinate system by EPSG code (e.g. EPSG:4524).")
@click.option("--encoding", default=None,
              help="Text encoding of a CSV (default: detected: UTF-8, UTF-16 with BOM, GBK/GB18030 or Big5).")
@click.option("--mapping", "mapping_name", default=None, metavar="NAME|FIELD=COLUMN,...",
              help="A saved column mapping template, or the columns themselves (lon=E,lat=N).")
@click.option("--sheet", default=None, help="The sheet of a workbook with several.")
@click.option("--layer", default=None,
              help="The layer of a GeoPackage (or other GIS file) with several (default: its only point layer).")
@click.option("--crew", default=None, help="The crew (recorded as author of rows that name no surveyor).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (per file: a list when several).")
@click.pass_context
def import_(ctx: click.Context, files: tuple[Path, ...], datum: str | None, crs: str | None, encoding: str | None,
            mapping_name: str | None, sheet: str | None, layer: str | None, crew: str | None,
            as_json: bool) -> None:  # fmt: skip
    """Import survey files: tables, GIS files, field-app exports, or ZIPs of a table with its photos."""
    from outfalls.errors import OutfallsError
    from outfalls.survey.intake import import_table
    from outfalls.survey.mapping import ColumnMapping, NoCoordinates, require_position
    from outfalls.survey.readers import read_path

    settings = settings_of(ctx)
    declared = _crs(datum, crs)
    reports: list[dict[str, Any]] = []
    unusable = rejected = False
    with session_scope(settings) as session:
        mapping = _mapping(session, mapping_name)
        for path in files:
            try:
                table = read_path(path, path.name, encoding=encoding, sheet=sheet, layer=layer, limits=settings.upload)
                try:
                    require_position(table, ColumnMapping.for_table(table, mapping))
                except NoCoordinates as err:
                    raise NoCoordinates(f"{err.message}: give --mapping lon=COLUMN,lat=COLUMN (or x=…,y=…), or the "
                                        "name of a saved mapping", **err.params) from err  # fmt: skip
                with click.progressbar(length=100, label=f"{path.name}", file=sys.stderr,
                                       show_eta=False) as bar:  # fmt: skip
                    stages = {"validated": 30, "stored": 50, "reconciled": 70, "created": 90}

                    def step(
                        stage: str, _done: int, _total: int, bar: Any = bar, stages: dict[str, int] = stages
                    ) -> None:
                        target = stages.get(stage, 0)
                        if target > bar.pos:
                            bar.update(target - bar.pos)

                    report = import_table(
                        session, table, settings=settings, actor="cli", crew=crew, crs=declared, mapping=mapping,
                        file_name=path.name, file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        progress=step,
                    )  # fmt: skip
                    session.commit()
                    bar.update(100 - bar.pos)
            except OutfallsError as err:
                session.rollback()
                if len(files) == 1:
                    raise
                click.echo(f"{path.name}: {err.message}", err=True)
                reports.append({"file": path.name, "error": err.code, "message": err.message})
                unusable = True
                continue
            data = report.as_dict() | {"file": path.name}
            reports.append(data)
            rejected = rejected or bool(report.rejected)
            if not as_json:
                _print(report, path.name)
    if as_json:
        echo_json(reports[0] if len(reports) == 1 else reports)
    sys.exit(1 if unusable else 2 if rejected else 0)


def _mapping(session: Any, value: str | None) -> dict[str, str] | None:
    """``--mapping``: the columns given as ``field=column,...``, or the fields of a saved template."""
    from outfalls.errors import InvalidInput
    from outfalls.survey.mapping import load_template

    if not value:
        return None
    if "=" not in value:
        return load_template(session, value)
    pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
    if any(len(p) != 2 or not p[0].strip() for p in pairs):
        raise InvalidInput("--mapping: give FIELD=COLUMN pairs separated by commas (lon=E,lat=N)", field="mapping")
    return {f.strip(): c.strip() for f, c in pairs}


def _print(report: Any, name: str) -> None:
    click.echo(f"{name}: {report.rows} rows — {report.accepted} accepted, {report.rejected_rows} rejected, "
               f"{report.already_received} already received")  # fmt: skip
    click.echo(f"  outfalls: {report.new_outfalls} new, {report.linked} linked to existing ones, "
               f"{report.queued_for_review} left for review; coordinates read as {report.crs}")  # fmt: skip
    for note in report.notes:
        click.echo(f"  note: {note}")
    for p in report.rejected:
        click.echo(f"  row {p.row}  {p.field}  {p.code}: {p.message}")
    for w in report.warnings:
        click.echo(f"  row {w.row}  {w.field}  warning {w.code}: {w.message}")
    if report.photos:
        click.echo("  photos: " + ", ".join(f"{n} {k}" for k, n in report.photos.items() if n))


from outfalls.cli.survey_tracks import coverage, retire_track, tracks  # noqa: E402  (their own module)

survey.add_command(tracks)
survey.add_command(coverage)
survey.add_command(retire_track)
