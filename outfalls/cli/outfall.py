"""``outfalls outfall``: read the catalogue from the command line. The operator at the command line sees
everything; ``--as USER`` applies that user's scope, exactly as the web does for them.
"""

from __future__ import annotations

import dataclasses

import click
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.cli import echo_json, session_scope, settings_of
from outfalls.scope import Scope


def _scope(session: Session, as_user: str | None) -> Scope:
    if as_user is None:
        return Scope.national()
    from outfalls.accounts import get_user, scope_of

    user = get_user(session, as_user)
    if not user.is_active:
        raise click.ClickException(f"user {as_user} is disabled")
    return scope_of(user)


@click.group()
def outfall() -> None:
    """List and show outfalls."""


@outfall.command("list")
@click.option("--basin", default=None, help="Basin or sub-basin code (HH, HH-08, CJ-10 ...).")
@click.option("--area", default=None, help="GB/T 2260 code of a province, city or county.")
@click.option("--type", "type_code", default=None, help="HJ 1312-2023 type code (matches sub-types).")
@click.option("--status", default=None, help="Lifecycle state (surveyed, traced, remediated ...).")
@click.option("--q", default=None, help="Text in the name or codes.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--as", "as_user", default=None, metavar="USER", help="See only what USER may see.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@click.pass_context
def list_(ctx: click.Context, basin: str | None, area: str | None, type_code: str | None, status: str | None,
          q: str | None, page: int, page_size: int, as_user: str | None, as_json: bool) -> None:  # fmt: skip
    """List outfalls, newest first."""
    from outfalls.catalogue.queries import OutfallFilter, list_outfalls
    from outfalls.errors import InvalidInput
    from outfalls.types import OutfallStatus

    try:
        state = OutfallStatus(status) if status else None
    except ValueError as err:
        raise InvalidInput(f"unknown status {status!r}", field="status") from err
    with session_scope(settings_of(ctx)) as session:
        f = OutfallFilter(basin=basin, area=area, type_code=type_code, status=state, q=q)
        result = list_outfalls(session, f, scope=_scope(session, as_user), page=page, page_size=page_size)
    if as_json:
        items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dataclasses.asdict(i).items()}
                 for i in result.items]  # fmt: skip
        echo_json({"items": items, "total": result.total, "page": result.page, "pages": result.pages})
        return
    for i in result.items:
        click.echo(f"{i.id:>8}  {i.status:<12} {i.area or '—':<8} {i.name}")
    click.echo(f"{result.total} outfalls; page {result.page} of {result.pages}", err=True)


@outfall.command()
@click.argument("outfall_id", type=int)
@click.option("--as", "as_user", default=None, metavar="USER", help="See only what USER may see.")
@click.option("--json", "as_json", is_flag=True, help="Print the outfall as JSON.")
@click.pass_context
def show(ctx: click.Context, outfall_id: int, as_user: str | None, as_json: bool) -> None:
    """Show one outfall with its history."""
    from outfalls.catalogue.queries import get_outfall

    with session_scope(settings_of(ctx)) as session:
        d = get_outfall(session, outfall_id, scope=_scope(session, as_user))
    if as_json:
        echo_json(dataclasses.asdict(d))
        return
    o = d.row
    click.echo(f"{o.name}  [{o.status}]")
    click.echo(f"  codes:    national {o.national_code or '—'}, local {o.local_code or '—'}")
    click.echo(f"  type:     {' › '.join(zh for _c, zh, _en in d.type_path)} ({o.type_code})")
    click.echo(f"  where:    {' › '.join(n for _c, n in d.admin_path)}; {o.basin or '—'} › {o.sub_basin or '—'}; "
               f"{o.river or '—'}; {o.lon:.6f}, {o.lat:.6f} (CGCS2000)")  # fmt: skip
    for e in d.events:
        click.echo(f"  {clock.day_of(e.effective_at)}  {e.kind:<22} {e.actor}")
