"""``outfalls demo``: the generated, clearly labelled demo catalogue."""

from __future__ import annotations

from typing import Any

import click

from outfalls.cli import echo_json, session_scope, settings_of


@click.group()
def demo() -> None:
    """The demo catalogue (generated; every row is flagged as demo data)."""


@demo.command()
@click.option(
    "--outfalls",
    "total",
    type=click.IntRange(min=0),
    default=None,
    help="Outfalls to create, split between the Yellow River and Han river parts in the 4,040 : 3,117 "
    "ratio of Shaanxi's 2023 figures (default 7,157).",
)
@click.option("--seed", type=int, default=None, help="Random seed (default from config.toml); same seed, same data.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def seed(ctx: click.Context, total: int | None, seed: int | None, as_json: bool) -> None:
    """Create the demo catalogue along the real Shaanxi rivers (skipped when one exists)."""
    from outfalls.demo import seed_demo

    settings = settings_of(ctx)
    yellow, handan = settings.demo.outfalls_yellow, settings.demo.outfalls_handan
    if total is not None:
        yellow = round(total * yellow / (yellow + handan))
        handan = total - yellow
    with session_scope(settings) as session:
        if as_json:
            report = seed_demo(session, yellow=yellow, handan=handan, seed=seed or settings.demo.seed)
        else:
            with click.progressbar(length=yellow + handan, label="creating demo outfalls") as bar:
                report = seed_demo(
                    session, yellow=yellow, handan=handan, seed=seed or settings.demo.seed, progress=bar.update
                )
        session.commit()
    if as_json:
        echo_json(
            {
                "created": report.created,
                "existing": report.existing,
                "yellow_river": report.yellow,
                "han_river": report.handan,
            }
        )
    elif report.existing:
        click.echo(f"a demo catalogue of {report.existing} outfalls exists already; nothing changed")
    else:
        click.echo(
            f"created {report.created} demo outfalls ({report.yellow} Yellow River basin, {report.handan} Han river)"
        )


@demo.command()
@click.option("--json", "as_json", is_flag=True, help="Print the demo accounts as JSON.")
@click.pass_context
def users(ctx: click.Context, as_json: bool) -> None:
    """Create demo accounts for every role (password: outfalls-demo; skipped when they exist)."""
    from outfalls.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo_users

    with session_scope(settings_of(ctx)) as session:
        created = seed_demo_users(session)
        session.commit()
    rows: list[dict[str, Any]] = [
        {"login": login, "roles": list(roles), "areas": list(areas) if areas else ["all"], "created": login in created}
        for login, _name, roles, areas in DEMO_USERS
    ]
    if as_json:
        echo_json({"password": DEMO_PASSWORD, "users": rows})
        return
    for r in rows:
        note = "created" if r["created"] else "exists"
        click.echo(f"  {r['login']:<14} {', '.join(r['roles']):<24} {', '.join(r['areas']):<8} {note}")
    click.echo(f"demo password for all of them: {DEMO_PASSWORD}")
