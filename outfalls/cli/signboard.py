"""``outfalls signboard``: print-ready sign boards (标识牌) with a QR code, one a page, as PDF."""

from __future__ import annotations

from pathlib import Path

import click

from outfalls.cli import echo_json, session_scope, settings_of


@click.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--area", default=None, metavar="CODE", help="Every public outfall of this area (GB/T 2260).")
@click.option("--basin", default=None, metavar="CODE", help="With --area: only this basin or sub-basin.")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (replaced if it exists).")  # fmt: skip
@click.option("--size", type=click.Choice(["A4", "A3"]), default="A4", show_default=True, help="Paper size.")
@click.option("--json", "as_json", is_flag=True, help="Print {file, boards: [{outfall_id, code, url}]}.")
@click.pass_context
def signboard(ctx: click.Context, ids: tuple[int, ...], area: str | None, basin: str | None, output: Path,
              size: str, as_json: bool) -> None:  # fmt: skip
    """Print sign boards: name, codes, type, receiving water, responsible party, the supervising department and
    its hotline, the standardisation state and a QR code opening the outfall's public page (the public address
    is [server] public_url). Give outfall IDs, or --area (and --basin).
    """
    from outfalls.public.boards import boards_pdf, select_boards
    from outfalls.scope import Scope

    settings = settings_of(ctx)
    base_url = settings.server.public_url
    if not base_url:
        base_url = f"http://{settings.server.host}:{settings.server.port}/"
        click.echo(f"warning: [server] public_url is not set; the QR codes open {base_url}", err=True)
    if output.suffix.lower() != ".pdf":
        raise click.BadParameter("the output file must end with .pdf", param_hint="-o")
    with session_scope(settings) as session:
        boards = select_boards(session, settings, base_url=base_url, ids=list(ids) or None, area=area, basin=basin,
                               scope=Scope.national())  # fmt: skip
    pdf = boards_pdf(boards, settings, size=size)
    output.write_bytes(pdf)
    if as_json:
        echo_json({"file": str(output), "boards": [b.summary() for b in boards]})
        return
    click.echo(f"{output}: {len(boards)} sign boards ({size})")
