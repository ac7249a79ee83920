"""Group membership rows: add, remove, replace and read members as row inserts, deletes and selects.

Every change costs O(members changed): the group itself is never rewritten. Re-adding a member is a no-op
(``ON CONFLICT DO NOTHING``), so concurrent adds of the same member cannot fail.
"""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..fastsql import Fast
from ..models import ScimGroup, ScimGroupMember, ScimUser
from .errors import bad_request
from .schemas import note_ignored
from .values import shown

CHUNK = 500  # ids per IN (…) list: well under every database's parameter limit

_GM = ScimGroupMember.__table__.c
_G = ScimGroup.__table__.c
# Built once (reads on the hot path skip the ORM layer and statement construction).
_MEMBERS_OF = (select(_GM.group_id, _GM.member_id, _GM.member_type, _GM.display)
               .where(_GM.group_id.in_(bindparam("ids", expanding=True))).order_by(_GM.group_id, _GM.member_id))
_GROUPS_OF = (select(_GM.member_id, _GM.group_id, _G.display_name)
              .join_from(ScimGroupMember.__table__, ScimGroup.__table__, _G.id == _GM.group_id)
              .where(_GM.member_id.in_(bindparam("ids", expanding=True)))
              .order_by(_GM.member_id, _G.display_name_key, _GM.group_id))
_GROUPS_OF_ONE = Fast(select(_GM.member_id, _GM.group_id, _G.display_name)
                      .join_from(ScimGroupMember.__table__, ScimGroup.__table__, _G.id == _GM.group_id)
                      .where(_GM.member_id == bindparam("id")).order_by(_G.display_name_key, _GM.group_id))


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def member_types(ids: list[str]) -> dict[str, str]:
    """{id: "User" | "Group"} for the ids that exist, share-locked until the transaction ends (PostgreSQL; SQLite
    writers are serialised anyway): a DELETE of one of them then waits for this membership to commit and removes
    it, or, if it came first, the member is seen as gone. Without the lock a membership of a user deleted at the
    same moment survived, pointing at nothing."""
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        for model, kind in ((ScimUser, "User"), (ScimGroup, "Group")):
            stmt = select(model.id).where(model.id.in_(chunk)).with_for_update(read=True)
            found.update({i: kind for i in db.session.scalars(stmt)})
    return found


def member_id(item: dict) -> str:
    """The id a member item names; 400 invalidValue when it names none."""
    value = item.get("value") if isinstance(item, dict) else None
    if not isinstance(value, str) or not value:
        raise bad_request("every member needs a value (the member's id)")
    return value


def _ancestors(group_id: str) -> set[str]:
    """Groups that contain ``group_id``, directly or through other groups (a recursive CTE)."""
    GM = ScimGroupMember
    up = select(GM.group_id.label("gid")).where(GM.member_id == group_id).cte("ancestors", recursive=True)
    up = up.union(select(GM.group_id).join(up, GM.member_id == up.c.gid))
    return set(db.session.scalars(select(up.c.gid)))


class Delta:
    """What member changes did in the end: ids added and ids removed, net of each other. An id removed and added
    back in one PATCH is no change when its stored ``display`` came back the same, and a change otherwise."""

    def __init__(self):
        self.net: dict[str, int] = {}
        self._removed_display: dict[str, str | None] = {}

    def added(self, rows) -> None:
        for mid, display in rows:
            if self.net.get(mid) == -1:
                if self._removed_display.pop(mid, None) == display:
                    del self.net[mid]
                else:
                    self.net[mid] = 0  # re-added with another display: changed, neither new nor gone
            else:
                self.net[mid] = 1

    def removed(self, rows) -> None:
        for mid, display in rows:
            if self.net.get(mid) == 1:
                del self.net[mid]
            else:
                self.net[mid] = -1
                self._removed_display[mid] = display

    def __len__(self) -> int:
        return len(self.net)


