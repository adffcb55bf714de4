"""``daybreak user add|ls|role|disable|enable|passwd`` and ``daybreak token create|ls|revoke``.

These work on this machine's metadata store directly: whoever can run them owns the server.
"""

from __future__ import annotations

import datetime
import sys
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from daybreak.cli.console import console, print_json
from daybreak.config import get_settings
from daybreak.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from daybreak.store.engine import Database

user_app = typer.Typer(
    help="Users of the web pages and API, with their roles (viewer, member, admin).",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="API tokens (for the SDK and the CLI's remote mode) and kiosk tokens.",
    no_args_is_help=True,
)

JSON_HELP = "Print JSON."
STDIN_HELP = "Read the password from the first line of stdin instead of a prompt."


def register(app: typer.Typer) -> None:
    """Add the ``user`` and ``token`` groups to the ``daybreak`` command."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")


def _db() -> Database:
    from daybreak.store.engine import get_database

    return get_database(get_settings().db_url)


def _when(ts: float | None) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ConfigError("no password on stdin", "pipe it in: echo PASSWORD | ...")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


# -- users -----------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="The name to sign in with."),
    role: str = typer.Option("member", "--role", help="viewer, member or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a user. The server stops being open: from now on everyone signs in."""
    from daybreak.access import roles, users

    roles.parse_role(role)
    users.check_name(name)
    user = users.add_user(_db(), name, role, _password(password_stdin))
    if as_json:
        print_json(user.to_dict())
        return
    console.print(f"added [bold]{escape(user.name)}[/] ({user.role})")


@user_app.command("ls")
def user_ls(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List users and their roles."""
    from daybreak.access import users

    found = users.list_users(_db())
    if as_json:
        print_json([u.to_dict() for u in found])
        return
    table = Table("user", "role", "status", "created")
    for u in found:
        table.add_row(
            escape(u.name), u.role, "disabled" if u.disabled else "active", _when(u.created_at)
        )
    console.print(table if found else "no users: the server is open (everyone is an admin)")


@user_app.command("role")
def user_role(
    name: str = typer.Argument(...),
    role: str = typer.Argument(..., help="viewer, member or admin."),
) -> None:
    """Change a user's role (it applies to their sessions and tokens at once)."""
    from daybreak.access import users

    user = users.set_role(_db(), name, role)
    console.print(f"{escape(user.name)} is now {user.role}")


@user_app.command("disable")
def user_disable(name: str = typer.Argument(...)) -> None:
    """Stop a user signing in; their sessions end and their tokens stop working."""
    from daybreak.access import users

    users.set_disabled(_db(), name, True)
    console.print(f"disabled {escape(name)}")


@user_app.command("enable")
def user_enable(name: str = typer.Argument(...)) -> None:
    """Let a disabled user sign in again."""
    from daybreak.access import users

    users.set_disabled(_db(), name, False)
    console.print(f"enabled {escape(name)}")


@user_app.command("passwd")
def user_passwd(
    name: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
) -> None:
    """Set a user's password; they are signed out everywhere."""
    from daybreak.access import users

    db = _db()
    users.get_user(db, name)
    users.set_password(db, name, _password(password_stdin))
    console.print(f"changed the password of {escape(name)}")


# -- tokens ----------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    user: str | None = typer.Option(None, "--user", help="Who it acts as (default: you)."),
    kiosk: bool = typer.Option(False, "--kiosk", help="A read-only kiosk token (no user)."),
    name: str = typer.Option("", "--name", help="What it is for, e.g. 'gpu-box-3'."),
    expires: str | None = typer.Option(None, "--expires", help="e.g. 90m, 12h, 30d, 1y."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a token. It is shown once: copy it now."""
    from daybreak.access import tokens

    expires_in = tokens.parse_duration(expires) if expires else None
    db = _db()
    owner = None if kiosk else (user or _me(db))
    new = tokens.create_token(
        db, "kiosk" if kiosk else "api", owner, name, expires_in, created_by=_os_user()
    )
    if as_json:
        print_json({**new.token.to_dict(), "secret": new.secret})
        return
    token = new.token
    what = "kiosk token" if kiosk else f"API token for {escape(token.user or '')}"
    console.print(f"created {what} #{token.id} (expires {_when(token.expires_at)})")
    console.print(f"\n  [bold]{new.secret}[/]\n")
    if kiosk:
        console.print(f"open the kiosk at http://SERVER:8765/kiosk?token={new.secret}")
    else:
        console.print("use it with: export DAYBREAK_TOKEN=<the token above>")
    console.print("[dim]it is shown only this once; revoke it with `daybreak token revoke`[/]")


def _os_user() -> str:
    from daybreak.registry.service import current_user

    return current_user()


def _me(db: Database) -> str:
    from daybreak.access import users

    me = _os_user()
    try:
        return users.get_user(db, me).name
    except NotFoundError:
        raise ConfigError(
            f"an API token acts as a user, and you ({me or 'unknown'}) are not a Daybreak user",
            "name one with --user NAME (or make a kiosk token with --kiosk)",
        ) from None


@token_app.command("ls")
def token_ls(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List tokens (their prefixes, never the tokens)."""
    from daybreak.access import tokens

    found = tokens.list_tokens(_db(), user)
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    table = Table("id", "prefix", "kind", "user", "name", "status", "expires", "last used")
    for t in found:
        table.add_row(
            str(t.id),
            f"{t.prefix}…",
            t.kind,
            escape(t.user or "-"),
            escape(t.name),
            t.status(),
            _when(t.expires_at),
            _when(t.last_used_at),
        )
    console.print(table if found else "no tokens yet: daybreak token create")


@token_app.command("revoke")
def token_revoke(ref: str = typer.Argument(..., help="The token's id or prefix.")) -> None:
    """Revoke a token for good; browsers signed in with it are signed out."""
    from daybreak.access import tokens

    token = tokens.revoke_token(_db(), ref)
    console.print(f"revoked token #{token.id} ({token.prefix}…)")
