"""Discovery documents (RFC 7644 §4, RFC 7643 §5-§7): ServiceProviderConfig, ResourceTypes, Schemas.

They state exactly what this server supports, and every limit they advertise is enforced elsewhere.
"""
from __future__ import annotations

from .attributes import Registry
from .errors import not_found
from .values import shown

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def service_provider_config(base_url: str, config) -> dict:
    """What the server supports (RFC 7643 §5); every limit here is enforced."""
    return {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": config["SCIM_BULK_MAX_OPERATIONS"],
                 "maxPayloadSize": config["SCIM_BULK_MAX_PAYLOAD"]},
        "filter": {"supported": True, "maxResults": config["SCIM_MAX_RESULTS"]},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A long-lived secret token created in scimapp, sent as 'Authorization: Bearer <token>'.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": True,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }


def _list(resources: list[dict]) -> dict:
    return {"schemas": [LIST_SCHEMA], "totalResults": len(resources), "itemsPerPage": len(resources),
            "startIndex": 1, "Resources": resources}


def resource_types(registry: Registry, base_url: str) -> dict:
    """Every resource type, as a ListResponse."""
    return _list([rt.to_scim(f"{base_url}/ResourceTypes/{rt.name}") for rt in registry.resource_types.values()])


def resource_type(registry: Registry, base_url: str, name: str) -> dict:
    """One resource type by name."""
    rt = registry.by_name(name)
    if rt is None:
        raise not_found(f"no resource type {shown(name)}")
    return rt.to_scim(f"{base_url}/ResourceTypes/{rt.name}")


def schemas(registry: Registry, base_url: str) -> dict:
    """Every schema, as a ListResponse (Microsoft's validator requires a ListResponse here)."""
    return _list([s.to_scim(f"{base_url}/Schemas/{s.id}") for s in registry.all_schemas()])


def schema(registry: Registry, base_url: str, urn: str) -> dict:
    """One schema by URN (matched case-insensitively)."""
    for s in registry.all_schemas():
        if s.id.lower() == urn.lower():
            return s.to_scim(f"{base_url}/Schemas/{s.id}")
    raise not_found(f"no schema {shown(urn)}")
