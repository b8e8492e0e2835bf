"""``outfalls user`` and ``outfalls token``: accounts and personal API tokens (the operator at the command
line acts with national scope, as ``cli``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from outfalls.cli import echo_json, session_scope, settings_of
from outfalls.types import Role

if TYPE_CHECKING:
    from outfalls.models import User

ACTOR = "cli"
ROLE_NAMES = [r.value for r in Role]


def _read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return value


def _user_json(user: User) -> dict[str, Any]:
    from outfalls.accounts import scope_of

    scope = scope_of(user)
    return {
        "id": user.id,
        "login": user.login,
        "display_name": user.display_name,
        "roles": sorted(r.value for r in user.role_set),
        "national": scope.is_national,
        "areas": list(scope.area_codes),
        "basins": list(scope.basin_codes),
        "active": user.is_active,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


@click.group()
def user() -> None:
    """Users: add, list, change passwords, disable."""


@user.command()
@click.argument("name")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(ROLE_NAMES), help="A role (repeat for several)."
)
@click.option(
    "--area",
    "areas",
    multiple=True,
    help="GB/T 2260 code of a province, city or county (repeat), or 'all' for national scope.",
)
@click.option("--basin", "basins", multiple=True, help="Restrict to a basin or sub-basin code (repeat).")
@click.option("--display-name", default=None, help="The person's name as shown in the UI.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the new user as JSON.")
@click.pass_context
def add(ctx: click.Context, name: str, roles: tuple[str, ...], areas: tuple[str, ...], basins: tuple[str, ...],
        display_name: str | None, password_stdin: bool, as_json: bool) -> None:  # fmt: skip
    """Add user NAME with roles and a scope (at least one --area, or --area all)."""
    from outfalls.accounts import create_user

    national = "all" in areas
    password = _read_password(password_stdin)
    with session_scope(settings_of(ctx)) as session:
        new = create_user(session, name, roles=roles, areas=[a for a in areas if a != "all"], basins=basins,
                          is_national=national, password=password, display_name=display_name, actor=ACTOR)  # fmt: skip
        session.commit()
        info = _user_json(new)
    if as_json:
        echo_json(info)
    else:
        click.echo(
            f"added user {name} ({', '.join(info['roles'])}; scope {'national' if national else ', '.join(areas)})"
        )


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List users with their roles and scope."""
    from outfalls.accounts import list_users

    with session_scope(settings_of(ctx)) as session:
        rows = [_user_json(u) for u in list_users(session)]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        scope = "national" if r["national"] else ", ".join(r["areas"] + [f"basin {b}" for b in r["basins"]])
        state = "" if r["active"] else "  [disabled]"
        click.echo(f"{r['login']:<20} {','.join(r['roles']):<28} {scope}{state}")


@user.command()
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of standard input.")
@click.option("--revoke-tokens", is_flag=True, help="Also revoke the user's API tokens (they are kept otherwise).")
@click.pass_context
def passwd(ctx: click.Context, name: str, password_stdin: bool, revoke_tokens: bool) -> None:
    """Set a new password for user NAME; the user's web sessions end (they log in again)."""
    from outfalls.accounts import set_password

    password = _read_password(password_stdin)
    with session_scope(settings_of(ctx)) as session:
        done = set_password(session, name, password, actor=ACTOR, revoke_tokens=revoke_tokens)
        session.commit()
    click.echo(f"password of {name} changed; {done.sessions_ended} web session(s) ended")
    if done.tokens_revoked:
        click.echo(f"{done.tokens_revoked} API token(s) revoked")
    if done.tokens_kept:
        click.echo(f"{done.tokens_kept} API token(s) still work: revoke them with `outfalls token revoke` "
                   "or again with --revoke-tokens")


@user.command()
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable instead of disable.")
@click.pass_context
def disable(ctx: click.Context, name: str, enable: bool) -> None:
    """Disable user NAME (ends their sessions; tokens stop working), or --enable it again."""
    from outfalls.accounts import get_user, update_user

    with session_scope(settings_of(ctx)) as session:
        u = get_user(session, name)
        update_user(session, u.id, expected_version=u.version, actor=ACTOR, is_active=enable)
        session.commit()
    click.echo(f"user {name} {'enabled' if enable else 'disabled'}")


@click.group()
def token() -> None:
    """Personal API tokens for scripts and GIS clients."""


@token.command()
@click.argument("name")
@click.option("--name", "label", default="command line", show_default=True, help="What the token is for.")
@click.option("--expires-days", type=click.IntRange(min=1), default=365, show_default=True, help="Lifetime.")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "token", "user", "expires_at"} as JSON.')
@click.pass_context
def create(ctx: click.Context, name: str, label: str, expires_days: int, as_json: bool) -> None:
    """Create a token for user NAME and print it once (it is stored hashed)."""
    from outfalls.accounts import create_token

    with session_scope(settings_of(ctx)) as session:
        tok, plain = create_token(session, name, name=label, actor=ACTOR, expires_days=expires_days)
        session.commit()
        info = {"id": tok.id, "token": plain, "user": name, "name": tok.name,
                "expires_at": tok.expires_at.isoformat() if tok.expires_at else None}  # fmt: skip
    if as_json:
        echo_json(info)
    else:
        click.echo(plain)
        click.echo(f"token {info['id']} for {name}; it is shown only now", err=True)


@token.command("list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
@click.pass_context
def list_tokens(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List tokens (of user NAME, or all); the tokens themselves are never shown again."""
    from outfalls.accounts import list_tokens as list_

    with session_scope(settings_of(ctx)) as session:
        rows = [
            {"id": t.id, "user": t.user.login, "name": t.name, "prefix": t.prefix,
             "created_at": t.created_at.isoformat(), "expires_at": t.expires_at.isoformat() if t.expires_at else None,
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
             "revoked": t.revoked_at is not None}
            for t in list_(session, name)
        ]  # fmt: skip
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked"] else f"expires {r['expires_at'] or 'never'}"
        click.echo(f"{r['id']:>5}  {r['user']:<16} {r['prefix']}…  {r['name']:<24} {state}")


@token.command()
@click.argument("token_id", type=int)
@click.pass_context
def revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke token TOKEN_ID (see `outfalls token list`)."""
    from outfalls.accounts import revoke_token

    with session_scope(settings_of(ctx)) as session:
        revoke_token(session, token_id, actor=ACTOR)
        session.commit()
    click.echo(f"token {token_id} revoked")
