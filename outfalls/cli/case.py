"""``outfalls case``: bulk work on cases (assign, deadline, remediation category) and the keep list (需保留清单).

A selection is the outfall ids given as arguments, or every outfall matching the filter options. The result
is one line per refused outfall (or, with ``--json``, the full per-outfall report); exit code 1 when any
outfall was refused, so scripts notice.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import click
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.cli import echo_json, session_scope, settings_of


def _selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.argument("outfall_ids", nargs=-1, type=int),
        click.option("--basin", default=None, help="Every outfall of this basin or sub-basin code."),
        click.option("--area", default=None, help="Every outfall of this GB/T 2260 area code."),
        click.option("--status", default=None, help="Only outfalls in this lifecycle state."),
        click.option("--on", "on", default=None, metavar="DATE",
                     help="Effective date of the change, YYYY-MM-DD (default: today)."),
        click.option("--actor", default="cli", show_default=True, help="Who is recorded as making the change."),
        click.option("--json", "as_json", is_flag=True, help="Print the per-outfall report as JSON."),
    ]):  # fmt: skip
        fn = option(fn)
    return fn


def _ids(session: Session, outfall_ids: Sequence[int], basin: str | None, area: str | None,
         status: str | None) -> list[int]:  # fmt: skip
    from outfalls.cases.assignment import MAX_SELECTION
    from outfalls.catalogue.queries import OutfallFilter, matching_ids
    from outfalls.errors import InvalidInput
    from outfalls.scope import Scope
    from outfalls.types import OutfallStatus

    if outfall_ids and (basin or area or status):
        raise InvalidInput("give outfall ids or filters (--basin, --area, --status), not both", field="selection")
    if outfall_ids:
        return list(outfall_ids)
    if not (basin or area or status):
        raise InvalidInput("name the outfalls: ids, or --basin / --area / --status", field="selection")
    try:
        state = OutfallStatus(status) if status else None
    except ValueError as err:
        raise InvalidInput(f"unknown status {status!r}", field="status") from err
    f = OutfallFilter(basin=basin, area=area, status=state)
    return matching_ids(session, f, scope=Scope.national(), limit=MAX_SELECTION + 1)


def _report(report: Any, as_json: bool) -> None:
    if as_json:
        echo_json(report.as_dict())
    else:
        for r in report.refused:
            click.echo(f"{r.outfall_id:>8}  refused  {r.code}: {r.message}")
        unchanged = sum(1 for r in report.results if r.code == "unchanged")
        click.echo(f"{report.changed} changed, {unchanged} already so, {len(report.refused)} refused", err=True)
    if report.refused:
        sys.exit(1)


def _day(value: str | None, option: str) -> date | None:
    return None if value is None else clock.parse_day(value, field=option)


@click.group()
def case() -> None:
    """Bulk work on cases and the keep list."""


@case.command()
@click.option("--to", "officer", default=None, metavar="LOGIN", help="The case officer (omit with --unassign).")
@click.option("--unassign", is_flag=True, help="Take the cases back from whoever has them.")
@_selection_options
@click.pass_context
def assign(ctx: click.Context, officer: str | None, unassign: bool, outfall_ids: tuple[int, ...], basin: str | None,
           area: str | None, status: str | None, on: str | None, actor: str, as_json: bool) -> None:  # fmt: skip
    """Give the cases of the selected outfalls to a case officer."""
    from outfalls.cases.assignment import assign_cases
    from outfalls.errors import InvalidInput
    from outfalls.scope import Scope

    if bool(officer) == unassign:
        raise InvalidInput("give --to LOGIN, or --unassign", field="officer")
    day = _day(on, "--on")
    with session_scope(settings_of(ctx)) as session:
        ids = _ids(session, outfall_ids, basin, area, status)
        report = assign_cases(session, ids, officer, actor=actor, scope=Scope.national(), on=day)
        session.commit()
    _report(report, as_json)


@case.command()
@click.argument("deadline")
@_selection_options
@click.pass_context
def deadline(ctx: click.Context, deadline: str, outfall_ids: tuple[int, ...], basin: str | None, area: str | None,
             status: str | None, on: str | None, actor: str, as_json: bool) -> None:  # fmt: skip
    """Set the case deadline (YYYY-MM-DD, or "none" to clear it) of the selected outfalls."""
    from outfalls.cases.assignment import set_deadlines
    from outfalls.errors import InvalidInput
    from outfalls.scope import Scope

    try:
        when = None if deadline.strip().lower() == "none" else clock.parse_day(deadline, field="DEADLINE")
    except InvalidInput as err:
        raise InvalidInput(
            f"the deadline is a date (YYYY-MM-DD) or 'none', not {deadline!r}", field="deadline"
        ) from err
    day = _day(on, "--on")
    with session_scope(settings_of(ctx)) as session:
        ids = _ids(session, outfall_ids, basin, area, status)
        report = set_deadlines(session, ids, when, actor=actor, scope=Scope.national(), on=day)
        session.commit()
    _report(report, as_json)


@case.command()
@click.option("--category", required=True, type=click.Choice(["ban", "standardise", "none_needed"]),
              help="Remediation category (a merge names its receiving outfall: plan it per case).")  # fmt: skip
@click.option("--measures", default=None, help="The measures (ban, standardise).")
@click.option("--reason", default=None, help="Why no remediation is needed (none_needed).")
@click.option("--deadline", "until", default=None, metavar="DATE", help="Deadline of the works (YYYY-MM-DD).")
@_selection_options
@click.pass_context
def plan(ctx: click.Context, category: str, measures: str | None, reason: str | None, until: str | None,
         outfall_ids: tuple[int, ...], basin: str | None, area: str | None, status: str | None, on: str | None,
         actor: str, as_json: bool) -> None:  # fmt: skip
    """Record the same remediation plan for the selected outfalls."""
    from outfalls.cases.assignment import set_categories
    from outfalls.cases.remediation import PlanInput
    from outfalls.scope import Scope
    from outfalls.types import RemediationCategory

    the_plan = PlanInput(category=RemediationCategory(category), on=_day(on, "--on") or clock.today(),
                         measures=measures, reason=reason, deadline=_day(until, "--deadline"))  # fmt: skip
    with session_scope(settings_of(ctx)) as session:
        ids = _ids(session, outfall_ids, basin, area, status)
        report = set_categories(session, ids, the_plan, actor=actor, scope=Scope.national())
        session.commit()
    _report(report, as_json)


KEEP_COLUMNS = ("id", "national_code", "local_code", "name", "type_code", "status", "remediation_category",
                "basin", "sub_basin", "river", "area_code", "area", "lon", "lat", "found_on")  # fmt: skip


@case.command("keep-list")
@click.option("--basin", default=None, help="Basin or sub-basin code.")
@click.option("--area", default=None, help="GB/T 2260 area code.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write CSV (UTF-8 with BOM) to this file instead of printing.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def keep_list(ctx: click.Context, basin: str | None, area: str | None, output: str | None, as_json: bool) -> None:
    """The outfalls that stay (需保留清单): brought up to standard or needing no remediation."""
    from outfalls.catalogue.queries import OutfallFilter, list_outfalls
    from outfalls.registers.formulas import neutralise
    from outfalls.scope import Scope

    rows = []
    with session_scope(settings_of(ctx)) as session:
        f, page = OutfallFilter(basin=basin, area=area, keep=True), 1
        while True:
            result = list_outfalls(session, f, scope=Scope.national(), page=page, page_size=5000)
            rows += [{c: getattr(r, c) for c in KEEP_COLUMNS} for r in result.items]
            if page >= result.pages:
                break
            page += 1
    if as_json:
        echo_json(rows)
    elif output:
        with open(output, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=KEEP_COLUMNS)
            writer.writeheader()
            writer.writerows({k: neutralise(v) for k, v in r.items()} for r in rows)  # no formula for Excel
        click.echo(f"{len(rows)} outfalls to keep written to {output}", err=True)
    else:
        for r in rows:
            click.echo(
                f"{r['id']:>8}  {r['status']:<12} {r['remediation_category']:<12} {r['area'] or '—':<8} {r['name']}"
            )
        click.echo(f"{len(rows)} outfalls to keep", err=True)
