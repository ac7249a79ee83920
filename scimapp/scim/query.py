"""The only SQL the SCIM API runs for filters and sorting: a filter AST (``filter.py``) -> a SQLAlchemy WHERE clause.

Every comparison reaches an index: dedicated columns for the attributes looked up most (``userName``, ``externalId``,
``displayName``, ``active``, ``meta.*``), the members table for ``members``/``groups``, and the filter-index table
(``*_values``) for everything else, as ``id IN (SELECT resource_id … WHERE attr = … AND sub = … AND key <op> …)``.
Keys were folded in Python on write (``values.fold``), so case-insensitive matching is the same on SQLite and
PostgreSQL. Nothing here loads rows to test them in Python. ``paths.evaluate`` is the in-memory reference meaning.

RFC 7644 §3.4.2.2 (filtering), §3.4.2.3 (sorting).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.orm import aliased

from ..models import ScimGroup, ScimGroupMember, ScimGroupValue, ScimUser, ScimUserValue
from .attributes import Attribute, ResourceType
from .errors import bad_request
from .filter import And, Compare, Node, Not, Or, Present, ValuePath
from .paths import (Condition, PathError, Resolved, check_filter_target, check_filterable, check_value_filter,
                    condition, implied_value, resolve, resolve_relative, sub_attribute)
from .schemas import attr_key
from .values import parse_datetime, shown


@dataclass(frozen=True)
class Mapping:
    """How one resource type is stored: its table, its filter-index table and its dedicated columns."""

    model: type
    values: type
    columns: dict  # "username", "meta.created", … -> column (holding keys for case-insensitive attributes)

    @property
    def skip(self) -> frozenset:
        """Top-level attributes that need no filter-index rows (columns or the members table cover them)."""
        return frozenset(k for k in self.columns if "." not in k) | {"members"}


USER = Mapping(ScimUser, ScimUserValue, {
    "id": ScimUser.id, "externalid": ScimUser.external_id, "username": ScimUser.user_name_key,
    "displayname": ScimUser.display_name_key, "active": ScimUser.active,
    "meta.created": ScimUser.created_at, "meta.lastmodified": ScimUser.updated_at,
})
GROUP = Mapping(ScimGroup, ScimGroupValue, {
    "id": ScimGroup.id, "externalid": ScimGroup.external_id, "displayname": ScimGroup.display_name_key,
    "meta.created": ScimGroup.created_at, "meta.lastmodified": ScimGroup.updated_at,
})


def mapping_for(rt: ResourceType) -> Mapping:
    """The storage mapping of a resource type."""
    return USER if rt.name == "User" else GROUP


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _escape_glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


class Compiler:
    """Compiles filter ASTs of one resource type for one database dialect."""

    def __init__(self, rt: ResourceType, dialect: str):
        self.rt = rt
        self.m = mapping_for(rt)
        self.dialect = dialect

    def where(self, node: Node):
        """WHERE clause for a filter AST; ScimError 400 invalidFilter for what cannot be compiled."""
        try:
            return self._node(node)
        except PathError as exc:
            raise bad_request(f"invalid filter: {exc}", "invalidFilter") from None

    def column_equality(self, node: Node):
        """``(column, key)`` when the filter is one ``eq`` on a dedicated text column (Entra's and Okta's lookups:
        ``userName eq``, ``externalId eq``, ``displayName eq``, ``id eq``), so a prepared statement can serve it."""
        if not isinstance(node, Compare) or node.op != "eq" or not isinstance(node.value, str):
            return None
        try:
            r = resolve(self.rt, node.path)
        except PathError:
            return None
        if r.extension or r.attr is None or r.sub is not None or r.attr.type != "string":
            return None
        column = self.m.columns.get(r.attr.name.lower())
        if column is None:
            return None
        return column, condition(r.attr, "eq", node.value).key

    # ------------------------------------------------------------------ structure
    def _node(self, node: Node):
        if isinstance(node, And):
            return and_(self._node(node.left), self._node(node.right))
        if isinstance(node, Or):
            return or_(self._node(node.left), self._node(node.right))
        if isinstance(node, Not):
            return not_(self._node(node.expr))
        r = resolve(self.rt, node.path)
        if r.attr is None:
            raise PathError(f"{r} is a schema, not an attribute")
        check_filterable(r.target)
        check_filter_target(self.rt, r, node)
        if isinstance(node, ValuePath):
            return self._value_path(r, node.filter)
        return self._leaf(r, node)

    def _leaf(self, r: Resolved, node: Compare | Present):
        attr, sub = r.attr, r.sub
        rows = {("Group", "members"): self._member_rows, ("User", "groups"): self._group_rows}.get(
            (self.rt.name, attr.name))
        if rows is not None:
            node = node if sub is None else _relative(node, sub)
            if isinstance(node, Compare) and (node.op == "ne" or node.value is None):
                # "no value equals" / "no value present" at the resource level: NOT IN (the rows that do)
                positive = Present(node.path) if node.value is None else Compare(node.path, "eq", node.value)
                hit = rows(attr, positive)
                return hit if node.op == "ne" and node.value is None else not_(hit)
            return rows(attr, node)
        if isinstance(node, Compare):
            sub = implied_value(attr, sub)
        name = attr.name.lower() + (f".{sub.name.lower()}" if sub else "")
        if not r.extension and name in self.m.columns:
            return self._column(self.m.columns[name], sub or attr, node)
        if not r.extension and attr.name == "meta":
            return self._meta_constant(sub, node)
        return self._indexed(r, sub, node)

    # ------------------------------------------------------------------ dedicated columns
    def _column(self, col, attr: Attribute, node):
        text = attr.type not in ("boolean", "dateTime")
        if isinstance(node, Present):
            return and_(col.isnot(None), col != "") if text else col.isnot(None)
        cond = condition(attr, node.op, node.value)
        if cond.key is None:
            present = self._column(col, attr, Present(node.path))
            return present if node.op == "ne" else not_(present)
        if attr.type == "boolean":
            clause = col == (cond.key == "true")
        elif attr.type == "dateTime":
            clause = self._compare(col, cond, parse_datetime(cond.key).replace(tzinfo=None))
        else:
            clause = self._compare(col, cond, cond.key)
        # Never NULL, so that NOT (…) keeps two-valued logic: an absent value is "not equal" and matches not(…).
        clause = and_(col.isnot(None), clause)
        return not_(clause) if node.op == "ne" else clause

    def _compare(self, col, cond: Condition, key):
        op = cond.op
        if op == "eq":
            return col == key
        if op == "gt":
            return col > key
        if op == "ge":
            return col >= key
        if op == "lt":
            return col < key
        if op == "le":
            return col <= key
        # co / sw / ew on text keys. Case-insensitive keys are folded already, so case-sensitive matching is
        # right for every attribute; SQLite's LIKE ignores ASCII case, so it uses GLOB instead.
        if self.dialect == "sqlite":
            core = _escape_glob(key)
            pattern = {"co": f"*{core}*", "sw": f"{core}*", "ew": f"*{core}"}[op]
            return col.op("GLOB")(pattern)
        core = _escape_like(key)
        pattern = {"co": f"%{core}%", "sw": f"{core}%", "ew": f"%{core}"}[op]
        return col.like(pattern, escape="\\")

    def _meta_constant(self, sub: Attribute | None, node):
        if sub is not None and sub.name == "resourceType":
            if isinstance(node, Present):
                return true()
            cond = condition(sub, node.op, node.value)
            hit = cond.key is not None and cond.test(self.rt.name)
            return true() if hit != (node.op == "ne") else false()
        raise PathError(f"meta.{sub.name if sub else ''} cannot be used in a filter".rstrip("."))

    # ------------------------------------------------------------------ filter-index rows
    def _indexed(self, r: Resolved, sub: Attribute | None, node):
        V, model = self.m.values, self.m.model
        akey = attr_key(r.schema, r.attr, self.rt)
        rows = select(V.resource_id).where(V.attr == akey)
        if sub is not None:
            rows = rows.where(V.sub == sub.key)
        elif not r.attr.is_complex:
            rows = rows.where(V.sub == "")
        else:
            rows = rows.where(V.sub != "")  # any sub-attribute with a value; "" rows only mark elements
        if isinstance(node, Present):
            return model.id.in_(rows)
        target = sub or r.attr
        cond = condition(target, node.op, node.value)
        if cond.key is None:
            present = model.id.in_(rows)
            return present if node.op == "ne" else not_(present)
        clause = model.id.in_(rows.where(self._compare(V.num if cond.numeric else V.key, cond, cond.key)))
        return not_(clause) if node.op == "ne" else clause

    def _value_path(self, r: Resolved, flt: Node):
        attr = r.attr
        if r.sub is not None:
            raise PathError(f"a value filter applies to an attribute, not to {r}")
        if self.rt.name == "Group" and attr.name == "members":
            return self._member_rows(attr, flt)
        if self.rt.name == "User" and attr.name == "groups":
            return self._group_rows(attr, flt)
        if not attr.is_complex and not attr.multi_valued:
            raise PathError(f"{attr.name} is a single value: filter it directly")
        check_value_filter(attr, flt)
        if attr.name == "meta" and not r.extension:
            # meta is always there and single: meta[F] is F with each path read under meta (it has no index rows)
            return self._node(_under(flt, r.attr.name))
        if isinstance(flt, Or):  # some element matches A or B  ==  some matches A, or some matches B
            return or_(self._value_path(r, flt.left), self._value_path(r, flt.right))
        V = self.m.values
        akey = attr_key(r.schema, attr, self.rt)
        anchor = aliased(V)
        terms = _conjuncts(flt)
        lead = next((t for t in terms if isinstance(t, Compare) and t.op != "ne" and t.value is not None), None)
        where = [anchor.attr == akey]
        if lead is None:
            where.append(anchor.sub == "")  # one row per element: the marker (complex) or the value (simple)
        if lead is not None:  # drive the lookup from an indexed comparison, correlate the rest by element
            sub = resolve_relative(attr, lead.path)
            cond = condition(sub, lead.op, lead.value)
            where += [anchor.sub == (sub.key if sub is not attr else ""),
                      self._compare(anchor.num if cond.numeric else anchor.key, cond, cond.key)]
            terms = [t for t in terms if t is not lead]
        where += [self._element(attr, akey, anchor, t) for t in terms]
        return self.m.model.id.in_(select(anchor.resource_id).where(*where))

    def _element(self, attr: Attribute, akey: str, anchor, node: Node):
        """A value-filter term about the element ``anchor`` belongs to (same resource, attribute and index)."""
        if isinstance(node, And):
            return and_(self._element(attr, akey, anchor, node.left), self._element(attr, akey, anchor, node.right))
        if isinstance(node, Or):
            return or_(self._element(attr, akey, anchor, node.left), self._element(attr, akey, anchor, node.right))
        if isinstance(node, Not):
            return not_(self._element(attr, akey, anchor, node.expr))
        if isinstance(node, ValuePath):
            raise PathError("value filters cannot be nested")
        sub = resolve_relative(attr, node.path)
        W = aliased(self.m.values)
        row = [W.resource_id == anchor.resource_id, W.attr == akey, W.idx == anchor.idx,
               W.sub == (sub.key if sub is not attr else "")]
        if isinstance(node, Present):
            return exists().where(*row)
        cond = condition(sub, node.op, node.value)
        if cond.key is None:
            present = exists().where(*row)
            return present if node.op == "ne" else not_(present)
        hit = exists().where(*row, self._compare(W.num if cond.numeric else W.key, cond, cond.key))
        return not_(hit) if node.op == "ne" else hit

    # ------------------------------------------------------------------ members and groups
    def _member_rows(self, attr: Attribute, node: Node):
        """Group.members: compare the member table's columns (value = member id, type = User/Group)."""
        GM = ScimGroupMember
        cols = {"value": GM.member_id, "type": func.lower(GM.member_type)}
        return ScimGroup.id.in_(select(GM.group_id).where(self._row_terms(attr, cols, node)))

    def _group_rows(self, attr: Attribute, node: Node):
        """User.groups (direct memberships): value = group id, display = the group's displayName."""
        GM = ScimGroupMember
        cols = {"value": GM.group_id, "display": ScimGroup.display_name_key, "type": literal("direct")}
        rows = select(GM.member_id).join(ScimGroup, ScimGroup.id == GM.group_id)
        return ScimUser.id.in_(rows.where(self._row_terms(attr, cols, node)))

    def member_terms(self, node: Node):
        """WHERE terms on the member table for a ``members[…]`` filter (PATCH removes members with these)."""
        GM = ScimGroupMember
        cols = {"value": GM.member_id, "type": func.lower(GM.member_type)}
        try:
            return self._row_terms(self.rt.core.attr("members"), cols, node)
        except PathError as exc:
            raise bad_request(f"invalid member filter: {exc}", "invalidPath") from None

    def _row_terms(self, attr: Attribute, cols: dict, node: Node):
        """A filter over sub-attributes that are all columns of one joined row."""
        if isinstance(node, And):
            return and_(self._row_terms(attr, cols, node.left), self._row_terms(attr, cols, node.right))
        if isinstance(node, Or):
            return or_(self._row_terms(attr, cols, node.left), self._row_terms(attr, cols, node.right))
        if isinstance(node, Not):
            return not_(self._row_terms(attr, cols, node.expr))
        if isinstance(node, ValuePath):
            raise PathError("value filters cannot be nested")
        if node.path.attr.lower() == attr.name.lower() and node.path.sub is None and node.path.uri is None:
            node = _relative(node, sub_attribute(attr, "value"))  # "members eq x" compares members.value
        sub = resolve_relative(attr, node.path)
        col = cols.get(sub.name)
        if col is None:
            raise PathError(f"{attr.name}.{sub.name} cannot be used in a filter")
        if isinstance(node, Present):
            return true()
        cond = condition(sub, node.op, node.value)
        if cond.key is None:
            return false() if node.op == "eq" else true()
        clause = self._compare(col, cond, cond.key)
        return not_(clause) if node.op == "ne" else clause

    # ------------------------------------------------------------------ sorting
    def sort_key(self, path_text: str):
        """ORDER BY expression for ``sortBy`` (RFC 7644 §3.4.2.3); multi-valued attributes sort by their first
        (primary, when marked) value."""
        from .filter import FilterError, parse_attr_path
        try:
            r = resolve(self.rt, parse_attr_path(path_text.strip()))
        except (FilterError, PathError) as exc:
            raise bad_request(f"invalid sortBy {shown(path_text)}: {exc}", "invalidValue") from None
        if r.attr is None:
            raise bad_request(f"sortBy must name an attribute, not the schema {r}", "invalidValue")
        try:
            check_filterable(r.target)
        except PathError as exc:
            raise bad_request(f"invalid sortBy: {exc}", "invalidValue") from None
        attr, sub = r.attr, r.sub
        if sub is None and attr.is_complex and attr.multi_valued and attr.sub("value"):
            sub = attr.sub("value")
        target = sub or attr
        if target.is_complex or target.type == "binary" or (attr.is_complex and attr.multi_valued and not sub):
            raise bad_request(f"sortBy cannot use {r}", "invalidValue")
        name = attr.name.lower() + (f".{sub.name.lower()}" if sub else "")
        if not r.extension and name in self.m.columns:
            return self.m.columns[name]
        if (self.rt.name == "Group" and attr.name == "members") or (self.rt.name == "User" and attr.name == "groups") \
                or attr.name == "meta":
            raise bad_request(f"sortBy cannot use {r}", "invalidValue")
        V = aliased(self.m.values)
        P = aliased(self.m.values)
        akey = attr_key(r.schema, attr, self.rt)
        is_primary = exists().where(P.resource_id == V.resource_id, P.attr == V.attr, P.idx == V.idx,
                                    P.sub == "primary", P.key == "true")
        col = V.num if target.type in ("integer", "decimal") else V.key
        return (select(col).where(V.resource_id == self.m.model.id, V.attr == akey,
                                  V.sub == (sub.key if sub else ""))
                .order_by(is_primary.desc(), V.idx).limit(1).scalar_subquery())


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _under(node: Node, parent: str) -> Node:
    """A value filter's terms with each relative path read under ``parent`` (``resourceType`` -> ``meta.resourceType``)."""
    from .filter import AttrPath
    if isinstance(node, (And, Or)):
        return type(node)(_under(node.left, parent), _under(node.right, parent))
    if isinstance(node, Not):
        return Not(_under(node.expr, parent))
    path = AttrPath(None, parent, node.path.attr)
    return Present(path) if isinstance(node, Present) else Compare(path, node.op, node.value)


def _relative(node: Compare | Present, sub: Attribute):
    """The same comparison with its path made relative to the sub-attribute (``members.value`` -> ``value``)."""
    from .filter import AttrPath
    path = AttrPath(None, sub.name)
    return Present(path) if isinstance(node, Present) else Compare(path, node.op, node.value)

