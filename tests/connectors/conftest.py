"""Fixtures for the channel tests: a fake WeChat/WeCom API and a Rasa-protocol stub on loopback,
an app with the WeChat/WeCom settings, and a real threaded HTTP server for concurrency tests."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.connectors import wxsim
from tests.connectors.fake_wechat import FakeWeChatAPI
from tests.connectors.rasa_stub import RasaStub, default_reply


@pytest.fixture(scope="session")
def fake_api():
    api = FakeWeChatAPI(wxsim.APPID, wxsim.SECRET, wxsim.CORPID, wxsim.CORPSECRET)
    api.url = api.start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def rasa():
    stub = RasaStub()
    stub.url = stub.start()
    yield stub
    stub.stop()


def _reset_app_caches() -> None:
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    reset_engines()
    try:  # the bot client may cache its base URL / HTTP session
        from bot import rasa_client

        for name in ("reset", "_reset", "reset_client"):
            if callable(getattr(rasa_client, name, None)):
                getattr(rasa_client, name)()
    except ImportError:
        pass


@pytest.fixture()
def wx_env(fresh_home, fake_api, rasa, monkeypatch):
    """A fresh data dir + WeChat/WeCom/Rasa settings pointing at the loopback servers."""
    for k, v in wxsim.env(fake_api.url, rasa.url).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("MINGBAI_REDIS_URL", raising=False)
    _reset_app_caches()
    with fake_api.lock:
        fake_api.sent.clear()
        fake_api.script.clear()
        fake_api.valid_tokens.clear()
        fake_api.token_calls = 0
        fake_api.send_calls = 0
        fake_api.delay_s = 0.0
    with rasa.lock:
        rasa.turns.clear()
    rasa.delay_s = 0.0
    rasa.reply = default_reply
    yield fresh_home
    rasa.delay_s = 0.0
    rasa.reply = default_reply
    for k in wxsim.env("", ""):
        monkeypatch.delenv(k, raising=False)
    _reset_app_caches()


def make_app():
    """The project's app when every area's blueprint exists; else one with the channel blueprints
    and the same configuration (lets this area test before the others land)."""
    try:
        from mingbai.web import create_app

        return create_app()
    except ImportError:
        from flask import Flask

        from mingbai.db import init_db
        from mingbai.settings import get_settings

        st = get_settings()
        st.ensure_dirs()
        app = Flask("mingbai")
        app.config.update(SECRET_KEY=st.secret("secret_key"), MINGBAI=st, MAX_CONTENT_LENGTH=256 * 1024,
                          SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
        app.json.ensure_ascii = False
        init_db(st.db_url)
        import connectors.rest
        import connectors.webchat
        import connectors.wechat
        import connectors.wecom

        for m in (connectors.webchat, connectors.wechat, connectors.wecom, connectors.rest):
            app.register_blueprint(m.bp)

        @app.get("/healthz")
        def healthz():
            return {"status": "ok"}

        return app


def load_sample_grid() -> None:
    """Tickets (handoff, intake) need a grid; the sample one the tickets area ships."""
    from pathlib import Path

    from tickets.grids import import_file

    import_file(Path(__file__).resolve().parents[2] / "data" / "grids" / "sample.yml")


@pytest.fixture()
def app(wx_env):
    a = make_app()
    a.config["TESTING"] = True
    load_sample_grid()
    return a


@pytest.fixture()
def client(app):
    return app.test_client()


class LiveServer:
    def __init__(self, app):
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
        self.srv = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        self.http = requests.Session()
        self.http.trust_env = False

    def post(self, cb, timeout: float = 20):
        return self.http.post(self.url + cb.path, data=cb.body, timeout=timeout,
                              headers={"Content-Type": "text/xml"})

    def stop(self):
        self.srv.shutdown()


@pytest.fixture()
def live(app):
    s = LiveServer(app)
    yield s
    s.stop()


def consent(resident_key: str) -> None:
    from tickets import service

    service.record_consent(resident_key, True)


def count(model, **where) -> int:
    from sqlalchemy import func, select

    from mingbai.db import session_scope

    with session_scope() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return int(s.scalar(q))


def wait_until(pred, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())
