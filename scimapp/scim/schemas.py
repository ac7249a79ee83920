"""Resource representations: what a client sends -> what is stored -> what is returned.

- ``clean_resource`` / ``clean_value``: check a POST/PUT body or a PATCH value against the schema (RFC 7643 §2),
  coerce booleans Entra sends as strings, turn a bare string into ``{"value": …}`` for complex attributes (Entra's
  manager), drop read-only attributes (RFC 7644 §3.3, §3.5.1) and the password (accepted, never stored).
  Strings are kept exactly as sent.
- ``index_rows``: the rows of the filter index for a stored resource.
- ``render`` and ``Projection``: the returned representation and the ``attributes``/``excludedAttributes``
  selection (RFC 7644 §3.4.2.5, RFC 7643 §2.2 ``returned``).

PURE: no Flask, no database.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager

from .attributes import Attribute, ResourceType, Schema
from .errors import ScimError, bad_request
from .filter import FilterError, parse_attr_list
from .paths import PathError, resolve
from .values import ValueProblem, coerce_scalar, compare_key, shown


# --------------------------------------------------------------------------- input

# Unknown attributes inside a resource body are ignored, not refused: Microsoft's own test collection and Okta's
# PUT (which echoes back whatever GET returned, plus its own fields) expect that. They are reported here so the
# request log can say what was dropped. PATCH paths stay strict (paths.resolve): a path must name an attribute.
_ignored: contextvars.ContextVar[list | None] = contextvars.ContextVar("scimapp_ignored", default=None)

# Sub-attribute names clients use for another one: Microsoft's test collection sends members[].displayName.
SUB_ALIASES = {("members", "displayname"): "display"}
# Most values one multi-valued attribute may hold (group members live in their own table and have no limit).
MAX_VALUES = 1000


@contextmanager
def collecting_ignored():
    """Within this block, unknown attribute names met while cleaning are appended to the yielded list."""
    found: list[str] = []
    token = _ignored.set(found)
    try:
        yield found
    finally:
        _ignored.reset(token)


def note_ignored(where: str) -> None:
    """Report something the request named that was skipped (see ``collecting_ignored``)."""
    _ignore(where)


def _ignore(where: str) -> None:
    found = _ignored.get()
    if found is not None and where not in found:
        found.append(where)


def clean_value(attr: Attribute, value, where: str):
    """Check and coerce a value for ``attr``; None when it amounts to "no value" (null, empty list)."""
    if value is None:
        return None
    if attr.multi_valued:
        items = value if isinstance(value, list) else [value]
        check_size(attr, items, where)
        out = []
        for i, item in enumerate(items):
            cleaned = clean_element(attr, item, f"{where}[{i}]")
            if cleaned is not None:
                out.append(cleaned)
        check_primary(attr, out, where)
        return out or None
    if isinstance(value, list):
        raise bad_request(f"{where} takes a single value, not a list")
    return clean_element(attr, value, where)


def clean_element(attr: Attribute, value, where: str):
    """Check and coerce one element (or the single value) of ``attr``; None for "no value"."""
    if value is None:
        return None
    if not attr.is_complex:
        try:
            return coerce_scalar(attr, value, where)
        except ValueProblem as exc:
            raise bad_request(str(exc)) from None
    if isinstance(value, str) and attr.sub("value") is not None:
        # Entra sets the manager as a bare id string (and Microsoft's validator clears it with ""): read the
        # string as {"value": …} for any complex attribute that has a "value" sub-attribute.
        return {"value": value} if value != "" else None
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object with the sub-attributes of {attr.name}")
    out = {}
    for key, sub_value in value.items():
        sub = attr.sub(key) or attr.sub(SUB_ALIASES.get((attr.name, str(key).lower()), ""))
        if sub is None:
            _ignore(f"{where}.{key}")
            continue
        if sub.read_only or sub_value is None or sub.name in out:
            continue
        try:
            out[sub.name] = coerce_scalar(sub, sub_value, f"{where}.{sub.name}")
        except ValueProblem as exc:
            raise bad_request(str(exc)) from None
    return out or None


def check_size(attr: Attribute, items: list, where: str) -> None:
    """At most MAX_VALUES values per multi-valued attribute (group members excepted)."""
    if len(items) > MAX_VALUES and attr.name != "members":
        raise bad_request(f"{where} has {len(items)} values; at most {MAX_VALUES} are allowed")


def check_primary(attr: Attribute, items: list, where: str) -> None:
    """RFC 7643 §2.4: at most one element of a multi-valued attribute may be ``primary``."""
    if attr.is_complex and attr.sub("primary") is not None:
        if sum(1 for i in items if isinstance(i, dict) and i.get("primary") is True) > 1:
            raise bad_request(f"{where}: more than one value is marked primary")


def _is_urn(key: str) -> bool:
    return key[:4].lower() == "urn:"


def clean_resource(rt: ResourceType, body) -> dict:
    """A POST/PUT body as stored: canonical attribute names, extensions under their URN, read-only dropped."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", "invalidSyntax")
    data: dict = {}
    schemas = _find(body, "schemas")
    if schemas is not None and not (isinstance(schemas, list) and all(isinstance(s, str) for s in schemas)):
        raise bad_request("schemas must be a list of schema URNs", "invalidSyntax")
    for key, value in body.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            continue
        if _is_urn(key):
            if rt.is_core(key):  # core attributes written under their own URN
                if not isinstance(value, dict):
                    raise bad_request(f"{key} must be an object", "invalidSyntax")
                for k, v in value.items():
                    _put_top(rt, rt.core, data, k, v)
                continue
            ext = rt.extension(key)
            if ext is None:
                raise bad_request(_unknown_extension(rt, key), "invalidSyntax")
            data[ext.id] = clean_extension(ext, value, ext.id)  # kept while checking: the resource uses it
            continue
        _put_top(rt, rt.core, data, key, value)
    check_required(rt, data)
    return {k: v for k, v in data.items() if v != {} or not _is_urn(k)}


