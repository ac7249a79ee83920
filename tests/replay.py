"""A replay engine for recorded identity-provider traffic: send request sequences over real HTTP and check replies.

Used by the end-to-end tests of each IdP (``tests/scim/test_*_lifecycle.py``). What differs between IdPs is the
set of request headers, given as a ``ClientHeaders``; everything else (sending, placeholders, steps, checks) is
here.

A data file is a JSON list of steps. A step has:

- ``name``; ``method``; ``path`` (relative to the SCIM base URL, ``{placeholders}`` allowed, sent as is, so a
  trailing ``?`` stays); ``query`` (raw, already encoded, appended after ``?`` when not empty);
- ``body`` (JSON, optional). With ``body_base`` (the name of a document saved by ``save_json``) the body is that
  document with ``body`` deep-merged into it (objects merged key by key, anything else replaced): the way an IdP
  sends back our own GET answer with its changes;
- ``authorization`` (optional): the literal ``Authorization`` header value instead of ``Bearer <token>``, or
  ``null`` to send none;
- ``expect``: ``status`` (an integer or a list of accepted ones) plus optional ``totalResults``, ``json_subset``
  (see ``contained``), ``absent`` (keys or key paths), ``checks`` (see ``check_one``), ``empty_body``,
  ``header_present`` and ``page`` (``{"startIndex": s, "count": c}``: a consistent ListResponse page, see
  ``page_problems``);
- ``save`` ({placeholder: key or key path}: a non-empty string of the reply) and ``save_json`` ({name: key
  path}: any JSON value of the reply, ``[]`` for the whole document; usable as ``body_base``);
- ``walk`` (optional, GET lists only): page through the list as an importing IdP does instead of sending one
  request; see ``run_walk``.

Placeholders: ``{name}`` is a value saved by an earlier step; ``{new_guid}`` is a fresh random GUID each time.
"""
from __future__ import annotations

import copy
import http.client
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from scimapp import tokens

SCIM_MEDIA = "application/scim+json"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DEFAULT_AUTH = object()


# ---------------------------------------------------------------------------------------------- HTTP

