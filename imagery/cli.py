"""``outfalls imagery``: ingest orthophotos, keep flight records, lay out interpretation cells, report the yield.

``imagery ingest`` exits 0 when every file was ingested (or had been before) and 1 when any file was refused;
the others are still ingested.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from outfalls import clock
from outfalls.cli import echo_json, session_scope, settings_of

ACTOR = "cli"


@click.group()
def imagery() -> None:
    """Drone imagery: orthophotos, flight records, interpretation cells and the yield of each survey level."""


def _day(value: str | None, option: str) -> date | None:
    return None if value is None else clock.parse_day(value, field=option)


@imagery.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sortie", default=None, metavar="ID", help="The sortie (flight) the images come from, by its code.")
@click.option("--captured", default=None, metavar="DATE",
              help="Capture date, YYYY-MM-DD (default: the TIFF's own date, if any).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (per file: a list when several).")
@click.pass_context
def ingest(ctx: click.Context, files: tuple[Path, ...], sortie: str | None, captured: str | None,
           as_json: bool) -> None:  # fmt: skip
    """Ingest georeferenced GeoTIFFs as Cloud-Optimized GeoTIFFs with the footprint of their valid pixels."""
    from imagery.ingest import IngestResult, ingest_orthophoto, refused
    from outfalls.errors import OutfallsError

    settings = settings_of(ctx)
    captured_on = _day(captured, "--captured")
    results: list[IngestResult] = []
    with session_scope(settings) as session:
        for path in files:
            if not path.is_file():
                results.append(refused(str(path), f"{path} does not exist"))
                continue
            try:
                with session.begin_nested():
                    result = ingest_orthophoto(session, path, store_dir=settings.imagery.store_dir, actor=ACTOR,
                                               sortie=sortie, captured_on=captured_on, name=str(path))  # fmt: skip
            except OutfallsError as err:
                result = refused(str(path), err.message)
            results.append(result)
        session.commit()
    if as_json:
        echo_json(results[0].as_dict() if len(results) == 1 else [r.as_dict() for r in results])
    else:
        for r in results:
            if r.status == "refused":
                click.echo(f"refused {r.file}: {r.message}", err=True)
            else:
                click.echo(f"{r.status} {r.file}: orthophoto {r.id}, {r.crs}, {r.resolution_m} m/pixel, "
                           f"valid area {r.footprint_area_m2:,.0f} m²")  # fmt: skip
    if any(r.status == "refused" for r in results):
        sys.exit(1)


@imagery.command("sortie")
@click.argument("code")
@click.option("--date", "flown_on", default=None, metavar="DATE", help="Flight date (YYYY-MM-DD).")
@click.option("--aircraft", default=None, help="Aircraft type (fixed-wing, multirotor, hybrid, model).")
@click.option("--altitude", type=float, default=None, help="Flight altitude (m).")
@click.option("--area-km2", type=float, default=None, help="Area flown (km²).")
@click.option("--length-km", type=float, default=None, help="Length flown (km).")
@click.option("--photos", type=int, default=None, help="Photos taken.")
@click.option("--operator", default=None, help="Pilot or flight team.")
@click.option("--basin", default=None, help="Basin code.")
@click.option("--river", default=None, help="River code.")
@click.option("--json", "as_json", is_flag=True, help="Print the sortie as JSON.")
@click.pass_context
def sortie_(ctx: click.Context, code: str, flown_on: str | None, aircraft: str | None, altitude: float | None,
            area_km2: float | None, length_km: float | None, photos: int | None, operator: str | None,
            basin: str | None, river: str | None, as_json: bool) -> None:  # fmt: skip
    """Record (or complete) the flight record of a sortie."""
    from imagery.flights import SortieInput, list_sorties, record_sortie
    from outfalls.scope import Scope

    values = SortieInput(flown_on=_day(flown_on, "--date"), aircraft_type=aircraft, altitude_m=altitude,
                         area_km2=area_km2, length_km=length_km, photo_count=photos, operator=operator,
                         basin_code=basin, river_code=river)  # fmt: skip
    with session_scope(settings_of(ctx)) as session:
        record = record_sortie(session, code, values, actor=ACTOR)
        session.commit()
        row = next(r for r in list_sorties(session, scope=Scope.national()) if r.id == record.id)
    if as_json:
        echo_json(row.as_dict())
    else:
        click.echo(f"sortie {row.code}: {row.flown_on or '-'}, {row.orthophotos} orthophotos")


@imagery.command("flights")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: {sorties: [...], areas: [...]}.")
@click.pass_context
def flights(ctx: click.Context, as_json: bool) -> None:
    """The flight records and the flight-area statistics per basin and river."""
    from imagery.flights import flight_statistics, list_sorties
    from outfalls.scope import Scope

    with session_scope(settings_of(ctx)) as session:  # the operator's command line sees everything
        national = Scope.national()
        sorties, areas = list_sorties(session, scope=national), flight_statistics(session, scope=national)
    if as_json:
        echo_json({"sorties": [s.as_dict() for s in sorties], "areas": [a.as_dict() for a in areas]})
        return
    for s in sorties:
        click.echo(f"{s.code}\t{s.flown_on or '-'}\t{s.aircraft_type or '-'}\t{s.photo_count or 0} photos\t"
                   f"{s.orthophotos} orthophotos\t{s.covered_km2} km²")  # fmt: skip
    for a in areas:
        click.echo(f"{a.basin or '-'} / {a.river or '-'}: {a.sorties} sorties, {a.area_km2} km² flown, "
                   f"{a.photos} photos, {a.covered_km2} km² covered")  # fmt: skip


@imagery.command("cells")
@click.option("--basin", required=True, help="Basin code (e.g. HH for the Yellow River basin).")
@click.option("--json", "as_json", is_flag=True, help="Print {basin, created, updated}.")
@click.pass_context
def cells_(ctx: click.Context, basin: str, as_json: bool) -> None:
    """Lay out (or extend after new imagery) the interpretation cells of a basin's river corridor."""
    from imagery.cells import build_cells

    settings = settings_of(ctx)
    s = settings.imagery
    with session_scope(settings) as session:
        layout = build_cells(session, basin, landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
        session.commit()
    if as_json:
        echo_json(layout.as_dict())
    else:
        click.echo(f"basin {layout.basin}: {layout.created} new cells, {layout.updated} updated")


@imagery.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print what was made as JSON.")
@click.pass_context
def demo(ctx: click.Context, as_json: bool) -> None:
    """Demo imagery (演示): generated orthophotos along the Wei in Xi'an with sorties, cells, marks (some reviewed),
    candidates and a verification task for the demo crew (skipped when demo imagery exists).
    """
    from dataclasses import asdict

    from imagery.demo import seed_demo_imagery

    settings = settings_of(ctx)
    s = settings.imagery
    with session_scope(settings) as session:
        made = seed_demo_imagery(session, store_dir=s.store_dir, landward_m=s.landward_m, waterward_m=s.waterward_m,
                                 cell_m=s.cell_m)  # fmt: skip
        session.commit()
    if as_json:
        echo_json(asdict(made))
    elif made.existing:
        click.echo(f"demo imagery exists already ({made.existing} orthophotos); nothing changed")
    else:
        click.echo(f"demo imagery: {made.orthophotos} orthophotos from {made.sorties} sorties, {made.cells} cells, "
                   f"{made.marks} marks, {made.candidates} candidates, a task of {made.task_stops} stops for "
                   "crew_xian")  # fmt: skip


@imagery.command("yield")
@click.option("--json", "as_json", is_flag=True, help="Print {basins: [...], sorties: [...]}.")
@click.pass_context
def yield_(ctx: click.Context, as_json: bool) -> None:
    """Candidates, confirmed, rejected and pending per basin and sortie; outfalls found only on foot or by experts."""
    from imagery.candidates import yield_report
    from outfalls.scope import Scope

    with session_scope(settings_of(ctx)) as session:
        report = yield_report(session, scope=Scope.national())
    if as_json:
        echo_json({k: [r.as_dict() for r in rows] for k, rows in report.items()})
        return
    for key, rows in report.items():
        click.echo(key)
        for r in rows:
            click.echo(f"  {r.name}: {r.marks} marked, {r.candidates} candidates, {r.confirmed} confirmed, "
                       f"{r.rejected} not an outfall, {r.pending} pending, {r.foot_only} only on foot, "
                       f"{r.expert_only} by experts, {r.public_reports} public reports "
                       f"({r.public_confirmed} confirmed)")  # fmt: skip
