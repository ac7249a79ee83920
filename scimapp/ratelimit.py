"""Per-token rate limits for the SCIM API, with the ``limits`` library (the engine behind Flask-Limiter).

Checked after the token is known, so each token has its own budget and a bad token costs nothing. Over the limit a
client gets 429 with ``Retry-After``, which Entra honours. The counters live in ``RATE_LIMIT_STORAGE``: in memory for
one server, or in Redis (``redis://host:6379``) so that several servers share them. If that store is unreachable,
requests are let through (and logged): provisioning must not stop because a counter cannot be read.
"""
from __future__ import annotations

import math
import time

from flask import current_app
from limits import parse_many, storage, strategies

from .scim.errors import ScimError


class TokenRateLimit:
    """The configured limits and their store, built once per app."""

    def __init__(self, limits_text: str, storage_uri: str):
        self.items = parse_many(limits_text) if limits_text and limits_text.strip() else []
        self.limiter = strategies.SlidingWindowCounterRateLimiter(storage.storage_from_string(storage_uri)) \
            if self.items else None

    def check(self, token_id: int) -> None:
        """Count one request for this token; ScimError 429 when a limit is exceeded."""
        if self.limiter is None:
            return
        key = f"scimapp:token:{token_id}"
        try:
            for item in self.items:
                if not self.limiter.hit(item, key):
                    reset = self.limiter.get_window_stats(item, key).reset_time
                    wait = max(1, math.ceil(reset - time.time()))
                    raise ScimError(429, f"too many requests for this token (limit {item}); retry in {wait} s",
                                    headers={"Retry-After": str(wait)})
        except ScimError:
            raise
        except Exception as exc:  # the counter store is down: let the request through, say so in the log
            current_app.logger.warning("rate limit store unavailable (%s): request allowed", exc.__class__.__name__)


def validate(limits_text: str) -> None:
    """ValueError when the SCIM_RATE_LIMIT text cannot be read."""
    if limits_text and limits_text.strip():
        try:
            parse_many(limits_text)
        except ValueError:
            raise ValueError(f"SCIM_RATE_LIMIT must look like '200 per second; 5000 per minute', got {limits_text!r}") \
                from None
