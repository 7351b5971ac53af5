"""REST channel, web chat JSON endpoints, terminal REPL and outbound dispatch."""
from __future__ import annotations

import io
from contextlib import redirect_stdout

from connectors import outbound
from tests.connectors.conftest import consent


def _auth():
    from mingbai.settings import get_settings

    return {"Authorization": f"Bearer {get_settings().secret('api_token')}"}


def test_rest_requires_token(client):
    r = client.post("/api/v1/messages", json={"sender": "hotline-1", "text": "你好"})
    assert r.status_code == 401
    r = client.post("/api/v1/messages", json={"sender": "hotline-1", "text": "你好"},
                    headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_rest_message_and_idempotency(client, rasa):
    consent("rest:hotline-2")
    body = {"sender": "hotline-2", "text": "拖欠工资怎么办", "msg_id": "call-0001"}
    r = client.post("/api/v1/messages", json=body, headers=_auth())
    assert r.status_code == 200
    j = r.get_json()
    assert j["replies"] == ["关于“拖欠工资怎么办”：这是测试回答。"] and j["resident_key"] == "rest:hotline-2"
    assert j["duplicate"] is False and j["handoff"] is False
    again = client.post("/api/v1/messages", json=body, headers=_auth()).get_json()
    assert again["duplicate"] is True and again["replies"] == j["replies"]
    assert rasa.turns[("rest:hotline-2", "拖欠工资怎么办")] == 1


def test_rest_validation(client):
    h = _auth()
    assert client.post("/api/v1/messages", json={"sender": "a b", "text": "x"}, headers=h).status_code == 400
    assert client.post("/api/v1/messages", json={"sender": "ok", "text": ""}, headers=h).status_code == 400
    assert client.post("/api/v1/messages", json={"sender": "ok", "text": "字" * 5000}, headers=h).status_code == 413
    assert client.post("/api/v1/messages", data="not json", headers=h).status_code == 400


def test_rest_staff_reply_polling(client):
    consent("rest:hotline-3")
    assert outbound.send("rest:hotline-3", "工作人员：已为您登记。")
    j = client.get("/api/v1/messages?sender=hotline-3", headers=_auth()).get_json()
    assert [m["text"] for m in j["messages"]] == ["工作人员：已为您登记。"]


def test_webchat_flow_and_staff_reply(client, rasa):
    page = client.get("/chat")
    assert page.status_code == 200 and "大字" in page.get_data(as_text=True)
    r = client.post("/chat/api/send", json={"text": "邻居装修太吵", "client_id": "abcdefgh1"})
    assert "同意" in r.get_json()["replies"][0]
    r = client.post("/chat/api/send", json={"text": "同意", "client_id": "abcdefgh2"})
    replies = r.get_json()["replies"]
    assert any("邻居装修太吵" in t for t in replies)
    # A double tap (same client_id) does not cause a second turn.
    client.post("/chat/api/send", json={"text": "同意", "client_id": "abcdefgh2"})
    assert rasa.turns[next(k for k in rasa.turns if k[1] == "邻居装修太吵")] == 1
    rk = next(k for k in rasa.turns if k[1] == "邻居装修太吵")[0]
    assert rk.startswith("web:")
    assert outbound.send(rk, "您好，我是调解员小王。")
    polled = client.get("/chat/api/poll?after=0").get_json()
    assert [m["text"] for m in polled["messages"]] == ["您好，我是调解员小王。"]
    assert polled["messages"][0]["author"] == "staff"
    # A form post from another site (not JSON) is refused.
    assert client.post("/chat/api/send", data={"text": "x"}).status_code == 415


def test_outbound_unknown_channel(wx_env):
    assert outbound.send("fax:123", "hello") is False
    assert outbound.send("web:abc", "   ") is False


def test_terminal_in_process(wx_env, rasa):
    from connectors import terminal

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = terminal.main(["--in-process", "--sender", "tester", "-m", "同意", "-m", "欠条怎么写"])
    out = buf.getvalue()
    assert rc == 0
    assert "明白>" in out and "欠条怎么写" in out
    assert rasa.turns[("cli:tester", "欠条怎么写")] == 1


def test_delete_my_data_clears_the_channel_rows_too(client, rasa):
    """The bot's action_delete_data calls tickets.service.forget_resident and says so in its
    custom payload; the gateway then clears the connectors' rows and keeps the goodbye out of the
    freshly emptied transcript."""
    from connectors.store import Outbox, ServiceWindow
    from tests.connectors.conftest import count
    from tickets import service
    from tickets.models import Message

    rk = "rest:hotline-del"
    consent(rk)
    client.post("/api/v1/messages", json={"sender": "hotline-del", "text": "物业乱收费"}, headers=_auth())
    outbound.send(rk, "工作人员：收到。")
    assert count(Message, resident_key=rk) >= 2 and count(Outbox, resident_key=rk) == 1

    def reply(sender, message):
        if message == "删除我的信息":
            n = service.forget_resident(sender)
            return ["已删除您的个人信息和聊天记录。", {"custom": {"outcome": "status", "deleted": n}}]
        return [message]

    rasa.reply = reply
    j = client.post("/api/v1/messages", json={"sender": "hotline-del", "text": "删除我的信息"},
                    headers=_auth()).get_json()
    assert j["replies"] == ["已删除您的个人信息和聊天记录。"]
    assert count(Message, resident_key=rk) == 0
    assert count(Outbox, resident_key=rk) == 0 and count(ServiceWindow, resident_key=rk) == 0
