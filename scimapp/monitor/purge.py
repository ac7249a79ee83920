"""Clean up after a test client: revoke a token and delete every user and group it created.

Microsoft's SCIM validator (and any test run) leaves behind what it created; ``created_by_token_id`` says which
token created each user and group, so exactly those can go while everything other tokens created stays.

How it stays safe on a live server:

- The token is revoked (and committed) first, so nothing new arrives with it while the clean-up runs.
- Resources are deleted in batches of ``BATCH`` ids, each batch in a short write transaction of its own (SQLite's
  write lock is never held for long, so the identity provider's own requests keep flowing). Each batch does for its
  resources exactly what a SCIM DELETE does (RFC 7644 §3.6): their membership rows go (as members and, for groups,
  their own members), the groups that held them get a new version, then the rows themselves (their filter-index
  rows go by ON DELETE CASCADE). So after any batch the directory is consistent: a clean-up that stops half-way
  (a busy database, a restart) leaves fewer resources, never broken ones, and running it again finishes the job.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, union_all, update

from .. import audit, tokens
from ..database import intending_to_write
from ..extensions import db
from ..models import ScimGroup, ScimGroupMember, ScimToken, ScimUser
from ..scim.values import utcnow

log = logging.getLogger("scimapp.purge")
BATCH = 500

U = ScimUser.__table__
G = ScimGroup.__table__
GM = ScimGroupMember.__table__


@dataclass
class Counts:
    """Users, groups and membership rows (created, or deleted so far)."""

    users: int = 0
    groups: int = 0
    memberships: int = 0

    def describe(self) -> str:
        """``3 users, 1 group, 4 memberships``."""
        def n(k, word):
            return f"{k} {word}{'' if k == 1 else 's'}"
        return f"{n(self.users, 'user')}, {n(self.groups, 'group')}, {n(self.memberships, 'membership')}"


class PurgeIncomplete(RuntimeError):
    """The clean-up stopped part-way; ``done`` says what was deleted (the rest is still there, consistent)."""

    def __init__(self, done: Counts):
        super().__init__(f"clean-up stopped after deleting {done.describe()}")
        self.done = done


def created_by(token_id: int) -> Counts:
    """How many users and groups this token created, and how many membership rows involve them (all in SQL)."""
    users = select(U.c.id).where(U.c.created_by_token_id == token_id)
    groups = select(G.c.id).where(G.c.created_by_token_id == token_id)
    n_users = db.session.execute(select(func.count()).select_from(users.subquery())).scalar() or 0
    n_groups = db.session.execute(select(func.count()).select_from(groups.subquery())).scalar() or 0
    memberships = db.session.execute(
        select(func.count()).select_from(GM).where(or_(GM.c.group_id.in_(groups),
                                                       GM.c.member_id.in_(union_all(users, groups))))).scalar() or 0
    return Counts(int(n_users), int(n_groups), int(memberships))


def _batch(table, token_id: int, after: str) -> list[str]:
    """The next ids this token created, in id order after ``after`` (a keyset walk: one pass over the table), locked
    for the batch's transaction (PostgreSQL) as a SCIM DELETE locks its row: a membership being added to one of
    them meanwhile then commits before their memberships are deleted, or sees them gone."""
    return list(db.session.execute(select(table.c.id).where(table.c.created_by_token_id == token_id,
                                                            table.c.id > after)
                                   .order_by(table.c.id).limit(BATCH).with_for_update()).scalars())


def _delete(table, ids: list[str]) -> int:
    """Delete these resources as SCIM DELETE would, in the current transaction; returns membership rows removed."""
    holders = select(GM.c.group_id).where(GM.c.member_id.in_(ids))
    db.session.execute(update(ScimGroup).where(ScimGroup.id.in_(holders), ScimGroup.id.notin_(ids))
                       .values(version=ScimGroup.version + 1, updated_at=utcnow()))
    removed = db.session.execute(delete(GM).where(GM.c.member_id.in_(ids))).rowcount or 0
    if table is G:
        removed += db.session.execute(delete(GM).where(GM.c.group_id.in_(ids))).rowcount or 0
    db.session.execute(delete(table).where(table.c.id.in_(ids)))
    return removed


def purge(token: ScimToken, actor: str) -> Counts:
    """Revoke ``token`` and delete everything it created, in batches; audited as ``token.purge`` with the counts.

    Raises PurgeIncomplete (after auditing what was done) when a batch fails."""
    token_id, label = token.id, f"token {token.id} {token.name}"
    tokens.revoke(token, actor)  # commits; no-op when already revoked
    done = Counts()
    try:
        # Two sweeps: a request that was authenticated before the revocation may still create a resource while the
        # first sweep runs, with an id below where the keyset walk already is; the second sweep finds it.
        for table, attr in ((G, "groups"), (U, "users")) * 2:
            after = ""
            while True:
                db.session.commit()  # end any read transaction: the next one takes the write lock up front
                with intending_to_write():
                    ids = _batch(table, token_id, after)
                    if not ids:
                        db.session.rollback()
                        break
                    done.memberships += _delete(table, ids)
                    setattr(done, attr, getattr(done, attr) + len(ids))
                    db.session.commit()
                after = ids[-1]
    except Exception as exc:
        db.session.rollback()
        log.warning("clean-up of %s stopped: %s", label, exc.__class__.__name__)
        _audit(actor, label, f"incomplete: deleted {done.describe()}")
        raise PurgeIncomplete(done) from exc
    _audit(actor, label, f"deleted {done.describe()}")
    return done


def _audit(actor: str, label: str, detail: str) -> None:
    with intending_to_write():
        audit.record("token.purge", actor, label, detail)
        db.session.commit()