def _unknown_extension(rt: ResourceType, urn: str) -> str:
    known = ", ".join(s.id for s in rt.extensions.values()) or "none"
    return (f"unknown schema extension {urn[:300]!r} for {rt.name} (declared extensions: {known}); "
            "an administrator can declare it in the instance configuration")


def clean_extension(ext: Schema, value, where: str) -> dict:
    """The attributes of one extension object, cleaned."""
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object of {ext.name} attributes", "invalidSyntax")
    out: dict = {}
    for k, v in value.items():
        if isinstance(k, str) and k.lower() == "schemas":
            continue  # some clients repeat the schema list inside the extension object
        _put_attr(ext, out, k, v, f"{ext.id}:{k}")
    return out


def _put_top(rt: ResourceType, core: Schema, data: dict, key: str, value) -> None:
    attr = rt.common.attr(key)
    if attr is not None:
        if not attr.read_only:  # id and meta are read-only: RFC 7644 §3.3 says ignore them
            cleaned = clean_value(attr, value, attr.name)
            if cleaned is not None:
                data[attr.name] = cleaned
        return
    _put_attr(core, data, key, value, key)


def _put_attr(schema: Schema, out: dict, key: str, value, where: str) -> None:
    attr = schema.attr(key)
    if attr is None:
        _ignore(where)
        return
    if attr.read_only:
        return  # read-only: ignored (RFC 7644 §3.3)
    cleaned = clean_value(attr, value, where)
    if attr.mutability == "writeOnly":
        return  # the password: checked like any string, then dropped; it is never stored
    if cleaned is not None:
        out[attr.name] = cleaned


def _find(body: dict, name: str):
    for k, v in body.items():
        if isinstance(k, str) and k.lower() == name:
            return v
    return None


def check_required(rt: ResourceType, data: dict) -> None:
    """RFC 7643 §2.2 ``required``: every required, writable attribute has a value — in the core schema, in
    required extensions, and in optional extensions the resource uses (RFC 7643 §3.3: those may be left out)."""
    for schema in rt.schemas:
        if schema is not rt.core and schema.id not in data and schema.id.lower() not in rt.required_extensions:
            continue
        container = data if schema is rt.core else data.get(schema.id, {})
        for attr in schema.attributes.values():
            if attr.required and not attr.read_only and container.get(attr.name) in (None, "", [], {}):
                raise bad_request(f"{attr.name} is required")


def describe_changes(rt: ResourceType, old: dict, new: dict) -> list[str]:
    """The attributes that differ between two stored representations (for the change history), e.g.
    ``["displayName", "emails", "EnterpriseUser.department"]``."""
    out = []
    for key in sorted(set(old) | set(new), key=str.lower):
        ext = rt.extension(key) if _is_urn(key) else None
        if ext is not None:
            a, b = old.get(key) or {}, new.get(key) or {}
            out += [f"{ext.name}.{k}" for k in sorted(set(a) | set(b), key=str.lower) if a.get(k) != b.get(k)]
        elif old.get(key) != new.get(key):
            out.append(key)
    return out


# --------------------------------------------------------------------------- filter index

def attr_key(schema: Schema, attr: Attribute, rt: ResourceType) -> str:
    """Name of a top-level attribute in the filter index: lower-case, extensions prefixed by their URN."""
    return attr.key if schema is rt.core or schema is rt.common else f"{schema.id.lower()}:{attr.key}"


def index_rows(rt: ResourceType, data: dict, skip: frozenset[str]) -> dict[tuple, tuple]:
    """Filter-index rows for a stored resource: {(attr, idx, sub): (key, num)}; ``skip`` names column-backed
    attributes (lower-case) that need no rows."""
    rows: dict[tuple, tuple] = {}
    for schema in rt.schemas:
        container = data if schema is rt.core else data.get(schema.id)
        if not isinstance(container, dict):
            continue
        for attr in schema.attributes.values():
            akey = attr_key(schema, attr, rt)
            value = container.get(attr.name)
            if value is None or akey in skip:
                continue
            for idx, element in enumerate(value if attr.multi_valued else [value]):
                if attr.is_complex:
                    if not isinstance(element, dict):
                        continue
                    # One marker row per element, so that value filters can range over elements even when an
                    # element holds nothing comparable (RFC 7644 §3.4.2.2: emails[not (value pr)]).
                    rows[(akey, idx, "")] = (None, None)
                    for sub in attr.sub_attributes.values():
                        _add_row(rows, (akey, idx, sub.key), sub, element.get(sub.name))
                else:
                    _add_row(rows, (akey, idx, ""), attr, element)
    # External id is filtered through its column; the common attributes never need rows.
    return rows


