"""Hole 8: customer-service sends refused with 45047 (per-window message quota used up) or
otherwise held must not be reported to staff as sent (「已发送」): they stay visibly held and go
out later (45047, like 45015, clears when the resident writes again)."""
from __future__ import annotations

from sqlalchemy import select

from connectors.store import Outbox
from mingbai.db import init_db, session_scope
from tests.connectors.conftest import wait_until


def _rows(rk):
    with session_scope() as s:
        return [(r.status, r.attempts, r.last_error)
                for r in s.scalars(select(Outbox).where(Outbox.resident_key == rk).order_by(Outbox.id))]


def test_45047_is_held_not_reported_sent_and_released_later(wx_env, fake_api):
    from connectors import gateway, outbound, wechat_api

    init_db()
    rk = "wechat:o-sec-45047"
    gateway.touch_window(rk, "wechat")
    fake_api.fail_next(45047)
    ok = outbound.send(rk, "调解员：明天上午九点在村委会调解。")  # what the console's reply route reports
    assert ok is False  # the console then says 「已记录，但暂时没能送达居民，系统会重试。」, not 「已发送」
    assert wait_until(lambda: _rows(rk)[0][0] == "held")
    assert "45047" in _rows(rk)[0][2]
    assert [u["status"] for u in wechat_api.undelivered(rk)] == ["held"]
    assert fake_api.contents("o-sec-45047") == []
    gateway.touch_window(rk, "wechat", subscribed=True)  # the resident writes again
    wechat_api.wake()
    assert fake_api.wait_for(1, touser="o-sec-45047") == ["调解员：明天上午九点在村委会调解。"]
    assert wait_until(lambda: _rows(rk)[0][0] == "sent")


def test_staff_reply_outside_window_not_reported_sent(wx_env, fake_api):
    from datetime import timedelta

    from sqlalchemy import update

    from connectors import gateway, outbound
    from connectors.store import ServiceWindow, utcnow

    init_db()
    rk = "wechat:o-sec-old"
    gateway.touch_window(rk, "wechat")
    with session_scope() as s:
        s.execute(update(ServiceWindow).where(ServiceWindow.resident_key == rk)
                  .values(last_inbound_at=utcnow() - timedelta(hours=49)))
    assert outbound.send(rk, "迟到的回复") is False
    assert _rows(rk)[0][0] == "held"


def test_delivered_staff_reply_still_reported_sent(wx_env, fake_api):
    from connectors import gateway, outbound

    init_db()
    rk = "wechat:o-sec-ok"
    gateway.touch_window(rk, "wechat")
    fake_api.fail_next(45047)
    outbound.send(rk, "第一条")  # held
    assert outbound.send(rk, "第二条") is False  # the quota is used up for this window too
    gateway.touch_window(rk, "wechat", subscribed=True)
    assert fake_api.wait_for(2, touser="o-sec-ok") == ["第一条", "第二条"]
    assert outbound.send(rk, "第三条") is True
