"""Flask application factory: one blueprint per area.

connectors/*  — where messages enter (WeChat, WeCom, web chat, REST)
knowledge.api — /api/v1/ask
bot.api       — /api/v1/classify
tickets.api   — /api/v1/tickets
consoles.*    — the volunteer / maintainer web console
"""
from __future__ import annotations

import argparse
import importlib
import logging

from flask import Flask, jsonify

from mingbai.settings import Settings, get_settings

BLUEPRINTS = [
    "connectors.webchat",
    "connectors.wechat",
    "connectors.wecom",
    "connectors.rest",
    "knowledge.api",
    "bot.api",
    "tickets.api",
    "consoles.volunteer",
]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, start_background: bool = False) -> Flask:
    settings = settings or get_settings()
    settings.ensure_dirs()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret("secret_key"),
        MINGBAI=settings,
        MAX_CONTENT_LENGTH=256 * 1024,  # nothing residents send is bigger
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False

    from mingbai.db import init_db

    init_db(settings.db_url)

    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    if start_background:
        from tickets.sla import start_scheduler

        start_scheduler(app)
    return app


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai serve-web")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None)
    parser.add_argument("--threads", type=int, default=48)
    args = parser.parse_args(argv)
    settings = get_settings()
    from mingbai.privacy import setup_logging

    settings.ensure_dirs()
    setup_logging(settings.log_level, settings.log_dir / "web.log")
    app = create_app(settings, start_background=True)
    from waitress import serve

    # Many threads: SSE streams for the console and web chat each hold one.
    serve(app, host=args.host or settings.host, port=args.port or settings.web_port,
          threads=args.threads, channel_timeout=120, ident="mingbai")
    return 0
