"""``outfalls progress`` (progress against the targets as of any date) and ``outfalls target`` (list, add and
withdraw targets, with their history).
"""

from __future__ import annotations

from datetime import date

import click
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.cli import echo_json, session_scope, settings_of
from outfalls.errors import InvalidInput
from outfalls.scope import Scope


def _day(value: str | None, name: str) -> date | None:
    return None if value is None else clock.parse_day(value, field=name)


def _scope(session: Session, as_user: str | None) -> Scope:
    if as_user is None:
        return Scope.national()
    from outfalls.accounts import get_user, scope_of

    user = get_user(session, as_user)
    if not user.is_active:
        raise InvalidInput(f"user {as_user} is disabled", field="as")
    return scope_of(user)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@click.command()
@click.option(
    "--by",
    default="basin",
    show_default=True,
    metavar="basin|area",
    help="Group by basin → sub-basin → river, or by province → city → county.",
)
@click.option("--as-of", "as_of", default=None, metavar="DATE", help="Progress at the end of this day (default today).")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="METRIC",
    help="Only these metrics (surveyed, sampled, traced, remediating, remediated, closed); repeatable.",
)
@click.option("--as", "as_user", default=None, metavar="USER", help="Count only what USER may see.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_context
def progress(ctx: click.Context, by: str, as_of: str | None, metrics: tuple[str, ...], as_user: str | None,
             as_json: bool) -> None:  # fmt: skip
    """Progress against the targets, as of any date.

    Every row is one scope and one metric: how many outfalls reached the metric (count) out of those that
    existed that day (denominator: found by then, less rejected and merged ones), the share, the target due
    next and the gap in percentage points (positive: behind).
    """
    from outfalls import progress as domain

    settings = settings_of(ctx)
    chosen = metrics or domain.METRICS
    with session_scope(settings) as session:
        report = domain.progress(session, scope=_scope(session, as_user), by=by, as_of=_day(as_of, "as-of"),
                                 defaults=settings.targets, metrics=chosen)  # fmt: skip
    if as_json:
        echo_json([r.as_json() for r in report.rows])
        return
    shown = [m for m in chosen if m in ("traced", "remediated", "closed")] or list(chosen)
    click.echo(f"{'scope':<28} {'outfalls':>8}  " + "  ".join(f"{m:<30}" for m in shown))
    scopes = dict.fromkeys((r.scope_kind, r.scope_code) for r in report.rows)
    for kind, code in scopes:
        rows = {r.metric: r for r in report.rows if (r.scope_kind, r.scope_code) == (kind, code)}
        first = rows[chosen[0]]
        label = "  " * first.level + first.scope_name
        cells = []
        for m in shown:
            r = rows[m]
            target = f" / {_pct(r.target_share)} by {r.target_deadline}" if r.target_deadline else ""
            gap = f" gap {r.gap_pp:+.1f} pp" if r.gap_pp is not None else ""
            cells.append(f"{r.count:>6} {_pct(r.share):>6}{target}{gap}".ljust(30))
        click.echo(f"{label:<28} {first.denominator:>8}  " + "  ".join(cells))
    click.echo(f"as of {report.as_of}; denominator: outfalls found by then, less rejected and merged ones", err=True)


@click.group()
def target() -> None:
    """Targets: national defaults (config.toml) and provincial or basin targets, with history."""


@target.command("list")
@click.option("--as-of", "as_of", default=None, metavar="DATE", help="The targets in force that day (default today).")
@click.option("--history", is_flag=True, help="Every version ever set, withdrawn ones included.")
@click.option("--json", "as_json", is_flag=True, help="Print the targets as JSON.")
@click.pass_context
def list_(ctx: click.Context, as_of: str | None, history: bool, as_json: bool) -> None:
    """List the targets in force (or, with --history, every version)."""
    from outfalls import progress as domain

    settings = settings_of(ctx)
    with session_scope(settings) as session:
        if history:
            targets = domain.target_history(session, settings.targets)
        else:
            targets = domain.targets_in_force(session, domain.check_as_of(_day(as_of, "as-of")), settings.targets)
    if as_json:
        echo_json([t.as_dict() for t in targets])
        return
    for t in targets:
        where = t.scope_kind + (f":{t.scope_code}" if t.scope_code else "")
        share = "withdrawn" if t.share is None else _pct(t.share)
        click.echo(f"{where:<18} {t.metric:<12} {share:>9} by {t.deadline}  from {t.effective_on}  "
                   f"{t.actor}{'  ' + t.note if t.note else ''}")  # fmt: skip


@target.command()
@click.option(
    "--scope",
    "scope_text",
    required=True,
    metavar="KIND[:CODE]",
    help="all, basin:HH, sub_basin:HH-08, river:CODE or area:610000 (GB/T 2260).",
)
@click.option("--metric", required=True, help="surveyed, sampled, traced, remediating, remediated or closed.")
@click.option("--deadline", required=True, metavar="DATE", help="The day the share is due (2024-06-30).")
@click.option("--share", default=None, metavar="PERCENT", help="The share due, in percent (80).")
@click.option("--withdraw", is_flag=True, help="Withdraw the target (from --effective-on on) instead.")
@click.option(
    "--effective-on",
    "effective_on",
    default=None,
    metavar="DATE",
    help="From which day the target applies to progress (default today); earlier dates keep the old one.",
)
@click.option("--note", default=None, help="Where the target comes from (a document number, say).")
@click.option("--actor", default="cli", show_default=True, help="Who is recorded as setting it.")
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
@click.pass_context
def add(ctx: click.Context, scope_text: str, metric: str, deadline: str, share: str | None, withdraw: bool,
        effective_on: str | None, note: str | None, actor: str, as_json: bool) -> None:  # fmt: skip
    """Set a target for a scope (a new version; the history is kept)."""
    from outfalls import progress as domain

    kind, _, code = scope_text.partition(":")
    if withdraw == (share is not None):
        raise InvalidInput("give either --share PERCENT or --withdraw", field="share")
    fraction: float | None = None
    if share is not None:
        try:
            fraction = float(share.rstrip("%")) / 100
        except ValueError as err:
            raise InvalidInput(f"--share must be a percentage like 80, not {share!r}", field="share") from err
    day = _day(deadline, "deadline")
    assert day is not None  # a required option
    with session_scope(settings_of(ctx)) as session:
        t = domain.add_target(session, scope_kind=kind, scope_code=code or None, metric=metric, deadline=day,
                              share=fraction, actor=actor, scope=Scope.national(),
                              effective_on=_day(effective_on, "effective-on"), note=note)  # fmt: skip
        session.commit()
    if as_json:
        echo_json(t.as_dict())
        return
    what = "withdrawn" if t.share is None else f"{_pct(t.share)} {t.metric} by {t.deadline}"
    click.echo(f"target {t.id}: {kind}{':' + code if code else ''} {what}, from {t.effective_on}")
