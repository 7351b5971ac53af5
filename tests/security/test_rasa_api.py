"""Hole 6: Rasa's HTTP API ran with wildcard CORS and no token. Now loopback only, no CORS,
--auth-token from MINGBAI_HOME, and the client sends ?token= on every call."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest


def test_server_cmd_is_locked_down(fresh_home, monkeypatch):
    from mingbai import rasa_runtime
    from mingbai.settings import reset_settings_cache

    # The session's real Rasa fixture exports its token; this test checks the generated secret file.
    monkeypatch.delenv("MINGBAI_RASA_TOKEN", raising=False)
    reset_settings_cache()

    monkeypatch.setattr(rasa_runtime, "rasa_bin", lambda: Path("/x/rasa"))
    cmd = rasa_runtime.server_cmd(6005, 6055)
    assert "--cors" not in cmd and "*" not in cmd
    assert cmd[cmd.index("-i") + 1] == "127.0.0.1"
    token = next(a for a in cmd if a.startswith("--auth-token="))[len("--auth-token="):]
    assert len(token) >= 32
    secret_file = fresh_home / ".rasa_token"
    assert secret_file.read_text().strip() == token and oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert f"--auth-token={token}" in rasa_runtime.server_cmd(6005, 6055)  # stable
    assert f"token={token}" in rasa_runtime.status_url(6005)


def test_a_token_that_begins_with_a_dash_still_starts_rasa(fresh_home, monkeypatch):
    """token_urlsafe() begins with "-" about one time in 64: as its own argument argparse took it for
    an option and `rasa run` exited with code 2 (seen on a fresh machine)."""
    import argparse

    from mingbai import rasa_runtime
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_RASA_TOKEN", "-Mm7B6WcirExampleTokenThatStartsWithADash0")
    reset_settings_cache()
    monkeypatch.setattr(rasa_runtime, "rasa_bin", lambda: Path("/x/rasa"))
    cmd = rasa_runtime.server_cmd(6005, 6055)
    parser = argparse.ArgumentParser(exit_on_error=False)  # the options `rasa run` declares, as argparse sees them
    for flag in ("-p", "-i", "-m", "--endpoints", "--credentials"):
        parser.add_argument(flag)
    parser.add_argument("-t", "--auth-token")
    parser.add_argument("--enable-api", action="store_true")
    args = parser.parse_args(cmd[2:])
    assert args.auth_token == "-Mm7B6WcirExampleTokenThatStartsWithADash0"
    reset_settings_cache()


class _Recorder:
    def __init__(self):
        self.seen: list[tuple[str, str, dict]] = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self, method):
                u = urlparse(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                rec.seen.append((method, u.path, {k: v[0] for k, v in parse_qs(u.query).items()}))
                body = json.dumps([] if u.path.startswith("/webhooks") else {"intent": {"name": "greet"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


@pytest.fixture()
def recorder():
    r = _Recorder()
    yield r
    r.srv.shutdown()


def test_client_sends_the_token_on_every_call(fresh_home, recorder):
    from bot import rasa_client
    from mingbai.settings import get_settings

    token = get_settings().secret("rasa_token")
    rasa_client.turn("web:abc", "你好", base_url=recorder.url)
    rasa_client.pause("web:abc", base_url=recorder.url)
    rasa_client.resume("web:abc", base_url=recorder.url)
    rasa_client.tracker("web:abc", base_url=recorder.url)
    rasa_client.parse("你好", base_url=recorder.url)
    assert rasa_client.is_up(base_url=recorder.url)
    paths = {p for _, p, _ in recorder.seen}
    assert {"/conversations/web:abc/tracker/events", "/conversations/web:abc/tracker", "/model/parse",
            "/status", "/webhooks/rest/webhook"} <= paths
    for method, path, q in recorder.seen:
        assert q.get("token") == token, (method, path)
    # The URL now carries the token: errors must not quote it (they end up in logs).
    from tests.fixtures_rasa import free_port

    with pytest.raises(rasa_client.RasaUnavailable) as ei:
        rasa_client.pause("web:abc", base_url=f"http://127.0.0.1:{free_port()}")
    assert token not in str(ei.value)
