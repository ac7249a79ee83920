"""Attribute metadata: the schemas of RFC 7643 (§2.2 characteristics, §4 User, §4.2 Group, §4.3 enterprise
extension) loaded from ``resources/*.json`` and looked up case-insensitively (RFC 7643 §2.1).

PURE: no Flask, no database. Every other SCIM module asks this one what an attribute is.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

RESOURCES = Path(__file__).parent / "resources"

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# OneLogin's SCIM v2 app sends pre-RFC schema URNs; read them as the RFC ones.
URN_ALIASES = {
    "urn:scim:schemas:extension:enterprise:2.0": ENTERPRISE_USER.lower(),
    "urn:scim:schemas:extension:enterprise:2.0:user": ENTERPRISE_USER.lower(),
}
CORE_ALIASES = {"urn:scim:schemas:core:2.0", "urn:scim:schemas:core:2.0:user", "urn:scim:schemas:core:2.0:group"}

# RFC 7643 §2.2: the characteristics an attribute has when its definition does not say otherwise.
DEFAULTS = {
    "type": "string",
    "multiValued": False,
    "required": False,
    "caseExact": False,
    "mutability": "readWrite",
    "returned": "default",
    "uniqueness": "none",
}
TYPES = {"string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"}


@dataclass(eq=False)
class Attribute:
    """One attribute (or sub-attribute) definition with its RFC 7643 §2.2 characteristics."""

    name: str
    type: str
    multi_valued: bool
    required: bool
    case_exact: bool
    mutability: str
    returned: str
    uniqueness: str
    description: str
    schema: str
    canonical_values: tuple = ()
    reference_types: tuple = ()
    parent: Attribute | None = None
    sub_attributes: dict[str, Attribute] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Lower-case name, the form used for lookups."""
        return self.name.lower()

    @property
    def path(self) -> str:
        """Dotted path from the top-level attribute, e.g. ``name.givenName``."""
        return f"{self.parent.name}.{self.name}" if self.parent else self.name

    @property
    def is_complex(self) -> bool:
        """True for complex attributes (they hold sub-attributes)."""
        return self.type == "complex"

    @property
    def read_only(self) -> bool:
        """True when clients may not set the attribute."""
        return self.mutability == "readOnly"

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name`` (any case), or None."""
        return self.sub_attributes.get(name.lower())

    def to_scim(self) -> dict:
        """The attribute's definition as published under /Schemas (RFC 7643 §7)."""
        out = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [a.to_scim() for a in self.sub_attributes.values()]
        return out


@dataclass(eq=False)
class Schema:
    """A schema: its URN and its top-level attributes."""

    id: str
    name: str
    description: str
    attributes: dict[str, Attribute]

    def attr(self, name: str) -> Attribute | None:
        """The top-level attribute called ``name`` (any case), or None."""
        return self.attributes.get(name.lower())

    def to_scim(self, location: str) -> dict:
        """The schema resource published under /Schemas (RFC 7643 §7)."""
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_scim() for a in self.attributes.values()],
            "meta": {"resourceType": "Schema", "location": location},
        }


CHOICES = {"mutability": {"readOnly", "readWrite", "immutable", "writeOnly"},
           "returned": {"always", "never", "default", "request"},
           "uniqueness": {"none", "server", "global"}}
NAME = re.compile(r"^[A-Za-z$][A-Za-z0-9_$-]*$")


def _build_attribute(raw: dict, schema: str, parent: Attribute | None = None) -> Attribute:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not NAME.match(raw["name"]):
        raise ValueError(f"schema {schema}: every attribute needs a 'name' made of letters, digits, '_', '-' or '$' "
                         f"(got {raw.get('name') if isinstance(raw, dict) else raw!r})")
    where = f"schema {schema}: attribute {raw['name']!r}"
    unknown = set(raw) - {"name", "description", "subAttributes", "canonicalValues", "referenceTypes", *DEFAULTS}
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
    spec = {**DEFAULTS, **raw}
    if spec["type"] not in TYPES:
        raise ValueError(f"{where} has unknown type {spec['type']!r} (one of {', '.join(sorted(TYPES))})")
    for key, allowed in CHOICES.items():
        if spec[key] not in allowed:
            raise ValueError(f"{where}: {key} must be one of {', '.join(sorted(allowed))}, not {spec[key]!r}")
    for key in ("multiValued", "required", "caseExact"):
        if not isinstance(spec[key], bool):
            raise ValueError(f"{where}: {key} must be true or false, not {spec[key]!r}")
    if spec["type"] == "complex" and not raw.get("subAttributes"):
        raise ValueError(f"{where} is complex but has no subAttributes")
    if parent is not None and spec["type"] == "complex":
        raise ValueError(f"{where}: a sub-attribute cannot be complex (RFC 7643 §2.3.8)")
    case_exact = spec["caseExact"]
    if spec["type"] in ("reference", "binary") and "caseExact" not in raw:
        case_exact = True  # RFC 7643 §2.3.6-§2.3.7: references and binary values compare exactly.
    attr = Attribute(
        name=spec["name"],
        type=spec["type"],
        multi_valued=bool(spec["multiValued"]),
        required=bool(spec["required"]),
        case_exact=bool(case_exact),
        mutability=spec["mutability"],
        returned=spec["returned"],
        uniqueness=spec["uniqueness"],
        description=spec.get("description", ""),
        schema=schema,
        canonical_values=tuple(spec.get("canonicalValues", ())),
        reference_types=tuple(spec.get("referenceTypes", ())),
        parent=parent,
    )
    for sub in raw.get("subAttributes", ()):
        child = _build_attribute(sub, schema, attr)
        attr.sub_attributes[child.key] = child
    return attr


