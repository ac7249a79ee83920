"""Bulk operations (RFC 7644 §3.7): many creates, replaces, patches and deletes in one request.

Each operation runs in a transaction of its own, through the same service code as a single request, so an
operation either happens completely or not at all, and the response reports each one. ``bulkId`` references
(``"bulkId:qwerty"`` in a path or anywhere in ``data``) are resolved whatever the order of operations; an operation
waits until the one it references has run, and a cycle of references is reported as an error on each operation in it.
``failOnErrors`` stops processing after that many errors. ``maxOperations`` and ``maxPayloadSize`` are advertised in
/ServiceProviderConfig and enforced: more operations than allowed, or a larger body, is 413 ``tooLarge``.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from flask import current_app, g

from ..database import is_too_long, is_transient
from ..extensions import db
from .errors import ScimError, bad_request
from .schemas import Projection
from .service import Service, etag
from .values import shown

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = {"POST", "PUT", "PATCH", "DELETE"}
BULK_REF = re.compile(r"^bulkId:(.+)$")  # a whole value in data
PATH_REF = re.compile(r"bulkId:([^/]+)")  # a segment of a path: /Groups/bulkId:qwerty


@dataclass
class _Op:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: object
    result: dict | None = None
    refs: set = field(default_factory=set)
    invalid: dict | None = None  # the error result, when the operation itself is malformed
    unresolved: int = 0  # references with no resource yet
    failed: int = 0  # references to operations that failed
    missing: int = 0  # references that no POST in the request has as its bulkId


MAX_DEPTH = 100  # levels of lists and objects in an operation's data (a SCIM resource needs a handful)


class TooDeep(ValueError):
    """An operation's data is nested deeper than ``MAX_DEPTH``."""


