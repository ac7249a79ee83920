"""The one SCIM error type and its renderer (RFC 7644 §3.12).

Importing this module does not import Flask, so the pure protocol modules can raise ScimError.
"""
from __future__ import annotations

import json

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"


class ScimError(Exception):
    """An error answered as a SCIM Error body: ``status`` (int), optional ``scim_type``, human ``detail``."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    def body(self) -> dict:
        """The RFC 7644 §3.12 error document; ``status`` is a string, as the RFC's examples show."""
        out = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            out["scimType"] = self.scim_type
        return out


def bad_request(detail: str, scim_type: str = "invalidValue") -> ScimError:
    """400 with a scimType (RFC 7644 §3.12 table 9)."""
    return ScimError(400, detail, scim_type)


def not_found(detail: str) -> ScimError:
    """404 for an unknown resource or route."""
    return ScimError(404, detail)


def render(err: ScimError):
    """The Flask response for a ScimError: JSON body, SCIM media type, the error's headers."""
    from flask import current_app

    resp = current_app.response_class(json.dumps(err.body(), ensure_ascii=False, separators=(",", ":")),
                                      status=err.status, mimetype=MEDIA_TYPE)
    for k, v in err.headers.items():
        resp.headers[k] = v
    return resp
