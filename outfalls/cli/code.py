"""``outfalls code``: local codes (and names) by the coding rule of ``[coding]``."""

from __future__ import annotations

import click

from outfalls.cli import echo_json, session_scope, settings_of


@click.group()
def code() -> None:
    """Local outfall codes (排污口编码) by the coding rule of [coding] in config.toml."""


@code.command("assign")
@click.option("--area", default=None, metavar="CODE", help="Only this province, city or county (GB/T 2260).")
@click.option("--basin", default=None, metavar="CODE", help="Only this basin or sub-basin (HH, HH-08 ...).")
@click.option("--dry-run", is_flag=True, help="Say which codes would be given; write nothing.")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded on the coded events.")
@click.option("--json", "as_json", is_flag=True, help="Print {dry_run, rule, assigned: [{outfall_id, code, name}], "
              "skipped: [{outfall_id, reason}]}.")  # fmt: skip
@click.pass_context
def assign(ctx: click.Context, area: str | None, basin: str | None, dry_run: bool, actor: str, as_json: bool) -> None:
    """Give local codes (and names, when missing) to the confirmed outfalls that have none, oldest first, each
    as a 'coded' event. A code once given never changes and is never given again.
    """
    from outfalls.public.assign import assign_codes
    from outfalls.public.coding import CodingRule

    settings = settings_of(ctx)
    rule = CodingRule.of(settings.coding)
    with session_scope(settings) as session:
        result = assign_codes(session, rule, actor=actor, area=area, basin=basin, dry_run=dry_run,
                              bank_max_m=settings.coding.bank_max_m)  # fmt: skip
        if not dry_run:
            session.commit()
    if as_json:
        echo_json(result.as_dict())
        return
    for c in result.assigned:
        click.echo(f"{c.outfall_id:>8}  {c.code}" + (f"  {c.name}" if c.name else ""))
    for s in result.skipped:
        click.echo(f"{s.outfall_id:>8}  skipped: {s.reason}", err=True)
    verb = "would be given" if dry_run else "given"
    click.echo(f"{len(result.assigned)} codes {verb}; {len(result.skipped)} outfalls left out", err=True)


@code.command("check")
@click.argument("codes", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print [{code, ok, message}].")
@click.pass_context
def check(ctx: click.Context, codes: tuple[str, ...], as_json: bool) -> None:
    """Check given codes against the coding rule; exits 2 when any does not follow it."""
    from outfalls.errors import InvalidInput
    from outfalls.public.coding import CodingRule

    rule = CodingRule.of(settings_of(ctx).coding)
    results = []
    for value in codes:
        try:
            rule.check(value)
            results.append({"code": value, "ok": True, "message": ""})
        except InvalidInput as err:
            results.append({"code": value, "ok": False, "message": err.message})
    if as_json:
        echo_json(results)
    else:
        for r in results:
            click.echo(f"{r['code']}  {'ok' if r['ok'] else r['message']}")
    if not all(r["ok"] for r in results):
        ctx.exit(2)
