"""Hole 7: security headers on every response (CSP with per-request nonces for the templates'
inline scripts, no framing, nosniff, Referrer-Policy); session cookies HttpOnly, SameSite=Lax,
Secure over https (or when configured); console sessions expire after inactivity."""
from __future__ import annotations

import re
import time

import pytest

from tests.security.conftest import PW


def _nonce(resp) -> str:
    csp = resp.headers["Content-Security-Policy"]
    m = re.search(r"'nonce-([^']+)'", csp)
    assert m, csp
    return m.group(1)


@pytest.mark.parametrize("path", ["/console/login", "/chat", "/healthz", "/api/v1/messages"])
def test_security_headers_everywhere(client, path):
    r = client.get(path)
    h = r.headers
    csp = h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "object-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    assert h["X-Frame-Options"] == "DENY"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")


def test_inline_scripts_carry_the_nonce(client, staff):
    r = client.post("/console/login", data={"username": "wang", "password": PW}, follow_redirects=True)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    nonce = _nonce(r)
    tags = re.findall(r"<script[^>]*>", page)
    assert tags and all(f'nonce="{nonce}"' in t for t in tags), tags
    assert _nonce(client.get("/console/")) != nonce  # fresh per response
    assert "no-store" in r.headers.get("Cache-Control", "")


def _set_cookie(resp) -> str:
    return next(v for k, v in resp.headers.items() if k.lower() == "set-cookie" and v.startswith("session="))


def test_session_cookie_flags(app):
    c = app.test_client()
    plain = _set_cookie(c.get("/chat"))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    s = app.test_client().get("/chat", base_url="https://mingbai.example")
    assert "Secure" in _set_cookie(s)


def test_cookie_secure_forced_by_setting(wx_env, monkeypatch):
    from mingbai.settings import reset_settings_cache
    from tests.connectors.conftest import make_app

    monkeypatch.setenv("MINGBAI_COOKIE_SECURE", "true")
    reset_settings_cache()
    app = make_app()
    assert "Secure" in _set_cookie(app.test_client().get("/chat"))


def test_https_seen_through_a_trusted_proxy(wx_env, monkeypatch):
    from mingbai.settings import reset_settings_cache
    from tests.connectors.conftest import make_app

    monkeypatch.setenv("MINGBAI_TRUSTED_PROXIES", "1")
    reset_settings_cache()
    app = make_app()
    r = app.test_client().get("/chat", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"})
    assert "Secure" in _set_cookie(r)


def test_console_session_expires_when_idle(client, staff):
    from mingbai.settings import get_settings

    assert client.post("/console/login", data={"username": "wang", "password": PW}).status_code == 302
    assert client.get("/console/").status_code == 200
    with client.session_transaction() as s:
        s["staff_seen"] = int(time.time()) - get_settings().console_idle_minutes * 60 - 5
    r = client.get("/console/")
    assert r.status_code == 302 and "/console/login" in r.headers["Location"]
    with client.session_transaction() as s:
        assert "staff" not in s
