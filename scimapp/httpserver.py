"""The waitress server ``python app.py`` runs, with connections kept open after bodiless answers.

Waitress 3.0.2 decides to close an HTTP/1.1 connection whenever a response has no Content-Length, and a 204 or 304
may not carry one (RFC 9110 §8.6), so every 204 ended its connection: a group PATCH, a DELETE, an If-None-Match
304. Such a response ends with its header section (RFC 9112 §6.3), so the connection can carry the next request.
Entra sends membership changes one member at a time; without this, each one after a 204 opened a new connection
(a new TLS handshake at the proxy, or a new upstream connection from nginx or IIS).
"""
from __future__ import annotations

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import WSGITask


class _Task(WSGITask):
    """A WSGI task that leaves the connection open after a bodiless HTTP/1.1 answer, as the client asked."""

    _keep_open = False

    def build_response_header(self):
        """Waitress's header, without its close for a 1xx/204/304 answer that nothing else asks to close."""
        keep = (not self.has_body and self.version == "1.1" and not self.close_on_finish
                and self.request.headers.get("CONNECTION", "").lower() != "close")
        self._keep_open = keep
        try:
            return super().build_response_header()
        finally:
            self._keep_open = False

    def set_close_on_finish(self) -> None:
        """Close after this answer, except for the one close that waitress adds for a missing Content-Length."""
        if not self._keep_open:
            super().set_close_on_finish()


class _Channel(HTTPChannel):
    task_class = _Task


def make_server(app, **adjustments):
    """``waitress.server.create_server`` with the keep-alive fix on every socket it listens on."""
    sockets: dict = {}
    server = create_server(app, map=sockets, **adjustments)
    for listener in list(sockets.values()):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = _Channel
    return server
