"""scimapp: a SCIM 2.0 endpoint that identity providers provision users and groups into."""
from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as defaults
from .database import configure_engine, is_too_long, is_transient
from .extensions import csrf, db, login_manager, migrate
from .urls import is_scim_path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config layers, instance folder, extensions, blueprints, error pages, CLI, database."""
    test_config = dict(test_config or {})
    instance = Path(test_config.pop("INSTANCE_PATH", None) or os.environ.get("SCIMAPP_INSTANCE_PATH")
                    or PROJECT_ROOT / "instance").resolve()
    instance.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True,
                template_folder=str(PROJECT_ROOT / "templates"), static_folder=str(PROJECT_ROOT / "static"))

    app.config.from_mapping(defaults.DEFAULTS)
    from_file = _instance_config(instance / "config.py")
    from_env = defaults.from_environment()
    app.config.update(from_file)
    app.config.update(from_env)
    app.config.update(test_config)
    # Keys an operator set on purpose: for sign-in settings these win over what was saved through the web.
    app.config["EXPLICIT_KEYS"] = frozenset(from_file) | frozenset(from_env) | frozenset(test_config)

    _check_settings(app.config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    app.config["SQLALCHEMY_DATABASE_URI"] = (app.config["DATABASE_URL"]
                                             or f"sqlite:///{(instance / 'scimapp.db').as_posix()}")
    # hide_parameters: a database error in the log never shows the values (personal data, filter literals).
    # pool_pre_ping (a test query before each use) guards server databases against dropped connections; a SQLite
    # file has no connection to drop, and the ping would double the cost of a short request.
    server_db = not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    options = {"pool_pre_ping": server_db, "hide_parameters": True}
    if ":memory:" not in app.config["SQLALCHEMY_DATABASE_URI"]:
        # A pooled connection for every waitress thread and the activity writer: with SQLAlchemy's default of 5,
        # the connections of busy threads beyond those were opened and closed again on every request.
        options["pool_size"] = int(app.config["THREADS"]) + 2
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    app.config.update(
        SESSION_COOKIE_NAME="scimapp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=str(app.config["EXTERNAL_URL"]).lower().startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=int(app.config["SESSION_LIFETIME_MINUTES"])),
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
    )
    _configure_logging(app)

    app.wsgi_app = _CollapseSlashes(app.wsgi_app)
    if app.config["TRUST_PROXY"]:
        hops = int(app.config["TRUST_PROXY"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)

    db.init_app(app)
    from .schema_upgrade import MIGRATIONS, upgrade_to_head
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    from .admin import bp as admin_bp
    from .auth import bp as auth_bp, setup_bp
    from .auth.client import oauth
    from .main import bp as main_bp
    from .scim import bp as scim_bp
    from .scim.attributes import Registry, extensions_from_config

    oauth.init_app(app)
    from .activity import Recorder
    from .ratelimit import TokenRateLimit
    app.extensions["scim_activity"] = Recorder(app)
    app.extensions["scim_registry"] = Registry(*extensions_from_config(app.config["SCIM_EXTENSIONS"]))
    app.extensions["scim_rate_limit"] = TokenRateLimit(app.config["SCIM_RATE_LIMIT"], app.config["RATE_LIMIT_STORAGE"])
    app.register_blueprint(scim_bp)
    csrf.exempt(scim_bp)  # bearer tokens only: no cookies, so no cross-site request forgery to defend against
    for blueprint in (main_bp, auth_bp, setup_bp, admin_bp):
        app.register_blueprint(blueprint)
    from .directory import bp as directory_bp
    app.register_blueprint(directory_bp)
    from .monitor import bp as monitor_bp
    app.register_blueprint(monitor_bp)
    app.session_interface = _SessionInterface()
    from .database import install_web_write_intent
    install_web_write_intent(app)
    from .requestlog import install as install_request_log
    install_request_log(app)

    @app.context_processor
    def _setup_state():
        from .settings import setup_open
        return {"setup_open": setup_open}
    app.after_request(_security_headers)
    _register_errors(app)

    from .cli import register as register_cli
    register_cli(app)

    with app.app_context():
        configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
        from . import models  # noqa: F401  (the tables must be known to the migrations' autogenerate)
        if app.config["AUTO_MIGRATE"]:
            upgrade_to_head()
    return app


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request arrived over https: behind a TLS proxy trusted through
    TRUST_PROXY as well as with an https EXTERNAL_URL."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and request.is_secure)

    # The SCIM API authenticates by bearer token alone: its requests neither read a session cookie nor set one,
    # and skip the cost of both (a signing serializer built per request).
    def open_session(self, app: Flask, request):
        if is_scim_path(request.path):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        if is_scim_path(request.path):
            return
        super().save_session(app, session, response)


def _instance_config(path: Path) -> dict:
    """The upper-case names set in ``instance/config.py`` (a Python file of ``KEY = value`` lines)."""
    if not path.exists():
        return {}
    namespace: dict = {"__file__": str(path)}
    exec(compile(path.read_bytes(), str(path), "exec"), namespace)  # noqa: S102 - the operator's own config file
    return {k: v for k, v in namespace.items() if k.isupper()}


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")


def _security_headers(response):
    """Headers every response carries: no inline script, no framing, no sniffing, little referrer."""
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        h.setdefault("Content-Security-Policy", CSP)
    return response


def _check_settings(config) -> None:
    """Refuse settings that would silently misbehave; ValueError says which and why."""
    url = (config.get("EXTERNAL_URL") or "").strip()
    if url and not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise ValueError(f"EXTERNAL_URL must be a full URL such as https://scim.example.org, got {url!r}")
    for key in ("PORT", "THREADS", "MAX_CONTENT_LENGTH", "SCIM_MAX_RESULTS", "SCIM_DEFAULT_COUNT",
                "SCIM_BULK_MAX_OPERATIONS", "SCIM_BULK_MAX_PAYLOAD"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive whole number, got {value!r}")
    proxies = config.get("TRUST_PROXY")
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        raise ValueError(f"TRUST_PROXY must be the number of trusted proxies (0 for none), got {proxies!r}")
    from .ratelimit import validate as validate_rate_limit
    validate_rate_limit(str(config.get("SCIM_RATE_LIMIT") or ""))
    if config["SCIM_DEFAULT_COUNT"] > config["SCIM_MAX_RESULTS"]:
        raise ValueError("SCIM_DEFAULT_COUNT cannot be larger than SCIM_MAX_RESULTS")


class _CollapseSlashes:
    """Serve ``/scim/v2//Users`` as ``/scim/v2/Users``: a Tenant URL pasted with a trailing slash makes clients
    that append ``/Users`` send a double slash, and a redirect would not do (clients do not follow it on PATCH)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = re.sub("/{2,}", "/", path)
        return self.wsgi_app(environ, start_response)


