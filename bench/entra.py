"""Entra-shaped SCIM traffic for the benchmark: request bodies and query strings as Microsoft Entra ID sends them
(see tests/data/entra), and deterministic identities so that the loader, the ceiling app and the load generator
agree on user ``i`` without exchanging lists.

Standard library only: the load generator imports this, and it must not pull in Flask or SQLAlchemy.
"""
from __future__ import annotations

import json
import urllib.parse
import uuid

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
DOMAIN = "contoso-bench.example"

# Fixed namespaces: ids are uuid5(namespace, index), so user i has the same id, externalId (Entra's objectId) and
# userName (its UPN) in every process of a run.
_NS_ID = uuid.UUID("5c1d5a3e-8b0f-4f3c-9d1e-2a7b6c4d8e01")
_NS_OID = uuid.UUID("9e2b7c41-3d6a-4b58-8f0c-1e4d2a9b7c02")
_NS_GROUP = uuid.UUID("0b8e4f2a-6c1d-4e97-a3b5-7d9c1e2f4a03")

_GIVEN = ["Ada", "Bjorn", "Chiara", "Dmitri", "Esi", "Farid", "Greta", "Hiroshi", "Ines", "Jomo", "Kaja", "Luis",
          "Mei", "Nnamdi", "Olga", "Pavel", "Quinn", "Rania", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoltan"]
_FAMILY = ["Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fontaine", "Guerrero", "Haddad", "Ivanova", "Jensen",
           "Kowalski", "Lindqvist", "Mensah", "Novak", "Okafor", "Petrov", "Quiroga", "Rossi", "Sato", "Tanaka",
           "Ueda", "Varga", "Watanabe", "Xu", "Yilmaz", "Zhou"]
_TITLES = ["Engineer", "Analyst", "Technician", "Account Manager", "Designer", "Nurse", "Accountant", "Consultant"]
_DEPARTMENTS = ["Sales", "Finance", "Engineering", "Operations", "Research", "Support", "Legal", "Marketing"]

# Indexes of users the benchmark creates over HTTP (POST /Users) and of the twin used to check the loader: far
# above any loaded index, so they never collide with loaded users.
CREATE_BASE = 50_000_000
ACTIVITY_BASE = 60_000_000  # creates of the sync-activity on/off comparison
TWIN_INDEX = 90_000_000


def user_id(i: int) -> str:
    """The id of loaded user ``i`` (what the server would have generated; a UUID like the server's)."""
    return str(uuid.uuid5(_NS_ID, str(i)))


def object_id(i: int) -> str:
    """User ``i``'s Entra objectId, sent as externalId."""
    return str(uuid.uuid5(_NS_OID, str(i)))


def names(i: int) -> tuple[str, str]:
    """(givenName, familyName) of user ``i``."""
    return _GIVEN[i % len(_GIVEN)], _FAMILY[(i // len(_GIVEN)) % len(_FAMILY)]


def user_name(i: int) -> str:
    """User ``i``'s userName: a UPN in mixed case, as Entra sends userPrincipalName."""
    given, family = names(i)
    return f"{given}.{family}.{i}@{DOMAIN}"


def user_body(i: int) -> dict:
    """The POST /Users body Entra sends for user ``i`` (default mode: ``"active": "True"``, meta, empty roles)."""
    given, family = names(i)
    upn = user_name(i)
    return {
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": object_id(i),
        "userName": upn,
        "active": "True",
        "displayName": f"{given} {family}",
        "title": _TITLES[i % len(_TITLES)],
        "emails": [{"primary": True, "type": "work", "value": upn.lower()}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"{given} {family}", "familyName": family, "givenName": given},
        "phoneNumbers": [{"type": "work", "value": f"+1 425 555 {i % 10000:04d}"}],
        "roles": [],
        ENTERPRISE: {"employeeNumber": f"E{i:07d}", "department": _DEPARTMENTS[(i // 7) % len(_DEPARTMENTS)]},
    }


def expected_representation(i: int, rid: str) -> dict:
    """What GET /Users/{id} must show for user ``i`` (without meta), worked out from the body by hand (not with
    the server's code): read-only meta dropped, the empty roles list is no value, "True" is the boolean true."""
    body = json.loads(json.dumps(user_body(i)))
    body.pop("meta")
    body.pop("roles")
    body["active"] = True
    body["id"] = rid
    return body


def group_id(name: str) -> str:
    """Id of a loaded group."""
    return str(uuid.uuid5(_NS_GROUP, name))


def group_body(name: str) -> dict:
    """The POST /Groups body Entra sends: empty, with Microsoft's extra schema URN."""
    return {"schemas": [CORE_GROUP, MS_GROUP], "externalId": str(uuid.uuid5(_NS_OID, "group:" + name)),
            "displayName": name, "meta": {"resourceType": "Group"}}


BIG_GROUP = "Bench All Staff"
SMALL_GROUP = "Bench Small Team"
SMALL_GROUP_SIZE = 10


def big_group_size(users: int) -> int:
    """Members of the big group: 50,000, or half the users when there are fewer than 100,000."""
    return min(50_000, users // 2)


def big_group_members(users: int) -> range:
    """Indexes of the big group's members."""
    return range(big_group_size(users))


def small_group_members(users: int) -> range:
    """Indexes of the small group's members: the ten users after the big group's."""
    first = big_group_size(users)
    return range(first, first + SMALL_GROUP_SIZE)


# ------------------------------------------------------------------------------------------------ requests

def filter_query(attr: str, value: str) -> str:
    """``?filter=…`` encoded as Entra does it: spaces as ``+``, quotes as ``%22``, ``@`` as ``%40``."""
    return "?filter=" + urllib.parse.quote_plus(f'{attr} eq "{value}"')


def patch_pathless(i: int, serial: int) -> dict:
    """Entra's path-less Replace whose value keys are paths (dotted core and URN-qualified extension keys)."""
    given, family = names(i)
    return {"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "value": {
        "displayName": f"{given} {family} ({serial})",
        "name.givenName": f"{given}{serial % 97}",
        "name.formatted": f"{given}{serial % 97} {family}",
        f"{ENTERPRISE}:department": _DEPARTMENTS[serial % len(_DEPARTMENTS)],
        "title": _TITLES[serial % len(_TITLES)],
    }}]}


def patch_work_email(i: int, serial: int) -> dict:
    """Entra's Replace through a value filter: ``emails[type eq "work"].value``."""
    given, family = names(i)
    return {"schemas": [PATCH_OP], "Operations": [{
        "op": "Replace", "path": 'emails[type eq "work"].value',
        "value": f"{given.lower()}.{family.lower()}.{i}.{serial}@{DOMAIN}"}]}


def member_add(member: str) -> dict:
    """Entra's single-member add."""
    return {"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members",
                                                   "value": [{"$ref": None, "value": member}]}]}


def member_remove(member: str) -> dict:
    """Entra's single-member remove (default mode): path ``members`` with a value list."""
    return {"schemas": [PATCH_OP], "Operations": [{"op": "Remove", "path": "members",
                                                   "value": [{"$ref": None, "value": member}]}]}


def dumps(body: dict) -> bytes:
    """A request body as bytes."""
    return json.dumps(body).encode("utf-8")
