"""SCIM views: parse the request, call the service, render SCIM JSON. No SQL and no commits here.

Endpoint names are matched case-insensitively (Microsoft's test collection asks for ``/users``) and a trailing
slash is accepted (``/Users/?filter=…``). Unknown query parameters are ignored: Entra's Tenant URL may carry a flag.
"""
from __future__ import annotations

import json
import re
import time

from flask import current_app, g, request
from werkzeug.exceptions import HTTPException

from .. import activity
from ..requestlog import safe
from ..urls import tenant_url
from . import bp, bulk, discovery
from .errors import MEDIA_TYPE, ScimError, bad_request, not_found, render as render_error
from .schemas import Projection
from .service import ListParams, Service, etag, etag_matches, search_all
from .values import shown, utcnow

DISCOVERY = {"serviceproviderconfig", "resourcetypes", "schemas"}
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


# ---------------------------------------------------------------------------- helpers

def scim_json(body, status: int = 200, headers: dict | None = None):
    """A SCIM response: JSON in the SCIM media type (RFC 7644 §3.1)."""
    text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    resp = current_app.response_class(text, status=status, mimetype=MEDIA_TYPE)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def arg(name: str) -> str | None:
    """A query parameter, its name matched case-insensitively (the first one when repeated)."""
    environ = request.environ
    args = environ.get("scimapp.args")
    if args is None:  # built once per request: a list request asks for seven parameters
        args = {}
        for k, v in request.args.items(multi=True):
            args.setdefault(k.lower(), v)
        environ["scimapp.args"] = args
    return args.get(name.lower())


def int_arg(name: str, default: int | None) -> int | None:
    """An integer query parameter (RFC 7644 §3.4.2.4); 400 invalidValue when it is not one. Values beyond any
    real table size are clamped (a database OFFSET is a 64-bit integer)."""
    raw = arg(name)
    if raw is None or raw.strip() == "":
        return default
    return clamp_int(raw, name)


INT_TEXT = re.compile(r"\s*(-?)0*([0-9]{1,30})\s*")  # int() would also take "1_0" and non-ASCII digits


