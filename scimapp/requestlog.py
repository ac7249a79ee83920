"""One log line per request, with a request id, as text or JSON — never a token, an Authorization header, a cookie
or a query string (filters hold personal data).

The request id comes from ``X-Request-ID`` when a trusted proxy (``TRUST_PROXY``) sent a sane one, else it is made
here; it is echoed in the response's ``X-Request-ID`` header, so an admin can match a client's error to the log.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, current_app, g, request

SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_LOGGER = "scimapp.requests"


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object per line (LOG_FORMAT = "json")."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def safe(text) -> str:
    """Text for a log line: control characters escaped (a request cannot forge lines)."""
    return json.dumps(str(text), ensure_ascii=False)[1:-1]


def _start() -> None:
    g.request_started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "") if current_app.config["TRUST_PROXY"] else ""
    g.request_id = incoming if SANE_ID.match(incoming) else uuid.uuid4().hex[:16]


def _finish(response):
    if g.get("request_id") is None:  # refused before _start ran (an earlier before_request: the CSRF check)
        _start()
    response.headers["X-Request-ID"] = g.get("request_id", "")
    started = g.get("request_started")
    fields = {
        "request_id": g.get("request_id"),
        "method": request.method,
        "path": safe(request.path),
        "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "client": request.remote_addr,
        "token": safe(g.get("scim_token_name")) if g.get("scim_token_name") else None,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    text = f"{fields['method']} {fields['path']} -> {fields['status']} in {fields.get('ms', 0)} ms " \
           f"[{fields['request_id']}]" + (f" token {fields['token']}" if "token" in fields else "")
    logging.getLogger(REQUEST_LOGGER).info(text, extra={"fields": {"event": "request", **fields}})
    return response


def install(app: Flask) -> None:
    """Attach the request id and the request log to every request."""
    app.before_request(_start)
    app.after_request(_finish)
