"""``flask --app app …`` commands: ``token create|list|revoke``, ``backup``, ``restore`` (and Flask-Migrate's ``db``)."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.engine import make_url

from . import tokens
from .database import intending_to_write
from .directory.export import export_command
from .urls import tenant_url_offline

token_cli = AppGroup("token", help="Create, list and revoke SCIM bearer tokens.")


def _fmt(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "-"


@token_cli.command("create")
@click.argument("name")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None,
              help="Days until the token stops working (default: never).")
def create_token(name: str, expires_days: int | None) -> None:
    """Create a token; the secret is printed once, alone on the last line."""
    try:
        with intending_to_write():  # SQLite: the lock first, or a SCIM write between our read and insert fails us
            token, secret = tokens.create(name, "cli", expires_days)
    except tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created SCIM token {token.name!r} (id {token.id}, "
               f"{'expires ' + _fmt(token.expires_at) if token.expires_at else 'no expiry'}).")
    # A second terminal without the server's SCIMAPP_INSTANCE_PATH or SCIMAPP_DATABASE_URL writes to another
    # database, and the server then refuses the token: say which one this is.
    click.echo(f"Database: {make_url(current_app.config['SQLALCHEMY_DATABASE_URI']).render_as_string()}")
    click.echo(f"Tenant URL: {tenant_url_offline(current_app.config)}")
    click.echo("Secret Token (shown only now; store it in your IdP and revoke it if it leaks):")
    click.echo(secret)


@token_cli.command("list")
def list_tokens() -> None:
    """List tokens (never their secrets)."""
    rows = tokens.all_tokens()
    if not rows:
        click.echo("No tokens yet. Create one with: flask --app app token create NAME")
        return
    header = f"{'ID':>4}  {'NAME':<24} {'STATUS':<8} {'CREATED':<21} {'LAST USED':<21} {'EXPIRES':<21} BY"
    click.echo(header)
    for t in rows:
        click.echo(f"{t.id:>4}  {t.name[:24]:<24} {tokens.status(t):<8} {_fmt(t.created_at):<21} "
                   f"{_fmt(t.last_used_at):<21} {_fmt(t.expires_at):<21} {t.created_by}")


@token_cli.command("revoke")
@click.argument("name_or_id")
def revoke_token(name_or_id: str) -> None:
    """Revoke a token by id, or the active token with that name. Takes effect on the next request."""
    with intending_to_write():
        _revoke(name_or_id)


def _revoke(name_or_id: str) -> None:
    found = tokens.find(name_or_id)
    if not found:
        raise click.ClickException(f"no token with id {name_or_id}" if name_or_id.isdigit()
                                   else f"no active token named {name_or_id!r}")
    if len(found) > 1:
        raise click.ClickException(f"{len(found)} active tokens are named {name_or_id!r}: revoke one by id "
                                   f"({', '.join(str(t.id) for t in found)})")
    token = found[0]
    if tokens.revoke(token, "cli"):
        click.echo(f"Revoked token {token.name!r} (id {token.id}).")
    else:
        click.echo(f"Token {token.name!r} (id {token.id}) was already revoked.")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
def backup_command(path: str) -> None:
    """Copy the SQLite database to PATH while the server runs, and check the copy."""
    from . import audit, backup
    from .extensions import db
    try:
        result = backup.backup(current_app.config["SQLALCHEMY_DATABASE_URI"], path,
                               current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record("backup", "cli", path, f"integrity check: {result}")
    db.session.commit()
    click.echo(f"Backed up to {path} (integrity check: {result}).")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(path: str, yes: bool) -> None:
    """Replace the database's contents with the backup at PATH (safe while the server runs)."""
    from . import audit, backup
    from .extensions import db
    from .schema_upgrade import upgrade_to_head
    if not yes:
        click.confirm("Everything written since the backup will be lost. Restore?", abort=True)
    db.session.remove()
    db.engine.dispose()
    try:
        backup.restore(current_app.config["SQLALCHEMY_DATABASE_URI"], path, current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    upgrade_to_head()  # a backup from an older version is brought up to this version's schema
    audit.record("restore", "cli", path)
    db.session.commit()
    click.echo(f"Restored from {path}.")


def register(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(token_cli)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(export_command)