def _refs(value) -> set[str]:
    """bulkIds referenced anywhere in a value (walked without recursion); TooDeep beyond ``MAX_DEPTH`` levels, so
    that neither this nor the substitution can exhaust the stack (the JSON parser accepts ~1000 levels)."""
    found: set[str] = set()
    stack = [(value, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            m = BULK_REF.match(value)
            if m:
                found.add(m.group(1))
        elif isinstance(value, (list, dict)):
            if depth >= MAX_DEPTH:
                raise TooDeep
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return found


def _substitute(value, ids: dict[str, str]):
    if isinstance(value, str):
        m = BULK_REF.match(value)
        return ids[m.group(1)] if m else value
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    return value


def _error(op: _Op, err: ScimError) -> dict:
    out = {"method": op.method or None, "status": str(err.status), "response": err.body()}
    if op.bulk_id:
        out["bulkId"] = op.bulk_id
    return {k: v for k, v in out.items() if v is not None}


def _parse(body, max_operations: int) -> tuple[list[_Op], int | None]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a BulkRequest JSON object", "invalidSyntax")
    lowered = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
    schemas = lowered.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST.lower() not in [str(s).lower() for s in schemas]:
        raise bad_request(f"schemas must contain {BULK_REQUEST}", "invalidSyntax")
    raw_ops = lowered.get("operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise bad_request("Operations must be a non-empty list", "invalidSyntax")
    if len(raw_ops) > max_operations:
        raise ScimError(413, f"{len(raw_ops)} operations; at most {max_operations} are allowed per request "
                             "(see bulk.maxOperations in /ServiceProviderConfig)", "tooLarge")
    fail_on = lowered.get("failonerrors")
    if fail_on is not None and (isinstance(fail_on, bool) or not isinstance(fail_on, int) or fail_on < 1):
        raise bad_request("failOnErrors must be a positive integer", "invalidValue")
    ops, seen = [], set()
    for i, raw in enumerate(raw_ops):
        raw = {k.lower(): v for k, v in raw.items() if isinstance(k, str)} if isinstance(raw, dict) else {}
        method = str(raw.get("method", "")).upper()
        op = _Op(i, method, raw.get("path"), raw.get("bulkid"), raw.get("version"), raw.get("data"))
        problem = None
        if method not in METHODS:
            problem = f"Operations[{i}].method must be POST, PUT, PATCH or DELETE"
        elif not isinstance(op.path, str) or not op.path.startswith("/"):
            problem = f"Operations[{i}].path must be a path such as /Users or /Users/<id>"
        elif op.bulk_id is not None and (not isinstance(op.bulk_id, str) or not op.bulk_id):
            problem = f"Operations[{i}].bulkId must be a non-empty string"
        elif method == "POST" and not op.bulk_id:
            problem = f"Operations[{i}]: a POST needs a bulkId (RFC 7644 §3.7)"
        elif op.bulk_id in seen:
            problem = f"Operations[{i}]: bulkId {shown(op.bulk_id)} is used twice"
        elif method != "DELETE" and not isinstance(op.data, dict):
            problem = f"Operations[{i}].data must be an object"
        elif op.version is not None and not isinstance(op.version, str):
            problem = f"Operations[{i}].version must be a string"
        if isinstance(op.bulk_id, str) and op.bulk_id:  # a list or object as bulkId is refused above
            seen.add(op.bulk_id)
        if not problem:
            try:
                op.refs = set(PATH_REF.findall(op.path)) | _refs(op.data)
            except TooDeep:
                problem = f"Operations[{i}].data is nested deeper than {MAX_DEPTH} levels"
        if problem:
            op.invalid = _error(op, bad_request(problem, "invalidSyntax"))
        ops.append(op)
    return ops, fail_on


def run(body, service_for: Callable[[str], Service], token_id: int | None, max_operations: int) -> dict:
    """Process a BulkRequest and return the BulkResponse (operations reported in the order of the request)."""
    ops, fail_on = _parse(body, max_operations)
    errors = 0
    ids: dict[str, str] = {}
    failed_ids: set[str] = set()
    pending = list(ops)
    # Bookkeeping so that a waiting operation is judged in constant time on each pass: how many POSTs of each bulkId
    # are still to run, who references each bulkId, and per operation how many of its references have no resource
    # yet, have failed, or have no POST at all. (Re-reading every reference of every waiting operation on every pass,
    # and scanning the pending list for each, took 16 s for a chain of 1,000 operations and 45 s when each
    # referenced 300 others; this is the same judgement, made as results arrive.)
    posts = Counter(op.bulk_id for op in ops if op.method == "POST" and isinstance(op.bulk_id, str) and op.bulk_id)
    dependents: dict[str, list[_Op]] = defaultdict(list)
    for op in ops:
        op.unresolved = len(op.refs)
        op.missing = sum(1 for r in op.refs if not posts[r])
        for r in op.refs:
            dependents[r].append(op)

    def settle(op: _Op, result: dict) -> bool:
        """Record a result; True when failOnErrors says to stop."""
        nonlocal errors
        op.result = result
        pending.remove(op)
        if op.method == "POST" and isinstance(op.bulk_id, str) and op.bulk_id:
            posts[op.bulk_id] -= 1
        if result.get("status", "").startswith(("4", "5")):
            errors += 1
            if isinstance(op.bulk_id, str) and op.bulk_id not in failed_ids:
                failed_ids.add(op.bulk_id)
                for dep in dependents.get(op.bulk_id, ()):
                    dep.failed += 1
        elif op.bulk_id and op.method == "POST":
            if op.bulk_id not in ids:
                for dep in dependents.get(op.bulk_id, ()):
                    dep.unresolved -= 1
            ids[op.bulk_id] = result["location"].rsplit("/", 1)[-1]
        return bool(fail_on and errors >= fail_on)

    def unresolvable(op: _Op) -> set[str]:
        """References to a failed operation, else those no operation will create."""
        return op.refs & failed_ids or {r for r in op.refs if r not in ids and posts[r] <= 0}

    stop = False
    while pending and not stop:
        progressed = False
        for op in list(pending):
            if op.invalid is not None:  # refused when parsed; counted when its turn comes
                stop = settle(op, op.invalid)
            elif op.failed or op.missing:
                bad = unresolvable(op)
                stop = settle(op, _error(op, ScimError(409, f"bulkId {shown(sorted(bad)[0])} did not produce a "
                                                            "resource", "invalidValue")))
            elif op.unresolved:
                continue  # waits for the operation it references
            else:
                stop = settle(op, _execute(op, ids, service_for, token_id))
            progressed = True
            if stop:
                break
        if not progressed:  # what is left references itself in a cycle
            for op in list(pending):
                stop = settle(op, _error(op, ScimError(409, "circular bulkId references cannot be resolved",
                                                       "invalidValue")))
                if stop:
                    break
    return {"schemas": [BULK_RESPONSE], "Operations": [op.result for op in ops if op.result is not None]}


def _note(op: _Op, service: Service | None, rid: str | None, status: int, changes, err: ScimError | None = None):
    """Keep what one operation did for the sync-activity record of this request (routes._record_activity writes
    one row per operation, so a user created in a bulk request has its history like any other)."""
    g.setdefault("scim_bulk_records", []).append({
        "method": op.method, "path": op.path, "resource_type": service.rt.name if service else None,
        "resource_id": rid, "status": status, "changes": changes,
        "scim_type": err.scim_type if err else None, "detail": err.detail if err else None})


def _execute(op: _Op, ids: dict, service_for: Callable[[str], Service], token_id: int | None) -> dict:
    path = PATH_REF.sub(lambda m: ids[m.group(1)], op.path).strip("/")
    data = _substitute(op.data, ids)
    segment, _, rid = path.partition("/")
    out = {"method": op.method}
    if op.bulk_id:
        out["bulkId"] = op.bulk_id
    service = None
    try:
        service = service_for(segment)
        if op.method == "POST":
            if rid:
                raise bad_request(f"POST goes to /{segment}, not to a resource", "invalidPath")
            result = service.create(data, token_id)
            status = 201
        else:
            if not rid or "/" in rid:
                raise bad_request(f"{op.method} needs a path /{segment}/<id>", "invalidPath")
            if op.method == "PUT":
                result, status = service.replace(rid, data, op.version, Projection(service.rt)), 200
            elif op.method == "PATCH":
                result, status = service.patch(rid, data, op.version, None), 200
            else:
                service.delete(rid, op.version)
                _note(op, service, rid, 204, ["deleted"])
                return {**out, "location": service.location(rid), "status": "204"}
        _note(op, service, result.body["id"] if op.method == "POST" else rid, status, result.changes)
        return {**out, "location": result.location, "version": etag(result.version), "status": str(status)}
    except Exception as exc:
        db.session.rollback()
        if isinstance(exc, ScimError):
            err = exc
        elif is_transient(exc):
            err = ScimError(503, "the database is busy; retry this operation shortly")
        elif is_too_long(exc):
            from .. import TOO_LONG
            err = ScimError(400, TOO_LONG, "invalidValue")
        else:
            current_app.logger.exception("bulk operation %s failed unexpectedly", op.index)
            err = ScimError(500, "internal error; the server log has the details")
        result = _error(op, err)
        _note(op, service, rid or None, err.status, None, err)
        if service is not None and op.method != "POST" and rid:
            result["location"] = service.location(rid)  # RFC 7644 §3.7: only a failed POST has none
        return result
