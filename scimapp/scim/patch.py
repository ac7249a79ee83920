"""The PATCH engine (RFC 7644 §3.5.2): applies a PatchOp to a stored resource, all or nothing.

Besides the RFC it accepts what Entra ID and Okta really send (see tests/data): capitalised ops (``Replace``),
booleans as strings, path-less ``add``/``replace`` whose keys are paths (``name.givenName``, ``urn:…:User:department``),
the manager as a bare string and removed through ``manager[value eq "…"]``, group members removed by value list
(``{"op":"Remove","path":"members","value":[{"value":"…"}]}``), read-only ``id`` inside a path-less rename, and an
``add`` through a value filter that creates the element when none matches (``emails[type eq "work"].value``).

Group members are never loaded here: changes to ``members`` come back as ``MemberChange`` records that the service
applies as row inserts and deletes, so a change costs O(members changed).

PURE: no Flask, no database. Works on a deep copy; any error raises ScimError and leaves the input untouched.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from .attributes import Attribute, ResourceType
from .errors import ScimError, bad_request
from .filter import And, Compare, FilterError, Node, Not, Or, PatchPath, Present, parse_path
from .paths import PathError, Resolved, check_value_filter, element_matches, resolve, resolve_relative
from .schemas import check_primary, check_required, check_size, clean_element, clean_extension, clean_value
from .values import shown

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OPS = ("add", "replace", "remove")
MAX_OPERATIONS = 1000


@dataclass
class MemberChange:
    """A change to a group's members: ``add``/``remove``/``replace`` items, ``clear``, or ``remove`` by filter."""

    kind: str
    items: list = field(default_factory=list)
    filter: Node | None = None


@dataclass
class PatchResult:
    """The resource's new stored data and the member changes still to apply."""

    data: dict
    member_changes: list[MemberChange]


def _get(obj: dict, name: str):
    """A PatchOp member looked up case-insensitively (clients send ``Operations``, ``operations``, ``Op``)."""
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == name:
            return v
    return None


def _has(obj: dict, name: str) -> bool:
    return any(isinstance(k, str) and k.lower() == name for k in obj)


