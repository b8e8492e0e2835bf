"""``outfalls survey tracks`` (import GPS tracks of a crew) and ``outfalls survey coverage`` (walked km of each
river against its length).
"""

from __future__ import annotations

from pathlib import Path

import click

from outfalls.cli import echo_json, session_scope, settings_of


@click.command("tracks")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crew", required=True, help="The crew who walked (as it should appear in coverage).")
@click.option("--layer", default=None, help="The line layer of a GeoPackage with several layers.")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded as importing.")
@click.option("--json", "as_json", is_flag=True, help="Print one report per file as a JSON list.")
@click.pass_context
def tracks(
    ctx: click.Context, files: tuple[Path, ...], crew: str, layer: str | None, actor: str, as_json: bool
) -> None:
    """Import GPS tracks (GPX, KML/KMZ, GeoPackage lines) walked by a crew, one per local day.

    A file imported before adds nothing. When a file is refused, none of the files is imported.
    """
    from outfalls.survey.tracks import import_tracks

    settings = settings_of(ctx)
    with session_scope(settings) as session:
        reports = [
            import_tracks(session, path, path.name, crew=crew, actor=actor, bbox=settings.region.bbox, layer=layer)
            for path in files
        ]
        session.commit()
    if as_json:
        echo_json([r.as_dict() for r in reports])
        return
    for r in reports:
        km = sum(t.length_m for t in r.tracks) / 1000
        days = sorted({t.day.isoformat() if t.day else "day unknown" for t in r.tracks})
        if r.already_imported:
            click.echo(f"{r.file}: imported before ({len(r.tracks)} tracks of {r.crew}); nothing added")
        else:
            click.echo(f"{r.file}: {r.added} tracks, {km:.2f} km, {r.crew}, {', '.join(days)}")
        for note in r.notes:
            click.echo(f"  {note}", err=True)


@click.command("coverage")
@click.option("--river", default=None, metavar="NAME", help="Only this river (name or code).")
@click.option("--corridor", "corridor_m", type=float, default=None, metavar="M",
              help="Corridor along the river line in metres (default: survey.corridor_m).")  # fmt: skip
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of {river, river_km, walked_km, share, by_crew}."
)
@click.pass_context
def coverage(ctx: click.Context, river: str | None, corridor_m: float | None, as_json: bool) -> None:
    """Survey coverage: walked km of each river (within the corridor of the GPS tracks) against its length."""
    from outfalls.survey.tracks import coverage as river_coverage

    settings = settings_of(ctx)
    corridor = settings.survey.corridor_m if corridor_m is None else corridor_m
    with session_scope(settings) as session:
        rows = river_coverage(session, river=river, corridor_m=corridor)
    if as_json:
        echo_json([r.as_dict() for r in rows])
        return
    for r in rows:
        crews = ", ".join(f"{crew} {km:.2f}" for crew, km in r.by_crew.items())
        click.echo(f"{r.river:<14} {r.river_code:<12} {r.walked_km:>9.2f} of {r.river_km:>9.2f} km "
                   f"{r.share * 100:>6.1f} %{'  ' + crews if crews else ''}")  # fmt: skip
    click.echo(f"walked: river line within {corridor:g} m of a GPS track; a stretch walked twice counts once", err=True)


@click.command("retire-track")
@click.argument("track_id", type=int)
@click.option("--reason", required=True, help="Why the track does not count (kept with it).")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded as retiring it.")
@click.pass_context
def retire_track(ctx: click.Context, track_id: int, reason: str, actor: str) -> None:
    """Take a wrong GPS track out of coverage and the map; it stays stored, marked retired."""
    from outfalls.survey.tracks import retire_track as retire

    with session_scope(settings_of(ctx)) as session:
        track = retire(session, track_id, actor=actor, reason=reason)
        session.commit()
        click.echo(f"track {track.id} ({track.crew}, {track.day or 'day unknown'}, {track.source_name}) retired")
