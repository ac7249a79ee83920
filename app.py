"""Entry point. ``python app.py [--host H] [--port P]`` serves scimapp with waitress;
``flask --app app …`` runs the management commands."""
from __future__ import annotations

import argparse
import logging

from scimapp import create_app

app = create_app()


def main(argv: list[str] | None = None) -> None:
    """Serve the app with waitress on the configured (or given) host and port."""
    from waitress import serve

    from scimapp.urls import tenant_url_offline

    parser = argparse.ArgumentParser(description="Serve scimapp with waitress.")
    parser.add_argument("--host", default=app.config["HOST"], help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=int(app.config["PORT"]), help="port (default %(default)s)")
    args = parser.parse_args(argv)
    app.config.update(HOST=args.host, PORT=args.port)
    log = logging.getLogger("scimapp")
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    log.info("scimapp listening on http://%s:%s", shown_host, args.port)
    log.info("Tenant URL: %s", tenant_url_offline(app.config))
    serve(app, host=args.host, port=args.port, threads=int(app.config["THREADS"]), ident="scimapp")


if __name__ == "__main__":
    main()