def parse_operations(body) -> list[dict]:
    """Validate a PatchOp message (RFC 7644 §3.5.2) and return its operations."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a PatchOp JSON object", "invalidSyntax")
    schemas = _get(body, "schemas")
    if not isinstance(schemas, list) or PATCH_SCHEMA.lower() not in [str(s).lower() for s in schemas]:
        raise bad_request(f"schemas must contain {PATCH_SCHEMA}", "invalidSyntax")
    ops = _get(body, "operations")
    if not isinstance(ops, list) or not ops:
        raise bad_request("Operations must be a non-empty list", "invalidSyntax")
    if len(ops) > MAX_OPERATIONS:
        raise ScimError(413, f"at most {MAX_OPERATIONS} operations per PATCH", "tooLarge")
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            raise bad_request(f"Operations[{i}] must be an object", "invalidSyntax")
        name = _get(op, "op")
        if not isinstance(name, str) or name.lower() not in OPS:
            raise bad_request(f"Operations[{i}].op must be add, replace or remove, got {shown(name)}", "invalidSyntax")
        path = _get(op, "path")
        if path is not None and not isinstance(path, str):
            raise bad_request(f"Operations[{i}].path must be a string", "invalidPath")
    return ops


class _Patcher:
    def __init__(self, rt: ResourceType, data: dict):
        self.rt = rt
        self.data = copy.deepcopy(data)
        self.members: list[MemberChange] = []

    # ---------------------------------------------------------------- dispatch
    def run(self, ops: list[dict]) -> PatchResult:
        for i, op in enumerate(ops):
            kind = _get(op, "op").lower()
            path = _get(op, "path")
            has_value = _has(op, "value")
            value = _get(op, "value")
            where = f"Operations[{i}]"
            if path in (None, ""):
                self.pathless(kind, value, has_value, where)
                continue
            if kind in ("add", "replace") and not has_value:
                raise bad_request(f"{where}: {kind} needs a value", "invalidValue")
            try:
                pp = parse_path(path)
                resolved = resolve(self.rt, pp.attr)
            except (FilterError, PathError) as exc:
                raise bad_request(f"{where}: invalid path {shown(path)}: {exc}", "invalidPath") from None
            self.apply(kind, resolved, pp, value, has_value, explicit=True)
        check_required(self.rt, self.data)
        return PatchResult(self.data, self.members)

    def pathless(self, kind: str, value, has_value: bool, where: str) -> None:
        """RFC 7644 §3.5.2.1/§3.5.2.3 without ``path``: the value's keys name the targets (Entra: keys are paths)."""
        if kind == "remove":
            raise bad_request(f"{where}: remove needs a path", "noTarget")
        if not isinstance(value, dict):
            raise bad_request(f"{where}: {kind} without a path needs an object value", "invalidValue")
        for key, sub_value in value.items():
            if not isinstance(key, str) or key.lower() == "schemas":
                continue
            if self.rt.is_core(key) and isinstance(sub_value, dict):  # core attributes under their own URN
                self.pathless(kind, sub_value, True, where)
                continue
            ext = self.rt.extension(key)
            if ext is not None:
                self.apply(kind, Resolved(ext, None, None, True), PatchPath(None), sub_value, True, explicit=False)
                continue
            try:
                pp = parse_path(key)
                resolved = resolve(self.rt, pp.attr)
            except (FilterError, PathError) as exc:
                raise bad_request(f"{where}: unknown attribute {shown(key)}: {exc}", "invalidPath") from None
            self.apply(kind, resolved, pp, sub_value, True, explicit=False)

    def apply(self, kind: str, r: Resolved, pp: PatchPath, value, has_value: bool, explicit: bool) -> None:
        if r.attr is None:
            return self.whole_extension(kind, r, value)
        attr, sub = r.attr, r.sub or (r.attr.sub(pp.sub) if pp.sub and r.attr.is_complex else None)
        if pp.sub and sub is None:
            raise bad_request(f"{attr.name} has no sub-attribute {shown(pp.sub)}", "invalidPath")
        if attr.read_only or (sub is not None and sub.read_only):
            if explicit:
                raise bad_request(f"{r} is read-only", "mutability")
            return  # Okta's path-less rename carries the group's id: nothing to change
        if kind == "add" and value is None:
            raise bad_request(f"add to {r} needs a value (RFC 7644 §3.5.2.1)", "invalidValue")
        if kind == "add" and value in ([], {}):
            return  # nothing to add
        if attr.mutability == "writeOnly":
            clean_value(attr, value, attr.name)
            return  # the password: checked, then dropped; it is never stored
        if pp.filter is not None and not (attr.multi_valued or attr.is_complex):
            raise bad_request(f"{attr.name} is a single value: a value filter cannot select it", "invalidPath")
        if self.rt.name == "Group" and attr.name == "members":
            return self.member_op(kind, pp, sub, value, has_value)
        container = self.container(r, create=kind != "remove")
        if container is None:
            return
        if pp.filter is not None:
            self.filtered(kind, attr, sub, pp.filter, container, value, has_value)
        elif sub is not None:
            self.sub_attribute(kind, attr, sub, container, value)
        else:
            self.attribute(kind, attr, container, value, has_value)
        if r.extension and not container:
            self.data.pop(r.schema.id, None)

    def container(self, r: Resolved, create: bool) -> dict | None:
        if not r.extension:
            return self.data
        block = self.data.get(r.schema.id)
        if block is None and create:
            block = self.data[r.schema.id] = {}
        return block

    # ---------------------------------------------------------------- targets
    def whole_extension(self, kind: str, r: Resolved, value) -> None:
        """Path = an extension URN: each attribute in the value is added or replaced like a path of its own;
        attributes not named are left unchanged (RFC 7644 §3.5.2.1, §3.5.2.3)."""
        if kind == "remove":
            self.data.pop(r.schema.id, None)
            return
        cleaned = clean_extension(r.schema, value, r.schema.id)
        block = dict(self.data.get(r.schema.id) or {})
        for name, v in cleaned.items():
            attr = r.schema.attr(name)
            if attr.multi_valued and kind == "add":
                self._add_items(attr, block, v)
            elif attr.is_complex and not attr.multi_valued and isinstance(block.get(name), dict):
                block[name] = {**block[name], **v}
            else:
                block[name] = v
        if block:
            self.data[r.schema.id] = block
        else:
            self.data.pop(r.schema.id, None)

    def attribute(self, kind: str, attr: Attribute, container: dict, value, has_value: bool) -> None:
        name = attr.name
        if kind == "remove":
            if has_value and value is not None and attr.multi_valued:
                self._remove_items(attr, container, clean_value(attr, value, name) or [])
            else:
                container.pop(name, None)
            return
        cleaned = clean_value(attr, value, name)
        if cleaned is None:
            container.pop(name, None)  # "replace with empty" clears the attribute
        elif attr.multi_valued and kind == "add":
            self._add_items(attr, container, cleaned)
        elif attr.is_complex and not attr.multi_valued and isinstance(container.get(name), dict):
            # RFC 7644 §3.5.2.1 and §3.5.2.3: sub-attributes not given are left unchanged.
            container[name] = {**container[name], **cleaned}
        else:
            container[name] = cleaned
            if attr.multi_valued:
                check_primary(attr, cleaned, name)

    def sub_attribute(self, kind: str, attr: Attribute, sub: Attribute, container: dict, value) -> None:
        where = f"{attr.name}.{sub.name}"
        current = container.get(attr.name)
        if attr.multi_valued:  # no filter: every element (RFC 7644 §3.5.2.3)
            elements = current or []
            if kind == "remove":
                for e in elements:
                    e.pop(sub.name, None)
                self._store(attr, container, [e for e in elements if e])
                return
            cleaned = clean_value(sub, value, where)
            if not elements and cleaned is not None:  # replace of a missing target acts as add (§3.5.2.3)
                elements = [{}]
            for e in elements:
                self._set_sub(e, sub, cleaned)
            self._settle_primary(attr, elements, elements if sub.name == "primary" else [])
            self._store(attr, container, [e for e in elements if e])
            return
        if kind == "remove":
            if isinstance(current, dict):
                current.pop(sub.name, None)
                if not current:
                    container.pop(attr.name, None)
            return
        cleaned = clean_value(sub, value, where)
        target = current if isinstance(current, dict) else {}
        self._set_sub(target, sub, cleaned)
        if target:
            container[attr.name] = target
        else:
            container.pop(attr.name, None)

    def filtered(self, kind: str, attr: Attribute, sub: Attribute | None, flt: Node, container: dict,
                 value, has_value: bool) -> None:
        """``attr[filter]`` and ``attr[filter].sub`` (RFC 7644 §3.5.2, value selection filters)."""
        try:
            check_value_filter(attr, flt)
        except PathError as exc:
            raise bad_request(f"invalid filter in path: {exc}", "invalidPath") from None
        current = container.get(attr.name)
        if attr.multi_valued:
            elements = list(current or [])
        else:  # a single complex value (Entra: manager[value eq "…"]) is a list of at most one
            elements = [current] if isinstance(current, dict) else []
        hits = [e for e in elements if element_matches(attr, flt, e)]
        where = f"{attr.name}[…]" + (f".{sub.name}" if sub else "")
        if kind == "remove":
            if sub is None:
                elements = [e for e in elements if not any(e is h for h in hits)]
            else:
                for h in hits:
                    h.pop(sub.name, None)
            return self._put_back(attr, container, [e for e in elements if e])
        if not hits:
            if kind == "replace":
                raise bad_request(f"{where}: no value matches the filter", "noTarget")
            if elements and not attr.multi_valued:
                raise bad_request(f"{where}: {attr.name} has a value that does not match the filter", "noTarget")
            new = self._element_from_filter(attr, flt, where)  # Entra: add through a filter creates the entry
            elements.append(new)
            hits = [new]
        if sub is not None:
            cleaned = clean_value(sub, value, where)
            for h in hits:
                self._set_sub(h, sub, cleaned)
        else:
            cleaned = clean_element(attr, value, where)
            if not isinstance(cleaned, dict):
                raise bad_request(f"{where} needs an object value", "invalidValue")
            for h in hits:
                if kind == "replace":
                    h.clear()
                h.update(cleaned)
        if attr.multi_valued:
            self._settle_primary(attr, elements, hits)
        self._put_back(attr, container, [e for e in elements if e])

    def _put_back(self, attr: Attribute, container: dict, elements: list) -> None:
        """Store elements again: a list for multi-valued attributes, the single dict (or nothing) otherwise."""
        if attr.multi_valued:
            self._store(attr, container, elements)
        elif elements:
            container[attr.name] = elements[0]
        else:
            container.pop(attr.name, None)

    def member_op(self, kind: str, pp: PatchPath, sub: Attribute | None, value, has_value: bool) -> None:
        if sub is not None:
            raise bad_request("a member's sub-attributes cannot be changed: remove the member and add it again",
                              "mutability")
        attr = self.rt.core.attr("members")
        if pp.filter is not None:
            if kind != "remove":
                raise bad_request("members[…] paths can only be removed; add members with path \"members\"",
                                  "invalidPath")
            _check_member_filter(attr, pp.filter)
            self.members.append(MemberChange("remove", filter=pp.filter))
            return
        listed = has_value and value is not None  # Entra's remove-by-value; an empty list removes nobody
        items = (clean_value(attr, value, "members") or []) if listed else []
        if kind == "add":
            self.members.append(MemberChange("add", items))
        elif kind == "replace":
            self.members.append(MemberChange("replace", items))
        elif listed:  # Entra without the flag: remove only the listed members
            self.members.append(MemberChange("remove", items))
        else:
            self.members.append(MemberChange("clear"))

    # ---------------------------------------------------------------- helpers
    def _element_from_filter(self, attr: Attribute, flt: Node, where: str) -> dict:
        """The element a filter of ``sub eq value`` terms describes (what Entra's add-through-filter means)."""
        new: dict = {}
        stack = [flt]
        while stack:
            node = stack.pop()
            if isinstance(node, And):
                stack += [node.left, node.right]
            elif isinstance(node, Compare) and node.op == "eq" and attr.is_complex:
                try:
                    sub = resolve_relative(attr, node.path)
                except PathError as exc:
                    raise bad_request(f"invalid filter in path: {exc}", "invalidPath") from None
                self._set_sub(new, sub, clean_value(sub, node.value, where))
            else:
                raise bad_request(f"{where}: no value matches the filter", "noTarget")
        return new

    @staticmethod
    def _set_sub(element: dict, sub: Attribute, cleaned) -> None:
        if cleaned is None:
            element.pop(sub.name, None)
        else:
            element[sub.name] = cleaned

    def _add_items(self, attr: Attribute, container: dict, items: list) -> None:
        current = list(container.get(attr.name) or [])
        seen = {_identity(e) for e in current}
        added = []
        for item in items:  # RFC 7644 §3.5.2.1: an existing value is not added twice
            if _identity(item) not in seen:
                seen.add(_identity(item))
                added.append(item)
        current += added
        check_size(attr, current, attr.name)
        self._settle_primary(attr, current, added)
        self._store(attr, container, current)

    def _remove_items(self, attr: Attribute, container: dict, items: list) -> None:
        """Remove the listed values: matched by ``value`` when the item has one, else as a whole."""
        by_value = {json.dumps(i["value"]) for i in items if isinstance(i, dict) and "value" in i}
        whole = {_identity(i) for i in items if not (isinstance(i, dict) and "value" in i)}

        def listed(element) -> bool:
            if isinstance(element, dict) and "value" in element and json.dumps(element["value"]) in by_value:
                return True
            return _identity(element) in whole
        current = container.get(attr.name) or []
        self._store(attr, container, [e for e in current if not listed(e)])

    @staticmethod
    def _settle_primary(attr: Attribute, elements: list, touched: list) -> None:
        """RFC 7644 §3.5.2: a value newly marked primary takes the mark from the others."""
        if not attr.is_complex or attr.sub("primary") is None:
            return
        if any(isinstance(t, dict) and t.get("primary") is True for t in touched):
            for e in elements:
                if isinstance(e, dict) and e.get("primary") is True and not any(e is t for t in touched):
                    e["primary"] = False
        check_primary(attr, elements, attr.name)

    @staticmethod
    def _store(attr: Attribute, container: dict, elements: list) -> None:
        if elements:
            container[attr.name] = elements
        else:
            container.pop(attr.name, None)


def _identity(value) -> str:
    """A hashable identity of a stored value (dict key order does not matter)."""
    return json.dumps(value, sort_keys=True)


def _check_member_filter(attr: Attribute, node: Node) -> None:
    """Member filters may compare ``value`` and ``type`` (the columns of the member table)."""
    if isinstance(node, (And, Or)):
        _check_member_filter(attr, node.left)
        _check_member_filter(attr, node.right)
    elif isinstance(node, Not):
        _check_member_filter(attr, node.expr)
    elif isinstance(node, (Compare, Present)):
        try:
            sub = resolve_relative(attr, node.path)
        except PathError as exc:
            raise bad_request(f"invalid member filter: {exc}", "invalidPath") from None
        if sub.name not in ("value", "type"):
            raise bad_request("member filters can compare value and type only", "invalidPath")
    else:
        raise bad_request("value filters cannot be nested", "invalidPath")


def apply_patch(rt: ResourceType, data: dict, body) -> PatchResult:
    """Apply a PatchOp body to a resource's stored data; returns the new data and member changes."""
    return _Patcher(rt, data).run(parse_operations(body))