def _add_row(rows: dict, where: tuple, attr: Attribute, value) -> None:
    key = compare_key(attr, value)
    if key is None:
        if attr.type == "binary" and isinstance(value, str) and value:
            rows[where] = (None, None)  # binary values cannot be compared, but "pr" must see them
        return
    rows[where] = (None, key) if isinstance(key, float) else (key, None)


# --------------------------------------------------------------------------- output

def render(rt: ResourceType, data: dict, rid: str, meta: dict, computed: dict | None = None) -> dict:
    """The full SCIM representation: schemas, id, the stored attributes, computed ones, extensions, meta."""
    ext_ids = [s.id for s in rt.extensions.values() if s.id in data]
    rep: dict = {"schemas": [rt.core.id, *ext_ids], "id": rid}
    for k, v in data.items():
        if k not in ext_ids:
            rep[k] = v
    if computed:
        rep.update(computed)
    for k in ext_ids:
        rep[k] = data[k]
    rep["meta"] = meta
    return rep


class Projection:
    """Which attributes a response carries (RFC 7644 §3.4.2.5 with RFC 7643 §2.2 ``returned``)."""

    def __init__(self, rt: ResourceType, attributes: str | None = None, excluded: str | None = None):
        self.rt = rt
        self.mode = "attributes" if attributes else "excluded" if excluded else "default"
        self.selection: dict[tuple[str, str | None], set | None] = {}
        text = attributes or excluded or ""
        try:
            paths = parse_attr_list(text) if text else []
        except FilterError as exc:
            raise bad_request(f"invalid attribute list {shown(text)}: {exc}") from None
        for p in paths:
            try:
                r = resolve(rt, p.attr)
            except PathError:
                continue  # unknown names select nothing (clients pass one list to every endpoint)
            schema_id = r.schema.id if r.extension else ""
            if r.attr is None:
                self.selection[(schema_id, None)] = None
                continue
            key = (schema_id, r.attr.name)
            sub = r.sub.name if r.sub else (p.sub if p.filter is not None and p.sub else None)
            if sub is None or r.attr.sub(sub) is None:
                self.selection[key] = None
            elif key not in self.selection or self.selection[key] is not None:
                self.selection.setdefault(key, set()).add(r.attr.sub(sub).name)

    def includes(self, attr: Attribute, schema_id: str = "") -> bool:
        """Will the response carry (some of) this top-level attribute? Lets callers skip costly work."""
        return self._decide(schema_id, attr) is not False

    def _decide(self, schema_id: str, attr: Attribute):
        """False: drop; True: keep whole; a set: keep these sub-attributes."""
        if attr.returned == "never":
            return False
        if attr.returned == "always":
            return True
        whole_ext = (schema_id, None) in self.selection if schema_id else False
        key = (schema_id, attr.name)
        if self.mode == "attributes":
            if whole_ext or (key in self.selection and self.selection[key] is None):
                return True
            return self.selection.get(key, False) or False
        if attr.returned == "request":
            return False
        if self.mode == "excluded":
            if whole_ext or (key in self.selection and self.selection[key] is None):
                return False
            if key in self.selection:
                return {s.name for s in attr.sub_attributes.values()} - self.selection[key]
        return True

    def apply(self, rep: dict) -> dict:
        """The representation trimmed to the selection."""
        if self.mode == "default":
            return rep
        out: dict = {}
        for k, v in rep.items():
            if k == "schemas":
                out[k] = v
                continue
            ext = self.rt.extension(k) if _is_urn(k) else None
            if ext is not None:
                kept = {}
                for name, value in v.items():
                    attr = ext.attr(name)
                    if attr is not None:
                        _keep(kept, name, value, self._decide(ext.id, attr))
                if kept:
                    out[k] = kept
                continue
            attr = self.rt.top(k)
            if attr is not None:
                _keep(out, k, v, self._decide("", attr))
        out["schemas"] = [s for s in rep["schemas"] if s == self.rt.core.id or s in out]
        return out


def _keep(out: dict, name: str, value, decision) -> None:
    if decision is False:
        return
    if decision is True:
        out[name] = value
        return
    if isinstance(value, list):
        trimmed = [{k: v for k, v in e.items() if k in decision} for e in value if isinstance(e, dict)]
        trimmed = [e for e in trimmed if e]
        if trimmed:
            out[name] = trimmed
    elif isinstance(value, dict):
        trimmed = {k: v for k, v in value.items() if k in decision}
        if trimmed:
            out[name] = trimmed


__all__ = ["ScimError", "clean_resource", "clean_value", "clean_extension", "check_required", "index_rows",
           "attr_key", "render", "Projection"]
