"""Hole 4: console login — lockout per username, throttling per IP (real client IP through a
configurable number of trusted proxies), the same password-hash work for unknown usernames."""
from __future__ import annotations

from tests.security.conftest import PW


def _login(c, user, pw, **kw):
    return c.post("/console/login", data={"username": user, "password": pw}, **kw)


def test_username_locked_after_repeated_failures(client, staff):
    from mingbai.settings import get_settings

    n = get_settings().login_max_failures
    for _ in range(n):
        r = _login(client, "wang", "wrong")
        assert r.status_code == 200 and "用户名或密码不对" in r.get_data(as_text=True)
    # Locked now: even the right password is refused, with a clear message.
    r = _login(client, "wang", PW)
    assert r.status_code == 429
    text = r.get_data(as_text=True)
    assert "锁定" in text and f"{get_settings().login_lockout_minutes} 分钟" in text
    # Other accounts are not affected by wang's lockout.
    assert _login(client, "admin", PW).status_code == 302


def test_lockout_counts_unknown_usernames_too(client, staff):
    """Locking only real accounts would reveal which usernames exist."""
    from mingbai.settings import get_settings

    for _ in range(get_settings().login_max_failures):
        _login(client, "nobody-here", "x")
    r = _login(client, "nobody-here", "x")
    assert r.status_code == 429 and "锁定" in r.get_data(as_text=True)


def test_per_ip_throttle_across_usernames(client, staff):
    """Spraying many usernames from one address hits the per-IP limit."""
    codes = [_login(client, f"user{i}", "x").status_code for i in range(40)]
    assert 429 in codes
    assert codes.index(429) >= 20  # a typo or two never trips it


def test_spoofed_forwarded_for_ignored_without_trusted_proxy(client, staff):
    codes = [_login(client, f"u{i}", "x", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
             for i in range(40)]
    assert 429 in codes  # X-Forwarded-For is not trusted by default


def test_trusted_proxy_gives_each_client_its_own_limit(wx_env, monkeypatch):
    from mingbai.settings import reset_settings_cache
    from tests.connectors.conftest import load_sample_grid, make_app

    monkeypatch.setenv("MINGBAI_TRUSTED_PROXIES", "1")
    reset_settings_cache()
    app = make_app()
    app.config["TESTING"] = True
    load_sample_grid()
    c = app.test_client()
    codes_a = [_login(c, f"a{i}", "x", headers={"X-Forwarded-For": "203.0.113.7"}).status_code for i in range(40)]
    assert 429 in codes_a
    # Another resident's address behind the same proxy is not blocked by the first one.
    assert _login(c, "b0", "x", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 200


def test_unknown_username_costs_one_password_hash(client, staff, monkeypatch):
    """Constant-time path: exactly one password-hash check whether or not the user exists."""
    import werkzeug.security

    import tickets.users

    calls = []
    real = werkzeug.security.check_password_hash

    def counting(h, pw):
        calls.append(h)
        return real(h, pw)

    monkeypatch.setattr(werkzeug.security, "check_password_hash", counting)
    monkeypatch.setattr(tickets.users, "check_password_hash", counting)
    _login(client, "wang", "wrong")
    assert len(calls) == 1
    calls.clear()
    _login(client, "no-such-user", "wrong")
    assert len(calls) == 1
