"""Attribute paths resolved against a resource type, and the meaning of a comparison.

RFC 7644 §3.10 (URN-qualified names), §3.4.2.2 (operators and their typing rules), RFC 7643 §2.1 (names are
case-insensitive). Shared by the SQL compiler (``query.py``), the PATCH engine (``patch.py``) and projection.

PURE: no Flask, no database. ``evaluate`` is the in-memory meaning of a filter; ``query.py`` must agree with it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .attributes import Attribute, ResourceType, Schema
from .filter import And, AttrPath, Compare, Node, Not, Number, Or, Present, ValuePath
from .values import ValueProblem, compare_key, datetime_key, fold, parse_datetime, shown


class PathError(ValueError):
    """A path names no attribute of the resource type, or an operator does not fit the attribute."""


@dataclass(frozen=True)
class Resolved:
    """What a path names: a top-level attribute (``attr``), maybe a sub-attribute (``sub``), or, for a bare
    extension URN, the whole extension (``attr`` None)."""

    schema: Schema
    attr: Attribute | None
    sub: Attribute | None = None
    extension: bool = False

    @property
    def target(self) -> Attribute | None:
        """The innermost attribute named."""
        return self.sub or self.attr

    def __str__(self) -> str:
        if self.attr is None:
            return self.schema.id
        name = self.attr.name + (f".{self.sub.name}" if self.sub else "")
        return f"{self.schema.id}:{name}" if self.extension else name


def resolve(rt: ResourceType, path: AttrPath) -> Resolved:
    """Resolve ``path`` against ``rt``: core and common names unqualified, extension names by URN."""
    if path.uri:
        whole = f"{path.uri}:{path.attr}"
        ext = rt.extension(whole)
        if ext is not None and path.sub is None:
            return Resolved(ext, None, None, True)
        schema = rt.schema_for(path.uri)
        if schema is None:
            raise PathError(f"unknown schema {shown(path.uri)} in {path} (this resource type has "
                            f"{', '.join(s.id for s in rt.schemas)})")
        attr = schema.attr(path.attr)
        if attr is None and schema is rt.core:
            attr = rt.common.attr(path.attr)
        if attr is None:
            raise PathError(f"{schema.id} has no attribute {shown(path.attr)}")
        resolved = Resolved(schema, attr, None, schema is not rt.core and schema is not rt.common)
    else:
        attr = rt.top(path.attr)
        schema = rt.common if attr is not None and rt.common.attr(path.attr) else rt.core
        extension = False
        if attr is None:
            # Entra removes the manager with path manager[value eq "…"], unqualified although the attribute lives
            # in the enterprise extension: accept an unqualified name that exactly one extension defines.
            found = [(s, s.attr(path.attr)) for s in rt.extensions.values() if s.attr(path.attr)]
            if len(found) != 1:
                raise PathError(f"unknown attribute {shown(path.attr)}")
            schema, attr = found[0]
            extension = True
        resolved = Resolved(schema, attr, None, extension)
    if path.sub is not None:
        return Resolved(resolved.schema, resolved.attr, sub_attribute(resolved.attr, path.sub), resolved.extension)
    return resolved


def sub_attribute(attr: Attribute, name: str) -> Attribute:
    """The sub-attribute ``name`` of complex ``attr``; PathError when there is none."""
    if not attr.is_complex:
        raise PathError(f"{attr.name} has no sub-attributes (asked for {attr.name}.{name})")
    sub = attr.sub(name)
    if sub is None:
        raise PathError(f"{attr.name} has no sub-attribute {shown(name)}")
    return sub


def implied_value(attr: Attribute, sub: Attribute | None) -> Attribute | None:
    """The sub-attribute a comparison on a complex attribute means: ``emails co x`` compares emails.value
    (RFC 7644 §3.4.2.2), and so does ``manager eq x`` (Entra's old pre-update check)."""
    if sub is None and attr.is_complex:
        return attr.sub("value")
    return sub


def check_value_filter(parent: Attribute, node: Node) -> None:
    """Resolve every path inside a value filter now, so a bad name fails even when nothing is there to match."""
    if isinstance(node, (And, Or)):
        check_value_filter(parent, node.left)
        check_value_filter(parent, node.right)
    elif isinstance(node, Not):
        check_value_filter(parent, node.expr)
    elif isinstance(node, ValuePath):
        raise PathError("value filters cannot be nested")
    else:
        sub = resolve_relative(parent, node.path)
        if isinstance(node, Compare):
            condition(sub, node.op, node.value)


# Sub-attributes a filter may name where the values are columns of a joined row rather than stored attributes:
# Group.members and User.groups compare the membership table (query.Compiler._row_terms); meta's values are columns
# or constants (query.Compiler._meta_constant), its version and location are computed when a resource is rendered.
ROW_FILTERABLE = {("Group", "members"): {"value", "type"}, ("User", "groups"): {"value", "display", "type"}}
META_FILTERABLE = {"resourceType", "created", "lastModified"}


def check_filter_target(rt: ResourceType, r: Resolved, node: Node) -> None:
    """Refuse what a filter may not name, identically for the SQL compiler and for ``evaluate``: value filters on
    single values (``title[value eq "x"]``: filter ``title`` directly), ``meta`` as a whole and its computed
    sub-attributes (version, location), and the sub-attributes the membership rows do not hold (``$ref``)."""
    attr = r.attr
    row_subs = ROW_FILTERABLE.get((rt.name, attr.name))
    is_meta = attr.name == "meta" and not r.extension
    if isinstance(node, ValuePath):
        if r.sub is not None:
            raise PathError(f"a value filter applies to an attribute, not to {r}")
        if row_subs is None and not attr.is_complex and not attr.multi_valued:
            raise PathError(f"{attr.name} is a single value: filter it directly")
        allowed = row_subs if row_subs is not None else (META_FILTERABLE if is_meta else None)
        if allowed is not None:
            for leaf in _leaves(node.filter):
                name = leaf.path.attr if leaf.path.sub is None else leaf.path.sub
                if row_subs is not None and name.lower() == attr.name.lower() and leaf.path.sub is None:
                    name = "value"  # members[members eq "x"] reads as members.value, as in query.py
                sub = attr.sub(name) if attr.is_complex and leaf.path.sub is None else None
                if sub is not None and sub.name not in allowed:
                    raise PathError(f"{attr.name}.{sub.name} cannot be used in a filter")
        return
    if is_meta and (r.sub is None or r.sub.name not in META_FILTERABLE):
        raise PathError(f"{r} cannot be used in a filter" if r.sub else "meta is complex: compare one of its "
                        "sub-attributes (resourceType, created, lastModified)")
    if row_subs is not None and r.sub is not None and r.sub.name not in row_subs:
        raise PathError(f"{attr.name}.{r.sub.name} cannot be used in a filter")


def _leaves(node: Node):
    if isinstance(node, (And, Or)):
        yield from _leaves(node.left)
        yield from _leaves(node.right)
    elif isinstance(node, Not):
        yield from _leaves(node.expr)
    elif isinstance(node, ValuePath):
        raise PathError("value filters cannot be nested")
    else:
        yield node


def resolve_relative(parent: Attribute, path: AttrPath) -> Attribute:
    """Resolve a path inside a value filter (``emails[type eq "work"]``): it names a sub-attribute of ``parent``."""
    if path.sub is not None or (path.uri and path.uri.lower() != parent.schema.lower()):
        raise PathError(f"{path} is not a sub-attribute of {parent.name}")
    if not parent.is_complex:
        if path.attr.lower() == "value":
            return parent  # simple multi-valued attribute: "value" is the element itself
        raise PathError(f"{parent.name} has no sub-attributes")
    return sub_attribute(parent, path.attr)


# --------------------------------------------------------------------------- comparison semantics

ORDERING = frozenset({"gt", "ge", "lt", "le"})
SUBSTRING = frozenset({"co", "sw", "ew"})


@dataclass(frozen=True)
class Condition:
    """A comparison ready to run: ``op`` against ``key`` (already folded or normalised for ``attr``)."""

    attr: Attribute
    op: str
    key: object  # str or float; None for ``eq null``/``ne null``

    @property
    def numeric(self) -> bool:
        """True when the key is a number (integer and decimal attributes)."""
        return self.attr.type in ("integer", "decimal")

    def test(self, stored_key) -> bool:
        """Does one stored key satisfy the comparison?"""
        if stored_key is None:
            return False
        k, op = self.key, self.op
        if op == "eq":
            return stored_key == k
        if op == "co":
            return k in stored_key
        if op == "sw":
            return stored_key.startswith(k)
        if op == "ew":
            return stored_key.endswith(k)
        if op == "gt":
            return stored_key > k
        if op == "ge":
            return stored_key >= k
        if op == "lt":
            return stored_key < k
        if op == "le":
            return stored_key <= k
        raise AssertionError(op)


def check_filterable(attr: Attribute) -> None:
    """Write-only and never-returned attributes (the password) cannot be filtered on, not even with ``pr``."""
    if attr.mutability == "writeOnly" or attr.returned == "never":
        raise PathError(f"{attr.name} cannot be used in a filter")


def condition(attr: Attribute, op: str, literal) -> Condition:
    """Check ``attr op literal`` against RFC 7644 §3.4.2.2's typing rules and normalise the literal.

    ``ne`` is returned as ``eq``: callers negate it (``ne`` means "no value equals", so an absent attribute
    matches, the same in SQL and in memory).
    """
    t = attr.type
    base_op = "eq" if op == "ne" else op
    if attr.is_complex:
        raise PathError(f"{attr.name} is complex: compare one of its sub-attributes")
    check_filterable(attr)
    if literal is None:
        if op not in ("eq", "ne"):
            raise PathError(f"null can only be compared with eq or ne (got {op})")
        return Condition(attr, base_op, None)
    if t == "boolean":
        if op not in ("eq", "ne"):
            raise PathError(f"{attr.name} is a boolean: only eq and ne apply, not {op}")
        if isinstance(literal, str) and literal.lower() in ("true", "false"):
            literal = literal.lower() == "true"
        if not isinstance(literal, bool):
            raise PathError(f"{attr.name} is a boolean: compare it with true or false")
        return Condition(attr, base_op, "true" if literal else "false")
    if t == "binary":
        raise PathError(f"{attr.name} is binary and cannot be used in a filter")
    if t in ("integer", "decimal"):
        if op in SUBSTRING:
            raise PathError(f"{attr.name} is a number: {op} does not apply")
        try:
            number = float(literal) if not isinstance(literal, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise PathError(f"{attr.name} is a number: {shown(literal)} is not one")
        return Condition(attr, base_op, number)
    if isinstance(literal, bool):
        raise PathError(f"{attr.name} is a {t}: compare it with a string, not {json.dumps(literal)}")
    if isinstance(literal, Number):
        literal = literal.text  # an unquoted number compared with a string attribute means its text
    elif isinstance(literal, (int, float)):
        literal = json.dumps(literal)
    if t == "dateTime":
        if op in SUBSTRING:
            raise PathError(f"{attr.name} is a dateTime: {op} does not apply")
        try:
            return Condition(attr, base_op, datetime_key(parse_datetime(literal)))
        except ValueProblem as exc:
            raise PathError(str(exc)) from None
    return Condition(attr, base_op, literal if attr.case_exact else fold(literal))


# --------------------------------------------------------------------------- in-memory evaluation

def _values(container, attr: Attribute) -> list:
    """The stored values of ``attr`` inside ``container`` (a resource dict or a complex value)."""
    if not isinstance(container, dict):
        return []
    value = container.get(attr.name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _present(value) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return False
    if isinstance(value, dict):
        return any(_present(v) for v in value.values())
    if isinstance(value, list):
        return any(_present(v) for v in value)
    return True


def element_matches(parent: Attribute, node: Node, element) -> bool:
    """Does one element of ``parent`` (a dict for complex attributes, a scalar otherwise) match a value filter?"""
    if isinstance(node, And):
        return element_matches(parent, node.left, element) and element_matches(parent, node.right, element)
    if isinstance(node, Or):
        return element_matches(parent, node.left, element) or element_matches(parent, node.right, element)
    if isinstance(node, Not):
        return not element_matches(parent, node.expr, element)
    if isinstance(node, ValuePath):
        raise PathError("value filters cannot be nested")
    sub = resolve_relative(parent, node.path)
    value = element if sub is parent else (element.get(sub.name) if isinstance(element, dict) else None)
    if isinstance(node, Present):
        return _present(value)
    cond = condition(sub, node.op, node.value)
    hit = _test_values(cond, [value] if value is not None else [])
    return not hit if node.op == "ne" else hit


def _test_values(cond: Condition, values: list) -> bool:
    if cond.key is None:  # eq null: nothing present
        return not any(_present(v) for v in values)
    return any(cond.test(compare_key(cond.attr, v)) for v in values if v is not None and not isinstance(v, dict))


def stored(resource: dict, r: Resolved):
    """The stored value a resolved (top-level) attribute has in a resource dict (extensions under their URN)."""
    container = resource.get(r.schema.id, {}) if r.extension else resource
    return container.get(r.attr.name) if isinstance(container, dict) else None


def evaluate(rt: ResourceType, node: Node, resource: dict) -> bool:
    """Does a whole resource (its full SCIM representation) match a filter? The reference for ``query.py``."""
    if isinstance(node, And):
        return evaluate(rt, node.left, resource) and evaluate(rt, node.right, resource)
    if isinstance(node, Or):
        return evaluate(rt, node.left, resource) or evaluate(rt, node.right, resource)
    if isinstance(node, Not):
        return not evaluate(rt, node.expr, resource)
    r = resolve(rt, node.path)
    if r.attr is None:
        raise PathError(f"{r} is a schema, not an attribute")
    check_filterable(r.target)
    check_filter_target(rt, r, node)
    top = stored(resource, r)
    elements = [] if top is None else (top if isinstance(top, list) else [top])
    if isinstance(node, ValuePath):
        if r.sub is not None:
            raise PathError(f"a value filter applies to an attribute, not to {r}")
        check_value_filter(r.attr, node.filter)
        return any(element_matches(r.attr, node.filter, e) for e in elements)
    target = r.sub if isinstance(node, Present) else implied_value(r.attr, r.sub)
    if target is not None:
        values = [e.get(target.name) for e in elements if isinstance(e, dict)]
    else:
        values = elements
        target = r.attr
    if isinstance(node, Present):
        return any(_present(v) for v in values)
    cond = condition(target, node.op, node.value)
    hit = _test_values(cond, values)
    return not hit if node.op == "ne" else hit
