"""SCIM operations and their transactions: create, get, list, replace, patch, delete (RFC 7644 §3.3-§3.6).

One transaction per request, committed here; a failure anywhere rolls everything back. Uniqueness is the
database's: an IntegrityError from the unique index becomes 409 ``uniqueness``.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..fastsql import Fast
from ..models import ScimGroup, ScimGroupMember
from . import members as member_rows
from .attributes import ResourceType
from .errors import ScimError, bad_request, not_found
from .filter import FilterError, parse_filter
from .patch import apply_patch
from .query import Compiler, mapping_for
from .schemas import Projection, clean_resource, collecting_ignored, describe_changes, index_rows, render
from .values import fold, format_datetime, shown, utcnow

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass
class Result:
    """A single-resource answer: the representation (None for 204) and its version for the ETag header."""

    body: dict | None
    version: int
    location: str | None = None
    ignored: list[str] = field(default_factory=list)  # unknown attributes and member ids that were skipped
    changes: list[str] = field(default_factory=list)  # what a write changed, for the change history


@dataclass
class ListParams:
    """The query parameters of a list or search request (RFC 7644 §3.4.2)."""

    filter: str | None = None  # noqa: A003 (the RFC's parameter name)
    start_index: int = 1
    count: int | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    attributes: str | None = None
    excluded: str | None = None


def parse(filter_text: str | None):
    """The filter AST of a ``filter`` parameter, or None; 400 invalidFilter when it does not parse."""
    if filter_text is None or not filter_text.strip():
        return None
    try:
        return parse_filter(filter_text)
    except FilterError as exc:
        raise bad_request(f"invalid filter: {exc}", "invalidFilter") from None


def list_response(resources: list[dict], total: int, start: int) -> dict:
    """A ListResponse (RFC 7644 §3.4.2)."""
    return {"schemas": [LIST_SCHEMA], "totalResults": total, "itemsPerPage": len(resources),
            "startIndex": start, "Resources": resources}


def search_all(services: list[Service], params: ListParams) -> dict:
    """A query across every resource type (RFC 7644 §3.4.2.1, §3.4.3 at the root): the types are concatenated
    in order (Users, then Groups) and paged as one list; sorting applies within each type. A type whose schema
    the filter does not fit contributes nothing; a filter that fits no type is 400 invalidFilter."""
    node = parse(params.filter)
    parts, errors, sorted_any = [], [], False
    for service in services:
        try:
            where, order = service.query(params, node)
            sorted_any = True
        except ScimError as exc:
            errors.append(exc)
            try:  # the filter fits but the sort key does not: this type keeps its default order
                where, order = service.query(replace(params, sort_by=None), node)
            except ScimError:
                continue
        parts.append((service, where, order, service.count(where)))
    if not parts or (params.sort_by and not sorted_any):
        raise errors[0]
    start = max(params.start_index, 1)
    wanted = parts[0][0].page_size(params)
    offset, resources = start - 1, []
    for service, where, order, total in parts:
        if offset >= total:
            offset -= total
            continue
        rows = service.page(where, order, offset, wanted - len(resources))
        resources += service.represent(rows, Projection(service.rt, params.attributes, params.excluded))
        offset = 0
    db.session.commit()
    return list_response(resources, sum(p[3] for p in parts), start)


_PREPARED: dict = {}


def prepared_index_delete(table) -> Fast:
    """DELETE of one filter-index row by its key, built once per table."""
    key = (table.name, "index_delete")
    stmt = _PREPARED.get(key)
    if stmt is None:
        c = table.c
        stmt = _PREPARED[key] = Fast(delete(table).where(c.resource_id == bindparam("rid"), c.attr == bindparam("a"),
                                                         c.idx == bindparam("i"), c.sub == bindparam("s")))
    return stmt


INDEX_COLUMNS = ("resource_id", "attr", "idx", "sub", "key", "num")


def prepared_insert(table, keys: tuple[str, ...]) -> Fast:
    """INSERT of rows giving these columns, built once per table and set of columns."""
    key = (table.name, "insert", keys)
    stmt = _PREPARED.get(key)
    if stmt is None:
        stmt = _PREPARED[key] = Fast(insert(table), list(keys))
    return stmt


def prepared(model, kind: str, column=None) -> Fast:
    """Statements built once and reused with bound values, run on the DB-API cursor (fastsql.py): building a
    statement and its cache key costs more than running it, and these serve most of an IdP's traffic (GET by id,
    single-equality lookups)."""
    key = (model.__tablename__, kind, getattr(column, "key", None))
    stmt = _PREPARED.get(key)
    if stmt is None:
        t = model.__table__
        if kind == "by_id":
            stmt = select(t).where(t.c.id == bindparam("v"))
        else:
            stmt = (select(t).where(t.c[column.key] == bindparam("v")).order_by(t.c.created_at, t.c.id)
                    .limit(bindparam("lim")))
        stmt = _PREPARED[key] = Fast(stmt)
    return stmt


def etag(version: int) -> str:
    """The weak entity tag of a version: ``W/"3"``."""
    return f'W/"{version}"'


def etag_matches(header: str | None, version: int) -> bool:
    """Does an If-Match/If-None-Match header name this version? ``*`` matches any; tags compare weakly
    (RFC 7232 §2.3.2: ``W/"3"`` and ``"3"`` are the same version)."""
    if not header:
        return False
    current = f'"{version}"'
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or (tag[2:] if tag.startswith("W/") else tag) == current:
            return True
    return False


class Service:
    """Operations on one resource type; ``base_url`` is the SCIM base (Tenant URL) for locations."""

    def __init__(self, rt: ResourceType, base_url: str, max_results: int, default_count: int):
        self.rt = rt
        self.m = mapping_for(rt)
        self.model = self.m.model
        self.base_url = base_url
        self.max_results = max_results
        self.default_count = default_count
        self.is_group = rt.name == "Group"

    # ------------------------------------------------------------------ helpers
    def location(self, rid: str) -> str:
        """Absolute URL of a resource."""
        return f"{self.base_url}{self.rt.endpoint}/{rid}"

    def _columns(self, data: dict) -> dict:
        display = data.get("displayName")
        cols = {  # an empty string is "no value" for filters (RFC 7644 §3.4.2.2 pr), as in the values table
            "external_id": data.get("externalId") or None,
            "display_name": display,
            "display_name_key": fold(display) if display else None,
        }
        if not self.is_group:
            cols.update(user_name=data["userName"], user_name_key=fold(data["userName"]), active=data.get("active"))
        return cols

    def _load(self, rid: str, for_update: bool = False):
        q = select(self.model).where(self.model.id == rid)
        if for_update:
            q = q.with_for_update()
        row = db.session.scalar(q)
        if row is None:
            raise not_found(f"{self.rt.name} {shown(rid)} not found")
        return row

    def _index_changes(self, rid: str, old: dict, new: dict) -> tuple[list[dict], list[dict]]:
        """The filter-index rows to delete and to insert to go from ``old`` to ``new`` data (only rows that
        differ). Pure computation: a write works it out before it takes the write lock."""
        before = index_rows(self.rt, old, self.m.skip) if old else {}
        after = index_rows(self.rt, new, self.m.skip)
        gone = [{"rid": rid, "a": a, "i": i, "s": s} for (a, i, s), v in before.items() if after.get((a, i, s)) != v]
        fresh = [{"resource_id": rid, "attr": a, "idx": i, "sub": s, "key": v[0], "num": v[1]}
                 for (a, i, s), v in after.items() if before.get((a, i, s)) != v]
        return gone, fresh

    def _write_index(self, changes: tuple[list[dict], list[dict]]) -> None:
        """Apply ``_index_changes``: one executemany each (every column given, so the rows are not split by
        which values are null)."""
        gone, fresh = changes
        table = self.m.values.__table__
        conn = db.session.connection()
        prepared_index_delete(table).execute_many(conn, gone)
        prepared_insert(table, INDEX_COLUMNS).execute_many(conn, fresh)

    def _commit(self, what: str) -> None:
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise ScimError(409, f"{what} is already taken by another {self.rt.name}", "uniqueness") from None

    def _unique_label(self, data: dict) -> str:
        return f"userName {shown(data.get('userName'))}" if not self.is_group else "that value"

    def _meta(self, row) -> dict:
        return {"resourceType": self.rt.name, "created": format_datetime(row.created_at),
                "lastModified": format_datetime(row.updated_at), "location": self.location(row.id),
                "version": etag(row.version)}

    def represent(self, rows: list, projection: Projection, computed_known: bool = False) -> list[dict]:
        """Representations of rows, computed attributes fetched for the whole page at once (not at all when
        ``computed_known``: the caller knows they are empty)."""
        extra: dict[str, list[dict]] = {}
        name = ""
        if computed_known:
            pass
        elif self.is_group and projection.includes(self.rt.core.attr("members")):
            extra = member_rows.members_of([r.id for r in rows], self.base_url)
            name = "members"
        elif not self.is_group and projection.includes(self.rt.core.attr("groups")):
            extra = member_rows.groups_of([r.id for r in rows], self.base_url)
            name = "groups"
        out = []
        for row in rows:
            computed = {name: extra[row.id]} if extra.get(row.id) else None
            out.append(projection.apply(render(self.rt, row.data, row.id, self._meta(row), computed)))
        return out

    # ------------------------------------------------------------------ reads
    def get(self, rid: str, projection: Projection) -> Result:
        """One resource (RFC 7644 §3.4.1)."""
        row = prepared(self.model, "by_id").first(db.session.connection(), {"v": rid})
        if row is None:
            raise not_found(f"{self.rt.name} {shown(rid)} not found")
        return Result(self.represent([row], projection)[0], row.version, self.location(rid))

    def query(self, params: ListParams, node=None):
        """WHERE terms and ORDER BY for a list request (``node``: an already parsed filter)."""
        compiler = Compiler(self.rt, db.session.get_bind().dialect.name)
        where = [compiler.where(node)] if node is not None else []
        order = []
        if params.sort_by:
            key = compiler.sort_key(params.sort_by)
            descending = (params.sort_order or "ascending").lower() == "descending"
            order.append(key.desc().nulls_last() if descending else key.asc().nulls_last())
        return where, order + [self.model.created_at, self.model.id]

    def page(self, where: list, order: list, offset: int, limit: int) -> list:
        """Rows of one page."""
        if limit <= 0:
            return []
        t = self.model.__table__
        if offset:
            # Deep pages: skip the first ``offset`` rows on the ids alone (the order index covers them), then read
            # only the page's rows. Skipping whole rows made the last page of 100,000 users cost twice the first.
            ids = select(t.c.id).where(*where).order_by(*order).offset(offset).limit(limit).correlate(None)
            stmt = select(t).where(t.c.id.in_(ids)).order_by(*order)
        else:
            stmt = select(t).where(*where).order_by(*order).limit(limit)
        return list(db.session.connection().execute(stmt))

    def count(self, where: list) -> int:
        """How many rows match."""
        return db.session.connection().execute(
            select(func.count()).select_from(self.model.__table__).where(*where)).scalar()

    def page_size(self, params: ListParams) -> int:
        """``count`` as asked, defaulted and capped at maxResults (RFC 7644 §3.4.2.4: negative means 0)."""
        return self.default_count if params.count is None else max(min(params.count, self.max_results), 0)

    def list(self, params: ListParams) -> dict:
        """A ListResponse page (RFC 7644 §3.4.2): filter and sort in SQL, stable order, ``count`` capped."""
        projection = Projection(self.rt, params.attributes, params.excluded)
        node = parse(params.filter)
        start = max(params.start_index, 1)
        count = self.page_size(params)
        simple = None
        if node is not None and not params.sort_by and start == 1 and count:
            simple = Compiler(self.rt, db.session.get_bind().dialect.name).column_equality(node)
        if simple is not None:  # the lookup IdPs send before every create and update: a prepared statement
            column, key = simple
            rows = prepared(self.model, "eq", column).rows(db.session.connection(), {"v": key, "lim": count})
            where = None  # built only if a COUNT is needed: building the expression costs more than the lookup
        else:
            where, order = self.query(params, node)
            rows = self.page(where, order, start - 1, count)
        # When the whole result fits in this page its size is the total: no COUNT needed.
        total = len(rows) if start == 1 and len(rows) < count else \
            self.count(where if where is not None else [simple[0] == simple[1]])
        resources = self.represent(rows, projection)
        db.session.commit()
        return list_response(resources, total, start)

    # ------------------------------------------------------------------ writes
    def create(self, body, token_id: int | None) -> Result:
        """POST (RFC 7644 §3.3): 201 with the new resource."""
        with collecting_ignored() as ignored:
            result = self._create(body, token_id)
        result.ignored = ignored
        return result

    def _create(self, body, token_id: int | None) -> Result:
        data = clean_resource(self.rt, body)
        items = (data.pop("members", None) or []) if self.is_group else []
        now = utcnow()
        rid = str(uuid.uuid4())
        row = SimpleNamespace(id=rid, created_at=now, updated_at=now, version=1, data=data,
                              created_by_token_id=token_id, **self._columns(data))
        # Everything that needs no database is worked out first: the write lock (SQLite's, taken by the first
        # statement) is then held only for the statements and the commit. A new user is in no group yet, so its
        # representation is complete now; a group's members are read inside the transaction (see _save).
        index = self._index_changes(rid, {}, data)
        body = None if self.is_group else self.represent([row], Projection(self.rt), computed_known=True)[0]
        values = dict(vars(row))
        try:  # not through the ORM: its unit of work costs more than the insert for this one row
            prepared_insert(self.model.__table__, tuple(values)).execute_many(db.session.connection(), [values])
        except IntegrityError:
            db.session.rollback()
            raise ScimError(409, f"{self._unique_label(data)} is already taken by another {self.rt.name}",
                            "uniqueness") from None
        self._write_index(index)
        if items:
            member_rows.add(rid, items, member_rows.Delta())
        if body is None:
            body = self.represent([row], Projection(self.rt))[0]
        self._commit(self._unique_label(data))
        return Result(body, row.version, self.location(rid), changes=["created"])

    def replace(self, rid: str, body, if_match: str | None, projection: Projection) -> Result:
        """PUT (RFC 7644 §3.5.1): the body replaces every writable attribute; read-only ones are ignored."""
        with collecting_ignored() as ignored:
            result = self._replace(rid, body, if_match, projection)
        result.ignored = ignored
        return result

    def _replace(self, rid: str, body, if_match: str | None, projection: Projection) -> Result:
        row = self._load(rid, for_update=True)
        self._check_version(row, if_match)
        data = clean_resource(self.rt, body)
        delta = member_rows.Delta()
        if self.is_group:
            items = data.pop("members", None) or []  # RFC 7644 §3.5.1: members not given are removed
            member_rows.replace(rid, items, delta)
        return self._result(row, data, len(delta), projection)

    def patch(self, rid: str, body, if_match: str | None, projection: Projection | None) -> Result:
        """PATCH (RFC 7644 §3.5.2), all or nothing. Returns no body when ``projection`` is None."""
        with collecting_ignored() as ignored:
            result = self._patch(rid, body, if_match, projection)
        result.ignored = ignored
        return result

    def _patch(self, rid: str, body, if_match: str | None, projection: Projection | None) -> Result:
        row = self._load(rid, for_update=True)
        self._check_version(row, if_match)
        result = apply_patch(self.rt, row.data, body)
        delta = member_rows.Delta()
        for change in result.member_changes:
            self._apply_member_change(rid, change, delta)
        return self._result(row, result.data, len(delta), projection)

    def _result(self, row, data: dict, member_rows_changed: int, projection: Projection | None) -> Result:
        """Save a replace or patch and describe what it changed."""
        changes = describe_changes(self.rt, row.data, data)
        if member_rows_changed:
            changes.append(f"members ({member_rows_changed} added or removed)")
        body = self._save(row, data, bool(changes), projection)
        return Result(body, row.version, self.location(row.id), changes=changes)

    def _apply_member_change(self, rid: str, change, delta) -> None:
        if change.kind == "add":
            member_rows.add(rid, change.items, delta)
        elif change.kind == "replace":
            member_rows.replace(rid, change.items, delta)
        elif change.kind == "clear":
            member_rows.clear(rid, delta)
        elif change.filter is not None:
            terms = Compiler(self.rt, db.session.get_bind().dialect.name).member_terms(change.filter)
            member_rows.remove_where(rid, terms, delta)
        else:
            member_rows.remove(rid, [member_rows.member_id(i) for i in change.items], delta)

    def _save(self, row, data: dict, changed: bool, projection: Projection | None) -> dict | None:
        """Write the change and commit; returns the representation asked for.

        The representation is built inside the write transaction, before the commit: built after it, a new
        transaction would begin (on SQLite with the write lock, as the request writes) and could fail after the
        change was already committed, answering an error for a write that happened."""
        if changed:
            self._write_index(self._index_changes(row.id, row.data, data))
            for k, v in self._columns(data).items():
                setattr(row, k, v)
            row.data = data
            row.version += 1
            row.updated_at = utcnow()
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise ScimError(409, f"{self._unique_label(data)} is already taken by another {self.rt.name}",
                            "uniqueness") from None
        body = self.represent([row], projection)[0] if projection is not None else None
        self._commit(self._unique_label(data))
        return body

    def _check_version(self, row, if_match: str | None) -> None:
        """RFC 7644 §3.14: If-Match must name the current version (or be ``*``)."""
        if if_match is None:
            return
        if not etag_matches(if_match, row.version):
            raise ScimError(412, f"the resource has changed: its version is {etag(row.version)}", "invalidVers")

    def delete(self, rid: str, if_match: str | None = None) -> None:
        """DELETE (RFC 7644 §3.6): the resource and its memberships go; groups that held it get a new version."""
        row = self._load(rid, for_update=True)
        self._check_version(row, if_match)
        db.session.execute(update(ScimGroup).where(ScimGroup.id.in_(member_rows.groups_containing(rid)))
                           .values(version=ScimGroup.version + 1, updated_at=utcnow()))
        db.session.execute(delete(ScimGroupMember).where(ScimGroupMember.member_id == rid))
        db.session.execute(delete(self.model).where(self.model.id == rid))
        db.session.commit()