def build_schema(raw: dict) -> Schema:
    """Build a Schema from its (compact) JSON definition, filling RFC 7643 §2.2 defaults."""
    attrs = {}
    for item in raw["attributes"]:
        a = _build_attribute(item, raw["id"])
        attrs[a.key] = a
    return Schema(id=raw["id"], name=raw["name"], description=raw.get("description", ""), attributes=attrs)


def extensions_from_config(value) -> tuple[list[dict], list[dict]]:
    """Custom extension schemas from the ``SCIM_EXTENSIONS`` setting: a list of schema definitions (or JSON text,
    or the path of a JSON file holding one), each with ``resourceType`` ``User`` or ``Group``. Returns the User and
    the Group extensions; ValueError says what is wrong."""
    if not value:
        return [], []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            raise ValueError("SCIM_EXTENSIONS must be a JSON list of schema definitions, not a single object")
        if not text.startswith("["):
            try:
                text = Path(text).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"SCIM_EXTENSIONS: cannot read the file {text!r} ({exc.strerror or exc})") from None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"SCIM_EXTENSIONS is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise ValueError("SCIM_EXTENSIONS must be a list of schema definitions")
    users, groups = [], []
    for raw in value:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("attributes"), list):
            raise ValueError("each SCIM_EXTENSIONS entry needs an 'id' (its URN) and a list of 'attributes'")
        target = str(raw.get("resourceType", "User"))
        if target not in ("User", "Group"):
            raise ValueError(f"extension {raw['id']}: resourceType must be User or Group, not {target!r}")
        schema = {k: v for k, v in raw.items() if k != "resourceType"}
        named = re.search(r":extension:([^:]+):", raw["id"])
        schema.setdefault("name", named.group(1) if named else raw["id"])
        (users if target == "User" else groups).append(schema)
    return users, groups


def load_schema(filename: str) -> Schema:
    """Load one of the bundled schema files."""
    return build_schema(json.loads((RESOURCES / filename).read_text(encoding="utf-8")))


@dataclass(eq=False)
class ResourceType:
    """A resource type (RFC 7643 §6): its endpoint, core schema and extensions."""

    name: str
    endpoint: str
    description: str
    core: Schema
    common: Schema
    extensions: dict[str, Schema] = field(default_factory=dict)  # lower-case URN -> schema
    required_extensions: frozenset = frozenset()

    @property
    def schemas(self) -> list[Schema]:
        """Core schema first, then extensions."""
        return [self.core, *self.extensions.values()]

    def extension(self, urn: str) -> Schema | None:
        """The extension schema with this URN (any case, old OneLogin URNs included), or None."""
        low = urn.lower()
        return self.extensions.get(URN_ALIASES.get(low, low))

    def is_core(self, urn: str) -> bool:
        """Does this URN name the core schema (any case, old OneLogin URN included)?"""
        low = urn.lower()
        return low == self.core.id.lower() or low in CORE_ALIASES

    def schema_for(self, urn: str) -> Schema | None:
        """The core or extension schema with this URN (any case), or None."""
        if self.is_core(urn):
            return self.core
        return self.extension(urn)

    def top(self, name: str) -> Attribute | None:
        """A core or common top-level attribute by unqualified name (RFC 7644 §3.10: unqualified = core)."""
        return self.common.attr(name) or self.core.attr(name)

    def to_scim(self, location: str) -> dict:
        """The ResourceType resource published under /ResourceTypes (RFC 7643 §6)."""
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.core.id,
            "schemaExtensions": [
                {"schema": s.id, "required": s.id.lower() in self.required_extensions}
                for s in self.extensions.values()
            ],
            "meta": {"resourceType": "ResourceType", "location": location},
        }


class Registry:
    """The resource types this server offers, built once per app from the bundled (and configured) schemas."""

    def __init__(self, extra_user_extensions: list[dict] | None = None,
                 extra_group_extensions: list[dict] | None = None):
        common = load_schema("common.json")
        user_ext = [load_schema("enterprise_user.json")]
        user_ext += [build_schema(raw) for raw in (extra_user_extensions or [])]
        group_ext = [build_schema(raw) for raw in (extra_group_extensions or [])]
        taken = {CORE_USER.lower(), CORE_GROUP.lower(), ENTERPRISE_USER.lower(), *CORE_ALIASES, *URN_ALIASES}
        for s in user_ext[1:] + group_ext:
            if s.id.lower() in taken or not s.id.lower().startswith("urn:"):
                raise ValueError(f"extension schema id {s.id!r} must be a URN not already used by this server")
            taken.add(s.id.lower())
        self.user = ResourceType("User", "/Users", "User Account", load_schema("user.json"), common,
                                 {s.id.lower(): s for s in user_ext})
        self.group = ResourceType("Group", "/Groups", "Group", load_schema("group.json"), common,
                                  {s.id.lower(): s for s in group_ext})
        self.resource_types = {"users": self.user, "groups": self.group}

    def by_endpoint(self, segment: str) -> ResourceType | None:
        """Resource type for a URL segment such as ``Users`` (matched case-insensitively)."""
        return self.resource_types.get(segment.lower())

    def by_name(self, name: str) -> ResourceType | None:
        """Resource type by its name (``User`` or ``Group``, any case)."""
        for rt in self.resource_types.values():
            if rt.name.lower() == name.lower():
                return rt
        return None

    def all_schemas(self) -> list[Schema]:
        """Every published schema, each once."""
        seen: dict[str, Schema] = {}
        for rt in self.resource_types.values():
            for s in rt.schemas:
                seen.setdefault(s.id.lower(), s)
        return list(seen.values())
