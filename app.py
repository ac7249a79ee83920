"""Entry point. ``python app.py [--host H] [--port P]`` serves scimapp with waitress;
``flask --app app …`` runs the management commands."""
from __future__ import annotations

import argparse
import logging
import sys

from sqlalchemy.exc import OperationalError

from scimapp import create_app

try:
    app = create_app()
except ValueError as exc:  # a bad setting: say which, without a traceback
    sys.exit(f"scimapp: configuration error: {exc}")
except RuntimeError as exc:  # a database this version cannot take over (schema_upgrade.py says why)
    sys.exit(f"scimapp: {exc}")
except OperationalError as exc:  # the database server is down, or the URL points nowhere
    sys.exit(f"scimapp: cannot open the database: {exc.orig or exc}")


def main(argv: list[str] | None = None) -> None:
    """Serve the app with waitress on the configured (or given) host and port."""
    from scimapp.httpserver import make_server
    from scimapp.urls import tenant_url_offline

    parser = argparse.ArgumentParser(description="Serve scimapp with waitress.")
    parser.add_argument("--host", default=app.config["HOST"], help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=int(app.config["PORT"]), help="port (default %(default)s)")
    args = parser.parse_args(argv)
    if not app.config["AUTO_MIGRATE"]:
        from scimapp.schema_upgrade import current_revisions, head_revisions
        with app.app_context():
            current, head = current_revisions(), head_revisions()
        if current != head:
            sys.exit(f"scimapp: the database schema is at {', '.join(sorted(current)) or 'nothing (new database)'}"
                     f" and this version needs {', '.join(sorted(head))}; automatic upgrades are off "
                     "(SCIMAPP_AUTO_MIGRATE=false): back up, then run `flask --app app db upgrade`")
    app.config.update(HOST=args.host, PORT=args.port)
    log = logging.getLogger("scimapp")
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    proxies = int(app.config["TRUST_PROXY"])
    try:
        # Waitress drops X-Forwarded-* headers unless told otherwise; with TRUST_PROXY the app's ProxyFix reads
        # exactly that many hops of them, so waitress must pass them through.
        # Waitress buffers a whole body before the app sees it: cap it at the largest the app accepts (bulk), so
        # nobody can make the server take in a gigabyte before being told no.
        body_limit = max(app.config["MAX_CONTENT_LENGTH"], app.config["SCIM_BULK_MAX_PAYLOAD"])
        server = make_server(app, host=args.host, port=args.port, threads=int(app.config["THREADS"]),
                             ident="scimapp", clear_untrusted_proxy_headers=not proxies,
                             max_request_body_size=body_limit)
    except OSError as exc:
        sys.exit(f"scimapp: cannot listen on {shown_host}:{args.port}: {exc.strerror or exc}")
    log.info("scimapp listening on http://%s:%s", shown_host, args.port)
    log.info("Tenant URL: %s", tenant_url_offline(app.config))
    with app.app_context():
        from scimapp.settings import is_configured, new_setup_code
        if not is_configured():
            base = tenant_url_offline(app.config).removesuffix("/scim/v2")
            log.warning("Admin sign-in is not set up. Open %s/setup and enter this one-time set-up code: %s",
                        base, new_setup_code())
    server.run()


if __name__ == "__main__":
    main()
