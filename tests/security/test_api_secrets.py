"""Hole 2: a failing WeChat/WeCom API call must not put the AppSecret or the access_token into
the log or into Outbox.last_error (requests quotes the full URL in its exception text)."""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

from sqlalchemy import select

from connectors.store import AccessToken, Outbox, utcnow
from mingbai.db import init_db, session_scope
from tests.connectors import wxsim


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: connections are refused


def _run_row(rk: str, text: str) -> Outbox:
    from connectors import gateway, wechat_api

    gateway.touch_window(rk, "wechat")
    with session_scope() as s:
        s.add(Outbox(resident_key=rk, channel="wechat", text=text, status="pending", next_try=utcnow()))
    for _ in range(50):
        wechat_api.process_due()
        with session_scope() as s:
            row = s.scalars(select(Outbox).where(Outbox.resident_key == rk)).first()
            if row.attempts:
                s.expunge(row)
                return row
    raise AssertionError("row never attempted")


def test_token_fetch_error_hides_app_secret(wx_env, monkeypatch, caplog):
    monkeypatch.setenv("MINGBAI_WECHAT_API_BASE", f"http://127.0.0.1:{_dead_port()}")
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    init_db()
    with caplog.at_level(logging.DEBUG):
        row = _run_row("wechat:o-sec-1", "回访")
    assert row.status == "failed"
    assert wxsim.SECRET not in (row.last_error or "")
    assert "secret=" not in (row.last_error or "")
    assert "/cgi-bin/token" in row.last_error  # the path is kept for diagnosis
    assert wxsim.SECRET not in caplog.text


def test_send_error_hides_access_token(wx_env, monkeypatch, caplog):
    monkeypatch.setenv("MINGBAI_WECHAT_API_BASE", f"http://127.0.0.1:{_dead_port()}")
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    init_db()
    with session_scope() as s:  # a valid cached token: the send itself fails
        s.add(AccessToken(name=f"wechat:{wxsim.APPID}", token="TOKEN-LEAK-123", version=1,
                          expires_at=utcnow() + timedelta(hours=1), updated_at=utcnow() - timedelta(minutes=1)))
    with caplog.at_level(logging.DEBUG):
        row = _run_row("wechat:o-sec-2", "回访")
    assert row.status == "failed"
    assert "TOKEN-LEAK-123" not in (row.last_error or "")
    assert "/cgi-bin/message/custom/send" in row.last_error
    assert "TOKEN-LEAK-123" not in caplog.text