def clamp_int(raw, name: str) -> int:
    """An integer from text or a JSON number, clamped to ±2**53 (beyond any real table size)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return max(min(raw, 2**53), -(2**53))
    m = INT_TEXT.fullmatch(raw) if isinstance(raw, str) else None
    if not m:
        digits = isinstance(raw, str) and re.fullmatch(r"\s*-?[0-9]+\s*", raw)
        if not digits:
            raise bad_request(f"{name} must be an integer, got {shown(raw)}")
        return -(2**53) if raw.strip().startswith("-") else 2**53  # more than 30 digits
    return max(min(int(m.group(1) + m.group(2)), 2**53), -(2**53))


def json_body():
    """The request body as JSON, whatever the declared media type; 400 invalidSyntax when it is not JSON."""
    raw = request.get_data(cache=True)  # kept for the request: an error's body may be captured for the admin
    if not raw.strip():
        raise bad_request("the request needs a JSON body", "invalidSyntax")
    try:
        body = json.loads(raw.decode("utf-8-sig"))
        if b"\\u" in raw.lower() and re.search(rb"\\u[dD][89a-fA-F]", raw):
            json.dumps(body, ensure_ascii=False).encode("utf-8")  # lone surrogates (\ud800) are not text
        return body
    except (UnicodeError, ValueError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}", "invalidSyntax") from None
    except RecursionError:
        raise bad_request("the body is nested too deeply", "invalidSyntax") from None


def service_for(segment: str) -> Service:
    """The service of the resource type at ``segment`` (Users, Groups), or a SCIM 404."""
    rt = current_app.extensions["scim_registry"].by_endpoint(segment)
    if rt is None:
        raise not_found(f"no SCIM endpoint /{segment}")
    cfg = current_app.config
    return Service(rt, tenant_url(), cfg["SCIM_MAX_RESULTS"], cfg["SCIM_DEFAULT_COUNT"])


def projection(service: Service, always: bool = True) -> Projection | None:
    """``attributes``/``excludedAttributes`` of the request; None when neither is given and ``always`` is False."""
    attributes, excluded = arg("attributes"), arg("excludedAttributes")
    if not always and attributes is None and excluded is None:
        return None
    return Projection(service.rt, attributes, excluded)


def list_params() -> ListParams:
    """Query parameters of a list request."""
    return ListParams(filter=arg("filter"), start_index=int_arg("startIndex", 1) or 1, count=int_arg("count", None),
                      sort_by=arg("sortBy"), sort_order=arg("sortOrder"), attributes=arg("attributes"),
                      excluded=arg("excludedAttributes"))


def one(result, status: int = 200):
    """A single-resource response with its ETag (and Location on 201)."""
    if result.ignored:
        current_app.logger.warning("SCIM %s %s: ignored %s", request.method, safe(request.path),
                                   safe("; ".join(result.ignored)[:2000]))
    headers = {"ETag": etag(result.version)}
    if status == 204:
        return scim_json(None, 204, headers)
    if status == 201:
        headers["Location"] = result.location
    return scim_json(result.body, status, headers)


def method_not_allowed(allowed: str) -> ScimError:
    """405 with the Allow header (RFC 9110 §15.5.6)."""
    return ScimError(405, f"{request.method} is not supported here (allowed: {allowed})",
                     headers={"Allow": allowed})


def reading() -> bool:
    """GET, or HEAD (answered like GET; the server drops the body)."""
    return request.method in ("GET", "HEAD")


def options(allowed: str):
    """OPTIONS: what the endpoint allows, as an empty SCIM response."""
    return scim_json(None, 204, {"Allow": allowed})


def all_services() -> list[Service]:
    """A service per resource type, Users first."""
    registry = current_app.extensions["scim_registry"]
    return [service_for(rt.endpoint.strip("/")) for rt in registry.resource_types.values()]


def search_params(body) -> ListParams:
    """A SearchRequest body (RFC 7644 §3.4.3) as list parameters."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a SearchRequest JSON object", "invalidSyntax")
    fields = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
    schemas = fields.get("schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST.lower() not in [str(s).lower() for s in schemas]:
        raise bad_request(f"schemas must contain {SEARCH_REQUEST}", "invalidSyntax")

    def text(name: str) -> str | None:
        value = fields.get(name.lower())
        if value is None or isinstance(value, str):
            return value
        if name.endswith("ttributes") and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        raise bad_request(f"{name} must be a string" + (" or a list of strings" if "ttributes" in name else ""),
                          "invalidSyntax")

    def number(name: str) -> int | None:
        value = fields.get(name.lower())
        return None if value is None else clamp_int(value, name)

    return ListParams(filter=text("filter"), start_index=number("startIndex") or 1, count=number("count"),
                      sort_by=text("sortBy"), sort_order=text("sortOrder"), attributes=text("attributes"),
                      excluded=text("excludedAttributes"))


# ---------------------------------------------------------------------------- routes

@bp.route("", methods=METHODS, provide_automatic_options=False)
@bp.route("/", methods=METHODS, provide_automatic_options=False)
def root():
    """Queries across all resource types (RFC 7644 §3.4.2.1)."""
    if reading():
        return scim_json(search_all(all_services(), list_params()))
    if request.method == "OPTIONS":
        return options("GET, HEAD, OPTIONS")
    raise method_not_allowed("GET, HEAD, OPTIONS")


@bp.route("/<segment>", methods=METHODS, provide_automatic_options=False)
@bp.route("/<segment>/", methods=METHODS, provide_automatic_options=False)
def collection(segment: str):
    """/Users, /Groups (list, create) and the discovery endpoints."""
    low = segment.lower()
    if low in DISCOVERY:
        if request.method == "OPTIONS":
            return options("GET, HEAD, OPTIONS")
        if not reading():
            raise method_not_allowed("GET, HEAD, OPTIONS")
        registry, base, cfg = current_app.extensions["scim_registry"], tenant_url(), current_app.config
        if low == "serviceproviderconfig":
            return scim_json(discovery.service_provider_config(base, cfg))
        return scim_json(discovery.resource_types(registry, base) if low == "resourcetypes"
                         else discovery.schemas(registry, base))
    if low == "me":
        raise ScimError(501, "/Me is not supported: a SCIM bearer token stands for a provisioning client, not a user")
    if low == "bulk":
        if request.method == "OPTIONS":
            return options("POST, OPTIONS")
        if request.method != "POST":
            raise method_not_allowed("POST, OPTIONS")
        request.max_content_length = current_app.config["SCIM_BULK_MAX_PAYLOAD"]
        return scim_json(bulk.run(json_body(), service_for, g.scim_token_id,
                                  current_app.config["SCIM_BULK_MAX_OPERATIONS"]))
    if low == ".search":
        if request.method != "POST":
            raise method_not_allowed("POST")
        return scim_json(search_all(all_services(), search_params(json_body())))
    service = service_for(segment)
    g.scim_resource = (service.rt.name, None, None)
    if reading():
        return scim_json(service.list(list_params()))
    if request.method == "POST":
        result = service.create(json_body(), g.scim_token_id)
        g.scim_resource = (service.rt.name, result.body["id"], result.changes)
        return one(result, 201)
    if request.method == "OPTIONS":
        return options("GET, HEAD, POST, OPTIONS")
    raise method_not_allowed("GET, HEAD, POST, OPTIONS")


@bp.route("/<segment>/<path:rid>", methods=METHODS, provide_automatic_options=False)
def resource(segment: str, rid: str):
    """/Users/{id}, /Groups/{id}, /ResourceTypes/{name}, /Schemas/{urn}."""
    low = segment.lower()
    rid = rid.rstrip("/")
    if "\x00" in rid:  # no id contains NUL (and PostgreSQL could not even compare it)
        raise not_found("no resource has that id")
    if low in ("resourcetypes", "schemas"):
        if request.method == "OPTIONS":
            return options("GET, HEAD, OPTIONS")
        if not reading():
            raise method_not_allowed("GET, HEAD, OPTIONS")
        registry, base = current_app.extensions["scim_registry"], tenant_url()
        return scim_json(discovery.resource_type(registry, base, rid) if low == "resourcetypes"
                         else discovery.schema(registry, base, rid))
    service = service_for(segment)
    if rid == ".search":
        if request.method == "OPTIONS":
            return options("POST, OPTIONS")
        if request.method != "POST":
            raise method_not_allowed("POST, OPTIONS")
        return scim_json(service.list(search_params(json_body())))
    if_match = request.headers.get("If-Match")
    g.scim_resource = (service.rt.name, rid, None)
    if reading():
        result = service.get(rid, projection(service))
        if etag_matches(request.headers.get("If-None-Match"), result.version):
            return scim_json(None, 304, {"ETag": etag(result.version)})
        return one(result)
    if request.method == "PUT":
        result = service.replace(rid, json_body(), if_match, projection(service))
        g.scim_resource = (service.rt.name, rid, result.changes)
        return one(result)
    if request.method == "PATCH":
        # Group PATCH answers 204 (Entra's guidance: a 50k-member group is not serialised per change) unless the
        # client asks for attributes; User PATCH answers 200 with the resource (RFC 7644 §3.5.2).
        wanted = projection(service, always=not service.is_group)
        result = service.patch(rid, json_body(), if_match, wanted)
        g.scim_resource = (service.rt.name, rid, result.changes)
        return one(result, 200 if result.body is not None else 204)
    if request.method == "DELETE":
        service.delete(rid, if_match)
        g.scim_resource = (service.rt.name, rid, ["deleted"])
        return scim_json(None, 204)
    if request.method == "OPTIONS":
        return options("GET, HEAD, PUT, PATCH, DELETE, OPTIONS")
    raise method_not_allowed("GET, HEAD, PUT, PATCH, DELETE, OPTIONS")


# ---------------------------------------------------------------------------- errors and logging

@bp.errorhandler(ScimError)
def _scim_error(err: ScimError):
    from ..extensions import db
    db.session.rollback()
    return render_error(err)


@bp.after_request
def _record_activity(response):
    """Queue this request for the sync-activity pages (see scimapp/activity.py); no database work here."""
    if not current_app.config["ACTIVITY_ENABLED"]:
        return response
    recorder = current_app.extensions["scim_activity"]
    if g.get("scim_token_id") is None and not recorder.allow_unauthenticated():
        return response
    now = utcnow()
    kind, rid, changes = g.get("scim_resource", (None, None, None))
    started = g.get("request_started")
    entry = {"at": now, "hour": activity.hour_of(now), "token_id": g.get("scim_token_id"),
             "token_name": g.get("scim_token_name"), "method": request.method, "path": request.path[:500],
             "resource_type": kind, "resource_id": rid[:36] if rid else None, "status": response.status_code,
             "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else 0.0,
             "scim_type": None, "detail": None, "changes": changes if response.status_code < 300 else None,
             "request_id": g.get("request_id"), "client": (request.remote_addr or "")[:64] or None, "body": None}
    if response.status_code >= 400:
        try:
            error = json.loads(response.get_data())
            entry["scim_type"], entry["detail"] = error.get("scimType"), str(error.get("detail", ""))[:2000]
        except (ValueError, AttributeError):
            pass
        if g.get("scim_token_id") and recorder.settings()["capture_error_bodies"]:
            entry["body"] = request.get_data(cache=True).decode("utf-8", "replace")[:activity.MAX_BODY] or None
    recorder.record(entry)
    for op in g.get("scim_bulk_records", ()):  # one row per bulk operation, under the bulk request's id
        path = "/" + str(op["path"] or "").strip("/")
        recorder.record({**entry, "method": op["method"], "path": (request.path.rsplit("/", 1)[0] + path)[:500],
                         "resource_type": op["resource_type"], "resource_id": (op["resource_id"] or "")[:36] or None,
                         "status": op["status"], "duration_ms": 0.0, "scim_type": op["scim_type"],
                         "detail": (op["detail"] or "")[:2000] or None,
                         "changes": op["changes"] if op["status"] < 300 else None, "body": None})
    return response


def http_error_as_scim(exc: HTTPException) -> ScimError:
    """Werkzeug's HTTP errors (404 route, 405, 413 body too large, 400 bad request) as SCIM errors."""
    scim_type = "tooLarge" if exc.code == 413 else ("invalidSyntax" if exc.code == 400 else None)
    limit = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]
    detail = {404: "no such SCIM endpoint", 405: f"{request.method} is not supported here",
              413: f"the request body is larger than {limit} bytes"}
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    return ScimError(exc.code or 500, detail.get(exc.code, exc.description or exc.name), scim_type, headers)
