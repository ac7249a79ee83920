"""CSV exports of users, groups and memberships, streamed: rows are read in ``yield_per`` batches and each batch
leaves as one chunk of CSV text, so an export of any size needs memory for one batch only. The web pages
(``routes.py``) and ``flask --app app export`` share these generators.

Web downloads start with a UTF-8 byte order mark (``BOM``): Excel on Windows reads a CSV file without one in the
machine's ANSI code page and garbles every non-ASCII name. ``flask export`` writes none unless asked (``--bom``),
because scripts and most other tools take plain UTF-8 and some would keep the mark as part of the first column name.

Cells that a spreadsheet would read as a formula (starting with ``= + - @``, tab or carriage return) are written with
a leading apostrophe (OWASP's advice against CSV injection); nothing else is changed.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from .. import audit
from ..extensions import db
from ..models import ScimGroup, ScimGroupMember, ScimUser
from ..scim.values import format_datetime
from .queries import primary_email

BATCH = 1000  # rows read (and written as one chunk) at a time

U = ScimUser.__table__
G = ScimGroup.__table__
GM = ScimGroupMember.__table__

USER_COLUMNS = ["id", "userName", "externalId", "displayName", "givenName", "familyName", "email", "active",
                "created", "lastModified"]
GROUP_COLUMNS = ["id", "displayName", "externalId", "memberCount"]
MEMBERSHIP_COLUMNS = ["groupId", "groupDisplayName", "memberId", "memberType", "memberUserName",
                      "memberDisplayName"]
RISKY = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """A CSV cell: text as is (unless a spreadsheet would run it as a formula), booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(RISKY) else text


def _csv_lines(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue()


def _stream(header: list[str], stmt, to_row, batch: int | None) -> Iterator[str]:
    """The header, then one chunk of CSV per batch of rows (a server-side cursor on PostgreSQL)."""
    yield _csv_lines([header])
    result = db.session.execute(stmt.execution_options(yield_per=batch or BATCH))
    try:
        for rows in result.partitions():
            yield _csv_lines(to_row(r) for r in rows)
    finally:
        result.close()


def _name(data: dict | None, sub: str) -> str | None:
    name = (data or {}).get("name")
    return name.get(sub) if isinstance(name, dict) else None


def users_csv(batch: int | None = None) -> Iterator[str]:
    """Every user: id, userName, externalId, displayName, givenName, familyName, the primary (else work, else first)
    e-mail address, active, created, lastModified; oldest first. A user provisioned without ``active`` is written as
    active (``true``), as the dashboard and the users list count it: only ``active: false`` disables a user."""
    stmt = (select(U.c.id, U.c.user_name, U.c.external_id, U.c.display_name, U.c.data, U.c.active, U.c.created_at,
                   U.c.updated_at).order_by(U.c.created_at, U.c.id))

    def row(r):
        return [r.id, r.user_name, r.external_id, r.display_name, _name(r.data, "givenName"),
                _name(r.data, "familyName"), primary_email(r.data), r.active is not False, format_datetime(r.created_at),
                format_datetime(r.updated_at)]
    return _stream(USER_COLUMNS, stmt, row, batch)


def groups_csv(batch: int | None = None) -> Iterator[str]:
    """Every group with its member count (a correlated COUNT on the members table's primary key); oldest first."""
    count = select(func.count()).select_from(GM).where(GM.c.group_id == G.c.id).scalar_subquery()
    stmt = (select(G.c.id, G.c.display_name, G.c.external_id, count.label("members"))
            .order_by(G.c.created_at, G.c.id))
    return _stream(GROUP_COLUMNS, stmt, lambda r: [r.id, r.display_name, r.external_id, r.members], batch)


def memberships_csv(batch: int | None = None) -> Iterator[str]:
    """Every direct membership, in the members table's key order (group id, member id), with the group's name and
    the member's userName and displayName (a group member's displayName; the name the client sent when the member
    no longer exists)."""
    member_user = U.alias("member_user")
    member_group = G.alias("member_group")
    stmt = (select(GM.c.group_id, G.c.display_name.label("group_name"), GM.c.member_id, GM.c.member_type,
                   member_user.c.user_name, member_user.c.display_name.label("user_display_name"),
                   member_group.c.display_name.label("group_display_name"), GM.c.display)
            .select_from(GM).join(G, G.c.id == GM.c.group_id)
            .outerjoin(member_user, member_user.c.id == GM.c.member_id)
            .outerjoin(member_group, member_group.c.id == GM.c.member_id)
            .order_by(GM.c.group_id, GM.c.member_id))

    def row(r):
        display = r.user_display_name if r.member_type == "User" else r.group_display_name
        return [r.group_id, r.group_name, r.member_id, r.member_type, r.user_name,
                display if display is not None else r.display]
    return _stream(MEMBERSHIP_COLUMNS, stmt, row, batch)


EXPORTS = {"users": users_csv, "groups": groups_csv, "memberships": memberships_csv}
BOM = "\ufeff"  # the UTF-8 byte order mark (EF BB BF once encoded), which tells Excel the file is UTF-8


def csv_stream(what: str, bom: bool = False, batch: int | None = None) -> Iterator[str]:
    """The export ``what`` chunk by chunk, after a byte order mark of its own when ``bom`` (still streamed)."""
    if bom:
        yield BOM
    yield from EXPORTS[what](batch)


def filename(what: str, now) -> str:
    """Download name, e.g. ``scimapp-users-20261203-2040.csv`` (UTC)."""
    return f"scimapp-{what}-{now:%Y%m%d-%H%M}.csv"


@click.command("export")
@click.argument("what", required=False, type=click.Choice(sorted(EXPORTS)))
@click.option("--what", "what_option", type=click.Choice(sorted(EXPORTS)), default=None,
              help="What to export (the same as the argument).")
@click.option("--bom/--no-bom", default=False, show_default=True,
              help="Start with a UTF-8 byte order mark, so that Excel on Windows shows non-ASCII names correctly "
                   "(the web downloads always have one). Off by default: scripts expect plain UTF-8.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="File to write (default: standard output). Written next to it first, renamed when complete.")
@with_appcontext
def export_command(what: str | None, what_option: str | None, bom: bool, output: Path | None) -> None:
    """Export users, groups or memberships as CSV (UTF-8), streamed batch by batch.

    \b
    flask --app app export users -o users.csv
    flask --app app export --what memberships > memberships.csv
    flask --app app export users --bom -o users.csv   (for Excel)
    """
    if what and what_option and what != what_option:
        raise click.UsageError(f"Export either {what} or {what_option}, not both.")
    what = what or what_option
    if not what:
        raise click.UsageError(f"Say what to export: one of {', '.join(sorted(EXPORTS))}.")
    audit.record("export", "cli", what, f"CSV to {output or 'standard output'}")
    db.session.commit()
    partial = output.with_name(output.name + ".part") if output else None
    stream = open(partial, "wb") if partial else click.open_file("-", "wb")  # "-": standard output, kept open
    try:
        for chunk in csv_stream(what, bom=bom):
            stream.write(chunk.encode("utf-8"))
        stream.flush()
    except BaseException:
        if partial:
            stream.close()
            partial.unlink(missing_ok=True)
        raise
    finally:
        db.session.rollback()  # ends the read transaction
    if partial:
        stream.close()
        os.replace(partial, output)  # a complete file or none: never a half-written export under the name asked
        click.echo(f"Exported {what} to {output}.", err=True)
