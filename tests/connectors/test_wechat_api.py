"""Customer-service API, shared access_token and the outbox retry queue, against the fake
WeChat API server on loopback."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from connectors import gateway, outbound, wechat_api
from connectors.store import AccessToken, Outbox, ServiceWindow, utcnow
from mingbai.db import init_db, session_scope
from tests.connectors.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _rows(rk):
    with session_scope() as s:
        return [(r.status, r.attempts, r.last_error, r.text)
                for r in s.scalars(select(Outbox).where(Outbox.resident_key == rk).order_by(Outbox.id))]


def _setup():
    init_db()


def test_send_delivers_via_customer_service_api(wx_env, fake_api):
    _setup()
    rk = "wechat:o-api-1"
    gateway.touch_window(rk, "wechat")
    assert outbound.send(rk, "工作人员：您好，我们明天上午联系您。")
    assert fake_api.wait_for(1, touser="o-api-1") == ["工作人员：您好，我们明天上午联系您。"]
    assert wait_until(lambda: _rows(rk)[0][0] == "sent")
    assert fake_api.token_calls == 1


def test_45015_holds_until_the_resident_writes_again(wx_env, fake_api):
    _setup()
    rk = "wechat:o-api-45015"
    gateway.touch_window(rk, "wechat")
    fake_api.fail_next(45015)
    outbound.send(rk, "回访：您的事办好了吗？")
    assert wait_until(lambda: _rows(rk)[0][0] == "held")
    assert "45015" in _rows(rk)[0][2]
    assert fake_api.contents("o-api-45015") == []
    gateway.touch_window(rk, "wechat")  # the resident writes again: the window reopens
    wechat_api.wake()
    assert fake_api.wait_for(1, touser="o-api-45015") == ["回访：您的事办好了吗？"]


def test_outside_48h_window_is_held_without_calling_the_api(wx_env, fake_api):
    _setup()
    rk = "wechat:o-api-old"
    gateway.touch_window(rk, "wechat")
    with session_scope() as s:
        s.execute(update(ServiceWindow).where(ServiceWindow.resident_key == rk)
                  .values(last_inbound_at=utcnow() - timedelta(hours=49)))
    calls = fake_api.send_calls
    outbound.send(rk, "迟到的回复")
    assert wait_until(lambda: _rows(rk)[0][0] == "held")
    assert fake_api.send_calls == calls


def test_48001_text_rides_with_the_next_passive_reply(client, fake_api, rasa):
    """Personal-subject accounts have no customer-service API (48001): the staff reply is kept and
    goes out inside the passive reply to the resident's next message."""
    from tests.connectors import wxsim
    from tests.connectors.conftest import consent

    rk = "wechat:o-api-48001"
    consent(rk)
    gateway.touch_window(rk, "wechat")
    fake_api.fail_next(48001)
    outbound.send(rk, "调解员：明天上午九点在村委会调解。")
    assert wait_until(lambda: _rows(rk)[0][0] == "passive_wait")
    assert "48001" in _rows(rk)[0][2]
    cb = wxsim.build(wxsim.text_xml("o-api-48001", "好的，谢谢", 48001001))
    r = client.post(cb.path, data=cb.body, content_type="text/xml")
    text = wxsim.read_reply(r.data, "aes")["Content"]
    assert text.startswith("调解员：明天上午九点在村委会调解。") and "好的，谢谢" in text
    assert _rows(rk)[0][0] == "sent"
    assert fake_api.contents("o-api-48001") == []


def test_token_expiry_refreshes_and_retries(wx_env, fake_api):
    _setup()
    rk = "wechat:o-api-tok"
    gateway.touch_window(rk, "wechat")
    outbound.send(rk, "第一条")
    assert fake_api.wait_for(1, touser="o-api-tok")
    fake_api.expire_tokens()  # e.g. someone refreshed it elsewhere, or it timed out
    outbound.send(rk, "第二条")
    assert fake_api.wait_for(2, touser="o-api-tok") == ["第一条", "第二条"]
    assert fake_api.token_calls == 2
    fake_api.fail_next(42001)  # "access_token expired" reported by the API
    outbound.send(rk, "第三条")
    assert fake_api.wait_for(3, touser="o-api-tok")[-1] == "第三条"
    assert fake_api.token_calls == 3


def test_system_error_retries_with_backoff(wx_env, fake_api):
    _setup()
    rk = "wechat:o-api-busy"
    gateway.touch_window(rk, "wechat")
    fake_api.fail_next(-1)
    outbound.send(rk, "稍后重试的消息")
    assert wait_until(lambda: _rows(rk)[0][0] == "failed")
    assert _rows(rk)[0][1] == 1
    with session_scope() as s:  # fast-forward the backoff
        s.execute(update(Outbox).where(Outbox.resident_key == rk).values(next_try=utcnow()))
    wechat_api.wake()
    assert fake_api.wait_for(1, touser="o-api-busy") == ["稍后重试的消息"]
    assert wait_until(lambda: _rows(rk)[0][:2] == ("sent", 2))


def test_queue_survives_restart(wx_env, fake_api):
    """Rows written by an earlier process (here: a separate Python process that exits before
    sending) are delivered by the next one."""
    _setup()
    rk = "wechat:o-api-restart"
    code = (
        "from connectors import gateway\n"
        "from connectors.store import Outbox\n"
        "from mingbai.db import session_scope\n"
        f"gateway.touch_window({rk!r}, 'wechat')\n"
        "with session_scope() as s:\n"
        f"    s.add(Outbox(resident_key={rk!r}, channel='wechat', text='重启前排队的消息', status='pending'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    assert _rows(rk)[0][0] == "pending"
    wechat_api.ensure_worker()
    wechat_api.wake()
    assert fake_api.wait_for(1, touser="o-api-restart") == ["重启前排队的消息"]


def test_one_token_shared_by_concurrent_processes(wx_env, fake_api):
    """Four processes ask for a token at once: exactly one refresh, all get the same token."""
    _setup()
    code = "from connectors import wechat_api; print(wechat_api.get_token('wechat'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=90) for p in procs]
    tokens = {o.strip() for o, _ in outs}
    assert all(p.returncode == 0 for p in procs), [e[-500:] for _, e in outs]
    assert tokens == {"tok-1"} and fake_api.token_calls == 1
    with session_scope() as s:
        assert s.get(AccessToken, "wechat:wx1234567890abcdef").token == "tok-1"