@dataclass(frozen=True)
class ClientHeaders:
    """The headers one IdP puts on its requests, besides ``Host``, ``Authorization`` and ``Content-Length``.

    ``always``: on every request, in this order. ``content_type``: on every request with a body, and also on
    requests without one whose method is in ``content_type_without_body`` (Okta's bodiless DELETE carries it).
    """

    name: str
    always: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/scim+json; charset=utf-8"
    content_type_without_body: frozenset[str] = field(default_factory=frozenset)

    def for_request(self, method: str, has_body: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The headers sent before ``Authorization`` and those sent after it."""
        after = []
        if has_body or method.upper() in self.content_type_without_body:
            after.append(("Content-Type", self.content_type))
        return list(self.always), after


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes
    target: str
    method: str

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.raw.decode("utf-8"))

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 1500 else self.text[:1500] + "…"
        return f"{self.method} {self.target} -> {self.status} ({self.content_type}): {shown or '<empty body>'}"


def connection(server) -> http.client.HTTPConnection:
    split = urlsplit(server.base)
    return http.client.HTTPConnection(split.hostname, split.port, timeout=60)


def send(server, token: str | None, method: str, path: str, query: str = "", body=None, *,
         headers: ClientHeaders, conn: http.client.HTTPConnection | None = None,
         authorization=_DEFAULT_AUTH) -> Reply:
    """One request with exactly the IdP's headers. ``path`` is relative to the SCIM base URL and sent as is;
    ``query`` is already encoded. ``Authorization`` is ``Bearer <token>`` (none when ``token`` is None) unless
    ``authorization`` gives the literal value (None: no header)."""
    target = urlsplit(server.base).path + path + (f"?{query}" if query else "")
    own = conn is None
    conn = conn or connection(server)
    try:
        # http.client adds only Host (and Accept-Encoding, skipped here): nothing else than what is put below.
        conn.putrequest(method, target, skip_accept_encoding=True)
        if authorization is _DEFAULT_AUTH:
            authorization = None if token is None else f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        before, after = headers.for_request(method, data is not None)
        for name, value in before:
            conn.putheader(name, value)
        if authorization is not None:
            conn.putheader("Authorization", authorization)
        for name, value in after:
            conn.putheader(name, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        raw = resp.read()
        return Reply(resp.status, resp.headers, raw, target, method)
    finally:
        if own:
            conn.close()


def media_type_problem(reply: Reply) -> str | None:
    """Every SCIM response is application/scim+json (an empty 204 may carry no Content-Type at all)."""
    ctype = reply.content_type
    if ctype is None and reply.raw == b"" and reply.status == 204:
        return None
    if ctype is None or ctype.split(";")[0].strip().lower() != SCIM_MEDIA:
        return f"Content-Type is {ctype!r}, expected {SCIM_MEDIA}"
    return None


# ---------------------------------------------------------------------------------------------- data files

class MissingPlaceholder(KeyError):
    pass


def fill(value, saved: dict):
    """Replace ``{name}`` with saved values; ``{new_guid}`` is a fresh random GUID at each occurrence."""
    if isinstance(value, str):
        def one(m):
            name = m.group(1)
            if name == "new_guid":
                return str(uuid.uuid4())
            if name not in saved:
                raise MissingPlaceholder(name)
            return saved[name]
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [fill(v, saved) for v in value]
    if isinstance(value, dict):
        return {fill(k, saved): fill(v, saved) for k, v in value.items()}
    return value


def merged(base, overlay):
    """``overlay`` deep-merged into a copy of ``base``: objects key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = copy.deepcopy(base)
        for k, v in overlay.items():
            out[k] = merged(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(overlay)


_MISSING = object()


def at(doc, path):
    """The value at a key path (a key, or a list of keys and list indexes); _MISSING when there is none."""
    for key in ([path] if isinstance(path, (str, int)) else path):
        if isinstance(key, int) and isinstance(doc, list) and -len(doc) <= key < len(doc):
            doc = doc[key]
        elif isinstance(key, str) and isinstance(doc, dict) and key in doc:
            doc = doc[key]
        else:
            return _MISSING
    return doc


def same(a, b) -> bool:
    """Exact JSON equality (``true`` is not ``1``, ``"False"`` is not ``false``)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def contained(expected, actual, where: str = "$") -> list[str]:
    """Problems keeping ``expected`` from being contained in ``actual``: dicts by key, lists element-wise in any
    order (each expected element needs its own actual element), scalars exactly."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)}"]
        out = []
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{where}: key {k!r} missing")
            else:
                out += contained(v, actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {json.dumps(actual)}"]
        free = list(range(len(actual)))
        out = []
        for i, e in enumerate(expected):
            hit = next((j for j in free if not contained(e, actual[j])), None)
            if hit is None:
                out.append(f"{where}: no element contains {json.dumps(e)} (elements: {json.dumps(actual)})")
            else:
                free.remove(hit)
        return out
    if not same(expected, actual):
        return [f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]
    return []


JSON_TYPES = {"string": (str,), "integer": (int,), "boolean": (bool,), "list": (list,), "object": (dict,)}


def json_type_ok(value, name: str) -> bool:
    """Is ``value`` of the JSON type ``name`` (``true`` is a boolean, never an integer)?"""
    if name == "null":
        return value is None
    if name == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, JSON_TYPES[name])


def dumped(value) -> str:
    """A JSON value for a message (``<missing>`` when there is none)."""
    return "<missing>" if value is _MISSING else json.dumps(value)


def label_of(path) -> str:
    return "/".join(str(p) for p in ([path] if isinstance(path, (str, int)) else path))


def check_one(check: dict, doc) -> list[str]:
    """One entry of ``checks``: ``path`` plus one of

    ``equals`` (exactly), ``not_equals``, ``length`` (a list of that length), ``max_length``, ``values`` (a list
    whose elements' ``value`` are exactly these), ``type`` (string, integer, boolean, list, object, null),
    ``non_empty`` (a non-empty string or list), ``empty`` (missing, null or [] all count as empty), ``each_has``
    (every element of the list has a non-null value at each of these key paths) and ``each_lacks`` (no element
    has any of these key paths).
    """
    value = at(doc, check["path"])
    label = label_of(check["path"])
    if check.get("empty"):
        if value is _MISSING or value is None or value == []:
            return []
        return [f"{label}: expected empty (missing, null or []), got {json.dumps(value)}"]
    if value is _MISSING:
        return [f"{label}: missing"]
    if "equals" in check and not same(value, check["equals"]):
        return [f"{label}: expected exactly {json.dumps(check['equals'])}, got {json.dumps(value)}"]
    if "not_equals" in check and same(value, check["not_equals"]):
        return [f"{label}: must not be {json.dumps(value)}"]
    if "length" in check and (not isinstance(value, list) or len(value) != check["length"]):
        return [f"{label}: expected a list of {check['length']}, got {json.dumps(value)}"]
    if "max_length" in check and (not isinstance(value, list) or len(value) > check["max_length"]):
        return [f"{label}: expected a list of at most {check['max_length']}, got {json.dumps(value)}"]
    if "values" in check:
        got = sorted(str(e.get("value")) for e in value if isinstance(e, dict)) if isinstance(value, list) else value
        if not isinstance(value, list) or got != sorted(check["values"]) or len(value) != len(check["values"]):
            return [f"{label}: expected exactly the values {sorted(check['values'])}, got {got}"]
    if "type" in check and not json_type_ok(value, check["type"]):
        return [f"{label}: expected a JSON {check['type']}, got {json.dumps(value)}"]
    if check.get("non_empty") and not (isinstance(value, (str, list)) and value):
        return [f"{label}: expected a non-empty string or list, got {json.dumps(value)}"]
    out = []
    for key in ("each_has", "each_lacks"):
        if key not in check:
            continue
        if not isinstance(value, list):
            return [f"{label}: expected a list, got {json.dumps(value)}"]
        for i, element in enumerate(value):
            for sub in check[key]:
                found = at(element, sub)
                if key == "each_has" and (found is _MISSING or found is None):
                    out.append(f"{label}[{i}] (id {dumped(at(element, 'id'))}): {label_of(sub)} missing")
                if key == "each_lacks" and found is not _MISSING:
                    out.append(f"{label}[{i}] (id {dumped(at(element, 'id'))}): {label_of(sub)} must be "
                               f"absent, found {json.dumps(found)}")
    return out


def page_problems(page: dict, doc) -> list[str]:
    """A ListResponse page asked with ``startIndex``/``count``: integer numbers, ``startIndex`` echoed,
    ``itemsPerPage`` (when given) the number of resources, and exactly min(count, what is left) resources."""
    if not isinstance(doc, dict):
        return ["the ListResponse is not a JSON object"]
    out = []
    total, start = doc.get("totalResults"), doc.get("startIndex")
    for name in ("totalResults", "startIndex"):
        if not json_type_ok(doc.get(name), "integer"):
            out.append(f"{name} must be a JSON integer, got {json.dumps(doc.get(name))}")
    if json_type_ok(start, "integer") and start != page["startIndex"]:
        out.append(f"startIndex {start}, expected the requested {page['startIndex']}")
    resources = doc.get("Resources", _MISSING)
    if not json_type_ok(total, "integer"):
        return out
    wanted = max(0, min(page["count"], total - page["startIndex"] + 1))
    if resources is _MISSING and wanted == 0:
        resources = []
    if not isinstance(resources, list):
        return out + [f"Resources must be a list, got {json.dumps(resources) if resources is not _MISSING else 'none'}"]
    if len(resources) != wanted:
        out.append(f"{len(resources)} Resources for startIndex={page['startIndex']}&count={page['count']} of "
                   f"totalResults {total}, expected {wanted}")
    if "itemsPerPage" in doc and (not json_type_ok(doc["itemsPerPage"], "integer")
                                  or doc["itemsPerPage"] != len(resources)):
        out.append(f"itemsPerPage {json.dumps(doc['itemsPerPage'])}, but {len(resources)} Resources")
    return out


def status_ok(expected, status: int) -> bool:
    return status in expected if isinstance(expected, list) else status == expected


def check_expectations(expect: dict, reply: Reply) -> list[str]:
    """Every failed expectation of one step (empty when the reply is as expected)."""
    problems = []
    if not status_ok(expect["status"], reply.status):
        problems.append(f"status {reply.status}, expected {expect['status']}")
    media = media_type_problem(reply)
    if media:
        problems.append(media)
    if expect.get("empty_body") and reply.raw != b"":
        problems.append(f"expected an empty body, got {len(reply.raw)} bytes")
    for name in expect.get("header_present", []):
        if not reply.headers.get(name):
            problems.append(f"header {name} missing")
    needs_json = any(k in expect for k in ("totalResults", "json_subset", "absent", "checks", "page"))
    if not needs_json:
        return problems
    try:
        doc = reply.json()
    except ValueError as exc:
        return problems + [f"the body is not JSON ({exc})"]
    if "totalResults" in expect and not same(doc.get("totalResults") if isinstance(doc, dict) else None,
                                             expect["totalResults"]):
        problems.append(f"totalResults {doc.get('totalResults') if isinstance(doc, dict) else None!r}, "
                        f"expected {expect['totalResults']}")
    problems += contained(expect.get("json_subset", {}), doc)
    for path in expect.get("absent", []):
        if at(doc, path) is not _MISSING:
            problems.append(f"{path!r} must be absent, found {json.dumps(at(doc, path))}")
    for check in expect.get("checks", []):
        problems += check_one(check, doc)
    if "page" in expect:
        problems += page_problems(expect["page"], doc)
    return problems


ReplyCheck = Callable[[dict, Reply], list[str]]


def run_walk(server, token: str, st: dict, query: str, expect: dict, headers: ClientHeaders,
             reply_check: ReplyCheck | None) -> tuple[list[str], list[Reply]]:
    """Page through a list as an importing IdP does: ``startIndex=1&count=c``, then ``startIndex`` stepped by
    ``c`` until ``totalResults`` is reached (the query, if any, goes first). ``walk`` holds ``count``, ``passes``
    (whole walks, default 2: the order must be the same each time), ``min_pages`` and ``includes`` (ids that must
    be among the resources). ``expect`` applies to every page, with ``page`` consistency added. Across the pages
    of a walk: the same totalResults, no id twice, and as many resources as totalResults.
    Returns the problems and the replies."""
    spec = st["walk"]
    count, passes = spec["count"], spec.get("passes", 2)
    problems: list[str] = []
    replies: list[Reply] = []
    orders: list[list] = []
    for p in range(1, passes + 1):
        start, ids, total, pages = 1, [], None, 0
        while True:
            page_query = (f"{query}&" if query else "") + f"startIndex={start}&count={count}"
            reply = send(server, token, st["method"], st["path"], page_query, headers=headers)
            replies.append(reply)
            pages += 1
            head = f"walk {p} page startIndex={start}"
            found = check_expectations({**expect, "page": {"startIndex": start, "count": count}}, reply)
            if reply_check:
                found += reply_check(st, reply)
            if found:
                problems.append(f"{head}: " + "; ".join(found) + f"\n      {reply.describe()}")
            try:
                doc = reply.json()
            except ValueError:
                break
            if not isinstance(doc, dict) or not json_type_ok(doc.get("totalResults"), "integer"):
                break
            if total is not None and doc["totalResults"] != total:
                problems.append(f"{head}: totalResults changed from {total} to {doc['totalResults']}")
            total = doc["totalResults"]
            resources = doc.get("Resources") or []
            ids += [r.get("id") if isinstance(r, dict) else None for r in resources]
            if not resources or start + count > total or pages >= 500:
                break
            start += count
        if total is not None and len(ids) != total:
            problems.append(f"walk {p}: {len(ids)} resources over {pages} pages, totalResults {total}")
        dupes = sorted({str(i) for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"walk {p}: ids seen on more than one page: {dupes}")
        if pages < spec.get("min_pages", 1):
            problems.append(f"walk {p}: {pages} pages, expected at least {spec['min_pages']} (too few resources?)")
        missing = [i for i in spec.get("includes", []) if i not in ids]
        if missing:
            problems.append(f"walk {p}: ids not imported: {missing}")
        orders.append(ids)
    if any(o != orders[0] for o in orders[1:]):
        problems.append(f"the order is not stable between walks: {orders}")
    return problems, replies


def run_steps(server, token: str, steps: list[dict], label: str, headers: ClientHeaders, *,
              rewrite_query: Callable[[str], str] | None = None, reply_check: ReplyCheck | None = None) -> dict:
    """Replay steps (format: see the module docstring); collect every failed expectation (naming the step) and
    fail once at the end. A failed step does not stop the replay unless a later step needs a value it should have
    saved. ``rewrite_query`` changes every query before it is sent (Entra's URL flag); ``reply_check(step, reply)``
    returns extra problems for every reply. Returns the saved placeholders."""
    saved: dict[str, str] = {}
    documents: dict = {}
    failures: list[str] = []
    for n, st in enumerate(steps, 1):
        head = f"[{label}] step {n} {st['name']!r}"
        try:
            path = fill(st["path"], saved)
            query = fill(st.get("query", ""), saved)
            body = fill(st["body"], saved) if "body" in st else None
            expect = fill(st["expect"], saved)
            walk = fill(st["walk"], saved) if "walk" in st else None
            if "body_base" in st:
                base = documents.get(st["body_base"], _MISSING)
                if base is _MISSING:
                    raise MissingPlaceholder(st["body_base"])
                body = merged(base, body if body is not None else {})
        except MissingPlaceholder as exc:
            failures.append(f"{head}: not run, placeholder {exc} was never saved (an earlier step failed)")
            break
        if rewrite_query:
            query = rewrite_query(query)
        if walk is not None:
            problems, _ = run_walk(server, token, {**st, "path": path, "walk": walk}, query, expect, headers,
                                   reply_check)
            if problems:
                failures.append(f"{head}: " + "\n    ".join(problems))
            continue
        extra = {"authorization": unknown_token(st["authorization"])} if "authorization" in st else {}
        reply = send(server, token, st["method"], path, query, body, headers=headers, **extra)
        problems = check_expectations(expect, reply)
        if reply_check:
            problems += reply_check(st, reply)
        try:
            doc = reply.json()
        except ValueError:
            doc = _MISSING
        for name, key in st.get("save", {}).items():
            value = at(doc, key) if doc is not _MISSING else _MISSING
            if isinstance(value, str) and value:
                saved[name] = value
            else:
                problems.append(f"cannot save {name!r}: no non-empty string at {key!r}")
        for name, key in st.get("save_json", {}).items():
            value = at(doc, key) if doc is not _MISSING else _MISSING
            if value is _MISSING:
                problems.append(f"cannot save {name!r}: nothing at {key!r}")
            else:
                documents[name] = value
        if problems:
            failures.append(f"{head}: " + "; ".join(problems) + f"\n    {reply.describe()}")
    assert not failures, f"{len(failures)} of {len(steps)} steps of {label} failed:\n" + "\n".join(failures)
    return saved


def unknown_token(authorization):
    """``{unknown_token}`` in a step's Authorization stands for a well-formed token this server never issued, made
    fresh on each run (the data files hold no token-shaped secrets)."""
    if isinstance(authorization, str) and "{unknown_token}" in authorization:
        return authorization.replace("{unknown_token}", tokens.new_secret())
    return authorization


STEP_KEYS = {"name", "method", "path", "query", "body", "body_base", "authorization", "expect", "save", "save_json",
             "walk"}


def load(directory: Path, name: str) -> list[dict]:
    """The steps of one data file, with their shape checked (a misspelt key would silently test nothing)."""
    steps = json.loads((directory / name).read_text(encoding="utf-8"))
    assert isinstance(steps, list) and steps, f"{name} holds no steps"
    for st in steps:
        assert {"name", "method", "path", "expect"} <= st.keys() and "status" in st["expect"], st
        assert st.keys() <= STEP_KEYS, f"{name}: unknown step keys {sorted(st.keys() - STEP_KEYS)} in {st['name']!r}"
    return steps
