"""Degraded mode, nothing lost: while Rasa or the action server is down, messages that need the bot
are queued (the resident told once) and answered through the resident's own channel once it is
back — in order, once."""
from __future__ import annotations

import itertools
import time

from connectors import deferred, gateway
from connectors.message import InboundMessage
from connectors.store import DeferredTurn, Outbox
from tests.connectors import wxsim
from tests.connectors.conftest import consent, count, wait_until

_ids = itertools.count(int(time.time() * 1000) + 7_000_000)


def _mid() -> int:
    return next(_ids)


def _post(client, cb):
    return client.post(cb.path, data=cb.body, content_type="text/xml")


def _rasa_at(monkeypatch, url: str) -> None:
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_RASA_URL", url)
    reset_settings_cache()


def _drain_all(timeout: float = 15.0) -> None:
    """Drain until nothing waits (the outbox worker may be draining in the background too)."""
    def done() -> bool:
        deferred.drain()
        return deferred.backlog() == 0

    assert wait_until(done, timeout=timeout, step=0.2), f"{deferred.backlog()} message(s) still queued"


def test_wechat_acts_queued_while_rasa_down_then_answered_in_order(client, rasa, fake_api, monkeypatch):
    openid = "o-degraded"
    rk = f"wechat:{openid}"
    consent(rk)
    _rasa_at(monkeypatch, "http://127.0.0.1:9")  # nothing listens there: Rasa is down

    first = _post(client, wxsim.build(wxsim.text_xml(openid, "转人工", _mid())))
    assert wxsim.read_reply(first.data, "aes")["Content"] == deferred.NOTICE
    second = _post(client, wxsim.build(wxsim.text_xml(openid, "查进度", _mid())))
    assert second.data == b"success"  # told once, not on every queued message
    assert count(DeferredTurn, resident_key=rk) == 2
    row = _rows(rk)[0]
    assert (row.channel, row.route, row.text) == ("wechat", "push:wechat", "转人工")

    assert deferred.drain()["replayed"] == 0  # still down: nothing replayed, nothing lost
    assert count(DeferredTurn, resident_key=rk) == 2

    _rasa_at(monkeypatch, rasa.url)  # Rasa is back
    _drain_all()
    got = fake_api.wait_for(2, timeout=15, touser=openid)
    assert len(got) == 2, got
    assert "转人工" in got[0] and "查进度" in got[1]  # through the customer-service API, in order
    assert rasa.intents[(rk, "/request_human")] == 1 and rasa.intents[(rk, "/check_ticket_status")] == 1

    deferred.drain()  # a second drain sends nothing again
    time.sleep(0.5)
    assert fake_api.contents(openid) == got
    assert count(Outbox, resident_key=rk, status="sent") == 2
    assert rasa.intents[(rk, "/request_human")] == 1


def test_action_server_down_rest_queued_then_polled(client, rasa, monkeypatch):
    """Rasa up, the action server down: Rasa answers 200 with nothing — that is the bot being
    down too. The REST client polls the late replies."""
    from mingbai.settings import get_settings, reset_settings_cache

    from tests.connectors.test_rest_webchat_terminal import _auth

    consent("rest:degraded-2")
    monkeypatch.setenv("MINGBAI_ACTION_PORT", "9")  # no action server
    reset_settings_cache()
    rasa.reply = lambda sender, message: []  # what Rasa answers when the custom action fails
    r = client.post("/api/v1/messages", json={"sender": "degraded-2", "text": "我要调解", "msg_id": "m1"},
                    headers=_auth()).get_json()
    assert r["replies"] == [deferred.NOTICE] and r["result"]["outcome"] == "deferred"
    r = client.post("/api/v1/messages", json={"sender": "degraded-2", "text": "取消", "msg_id": "m2"},
                    headers=_auth()).get_json()
    assert r["replies"] == []
    assert count(DeferredTurn, resident_key="rest:degraded-2") == 2

    from tests.connectors.rasa_stub import default_reply

    rasa.reply = default_reply
    monkeypatch.setenv("MINGBAI_ACTION_PORT", rasa.url.rsplit(":", 1)[1])  # the stub answers /health
    reset_settings_cache()
    assert get_settings().action_port != 9
    _drain_all()
    polled = client.get("/api/v1/messages?sender=degraded-2", headers=_auth()).get_json()["messages"]
    texts = [m["text"] for m in polled]
    assert len(texts) == 2 and "我要调解" in texts[0] and "取消" in texts[1], texts
    deferred.drain()
    assert client.get(f"/api/v1/messages?sender=degraded-2&after={polled[-1]['id']}",
                      headers=_auth()).get_json()["messages"] == []


def test_message_after_recovery_waits_behind_the_queued_ones(client, rasa, monkeypatch):
    rk = "web:degraded-3"
    consent(rk)
    _rasa_at(monkeypatch, "http://127.0.0.1:9")
    assert gateway.process(InboundMessage(rk, "web", text="转人工")) == [deferred.NOTICE]
    _rasa_at(monkeypatch, rasa.url)
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_ACTION_PORT", rasa.url.rsplit(":", 1)[1])
    reset_settings_cache()
    # Rasa is back, but the first message has not been replayed yet: the new one goes behind it.
    assert gateway.process(InboundMessage(rk, "web", text="查进度")) == []
    _drain_all()
    from connectors import outbound

    texts = [m["text"] for m in outbound.poll(rk)]
    assert len(texts) == 2 and "转人工" in texts[0] and "查进度" in texts[1], texts


def test_forget_while_down_clears_the_queue(client, rasa, monkeypatch):
    rk = "rest:degraded-4"
    consent(rk)
    _rasa_at(monkeypatch, "http://127.0.0.1:9")
    assert gateway.process(InboundMessage(rk, "rest", text="转人工")) == [deferred.NOTICE]
    assert gateway.process(InboundMessage(rk, "rest", text="我要调解")) == []
    assert count(DeferredTurn, resident_key=rk) == 2
    assert gateway.process(InboundMessage(rk, "rest", text="删除我的信息")) == [gateway.FORGOTTEN]
    assert count(DeferredTurn, resident_key=rk) == 0  # forgetting takes the queued messages too
    _rasa_at(monkeypatch, rasa.url)
    _drain_all()
    assert count(Outbox, resident_key=rk) == 0
    assert rasa.intents[(rk, "/request_human")] == 0


def test_store_forget_deletes_queued_rows(client):
    from connectors.store import forget

    msg = InboundMessage("wechat:o-forget-q", "wechat", text="查进度", msg_key="1")
    assert deferred.put(msg, msg.text) is True
    assert deferred.put(msg, "取消") is False
    deferred.put(InboundMessage("wechat:o-other", "wechat", text="转人工"), "转人工")
    forget("wechat:o-forget-q")
    assert count(DeferredTurn, resident_key="wechat:o-forget-q") == 0
    assert count(DeferredTurn, resident_key="wechat:o-other") == 1


def _rows(rk: str) -> list[DeferredTurn]:
    from sqlalchemy import select

    from mingbai.db import session_scope

    with session_scope() as s:
        return list(s.scalars(select(DeferredTurn).where(DeferredTurn.resident_key == rk).order_by(DeferredTurn.id)))