def _instance_secret(path: Path) -> str:
    """The secret key kept in the instance folder, created (random, 256 bits) on first start."""
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)
    return value


def _configure_logging(app: Flask) -> None:
    from .requestlog import JsonFormatter
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    root = logging.getLogger()
    if not root.handlers:  # before app.logger exists, so Flask adds no second handler
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if str(app.config["LOG_FORMAT"]).lower() == "json":
            for handler in root.handlers:
                handler.setFormatter(JsonFormatter())
    logging.getLogger("scimapp.requests").setLevel(level)
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))  # one line per migration step is noise
    from flask.logging import default_handler
    app.logger.removeHandler(default_handler)
    app.logger.setLevel(level)


TOO_LONG = "a value is too long for the database to store and index (some 2,700 bytes at most); shorten it"


def _register_errors(app: Flask) -> None:
    from flask import render_template
    from flask_wtf.csrf import CSRFError

    from .scim.errors import ScimError, render as render_scim
    from .scim.routes import http_error_as_scim

    def in_scim() -> bool:
        return is_scim_path(request.path)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        if in_scim():
            return render_scim(http_error_as_scim(exc))
        return render_template("error.html", title=exc.name, detail=exc.description), exc.code

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return render_template("error.html", title="This form expired",
                               detail="The page was open too long or came from somewhere else. "
                                      "Go back, reload the page and try again."), 400

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        if is_transient(exc):
            app.logger.warning("database busy: %s", exc.__class__.__name__)
            err = ScimError(503, "the database is busy; retry shortly", headers={"Retry-After": "5"})
        elif is_too_long(exc):
            app.logger.warning("value too long for the database on %s: %s", request.method, exc.__class__.__name__)
            err = ScimError(400, TOO_LONG, "invalidValue")
        else:
            from flask import g
            from .requestlog import safe
            app.logger.exception("unexpected error on %s %s [%s]", request.method, safe(request.path),
                                 g.get("request_id", "-"))
            err = ScimError(500, "internal error; the server log has the details")
        if in_scim():
            return render_scim(err)
        return render_template("error.html", title="Something went wrong", detail=err.detail), err.status, \
            err.headers