def add(group_id: str, items: list[dict], delta: Delta) -> None:
    """Add members (each ``{"value": id, "display"?: …}``), recording the new ones in ``delta``."""
    wanted: dict[str, dict] = {}
    for item in items:
        wanted.setdefault(member_id(item), item)
    if not wanted:
        return
    types = member_types(list(wanted))
    for missing in [i for i in wanted if i not in types]:
        # Skipped, not refused: one stale id (a user deleted here) must not block a whole batch of membership
        # changes, which Entra would retry and eventually quarantine. The request log names it.
        note_ignored(f"member {shown(missing)} (no User or Group has this id)")
        del wanted[missing]
    if not wanted:
        return
    nested = [i for i, t in types.items() if t == "Group"]
    if group_id in nested:
        raise bad_request("a group cannot be a member of itself")
    if nested:
        loops = _ancestors(group_id) & set(nested)
        if loops:
            raise bad_request(f"adding group {sorted(loops)[0]!r} would make a membership cycle")
    rows = [{"group_id": group_id, "member_id": mid, "member_type": types[mid],
             "display": item.get("display") if isinstance(item.get("display"), str) else None}
            for mid, item in wanted.items()]
    insert = sqlite_insert if db.session.get_bind().dialect.name == "sqlite" else pg_insert
    for chunk in _chunks(rows):
        # RETURNING names what was really new (rowcount of a multi-row insert is not reliable across drivers).
        stmt = insert(ScimGroupMember.__table__).values(chunk).on_conflict_do_nothing().returning(
            _GM.member_id, _GM.display)
        delta.added(db.session.connection().execute(stmt).all())


def _delete(group_id: str, terms, delta: Delta) -> None:
    stmt = delete(ScimGroupMember.__table__).where(_GM.group_id == group_id, *terms).returning(
        _GM.member_id, _GM.display)
    delta.removed(db.session.connection().execute(stmt).all())


def remove(group_id: str, ids: list[str], delta: Delta) -> None:
    """Remove the listed members; ids that are not members are ignored."""
    for chunk in _chunks(list(dict.fromkeys(ids))):
        _delete(group_id, [_GM.member_id.in_(chunk)], delta)


def remove_where(group_id: str, terms, delta: Delta) -> None:
    """Remove the members matching compiled filter terms (``query.Compiler.member_terms``)."""
    _delete(group_id, [terms], delta)


def replace(group_id: str, items: list[dict], delta: Delta) -> None:
    """Make the members exactly ``items``: removes and adds only the difference."""
    current = set(db.session.connection().execute(select(_GM.member_id).where(_GM.group_id == group_id)).scalars())
    wanted = {member_id(i) for i in items}
    remove(group_id, sorted(current - wanted), delta)
    add(group_id, [i for i in items if i["value"] not in current], delta)


def clear(group_id: str, delta: Delta) -> None:
    """Remove every member of a group."""
    _delete(group_id, [], delta)


def groups_containing(member_id: str):
    """SELECT of the ids of groups that have ``member_id`` as a direct member."""
    return select(ScimGroupMember.group_id).where(ScimGroupMember.member_id == member_id)


def members_of(group_ids: list[str], base_url: str) -> dict[str, list[dict]]:
    """{group id: [member representations]} for a page of groups, in one query per chunk."""
    out: dict[str, list[dict]] = {g: [] for g in group_ids}
    for chunk in _chunks(group_ids):
        for gid, mid, mtype, display in db.session.connection().execute(_MEMBERS_OF, {"ids": chunk}):
            item = {"value": mid, "$ref": f"{base_url}/{mtype}s/{mid}", "type": mtype}
            if display is not None:
                item["display"] = display
            out[gid].append(item)
    return out


def groups_of(user_ids: list[str], base_url: str) -> dict[str, list[dict]]:
    """{user id: [its direct groups]} for a page of users (RFC 7643 §4.1.2 ``groups``)."""
    out: dict[str, list[dict]] = {u: [] for u in user_ids}
    if len(user_ids) == 1:  # a lookup or a GET by id: the common case, on the DB-API cursor (fastsql.py)
        chunks = [_GROUPS_OF_ONE.rows(db.session.connection(), {"id": user_ids[0]})]
    else:
        chunks = (db.session.connection().execute(_GROUPS_OF, {"ids": chunk}) for chunk in _chunks(user_ids))
    for rows in chunks:
        for uid, gid, display in rows:
            out[uid].append({"value": gid, "$ref": f"{base_url}/Groups/{gid}", "display": display, "type": "direct"})
    return out

