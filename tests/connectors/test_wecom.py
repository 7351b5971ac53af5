"""WeCom callback with wechatpy's enterprise crypto; replies through message/send on the fake API."""
from __future__ import annotations

import time

from tests.connectors import wxsim
from tests.connectors.conftest import consent


def test_encrypted_echostr_is_decrypted_within_a_second(client):
    path, plain = wxsim.wecom_echostr_query("1234567890123456789")
    t0 = time.monotonic()
    r = client.get(path)
    assert time.monotonic() - t0 < 1.0
    assert r.status_code == 200 and r.data.decode() == plain
    bad = client.get(path.replace("msg_signature=", "msg_signature=0"))
    assert bad.status_code == 403


def test_text_message_answered_via_message_send(client, rasa, fake_api):
    consent("wecom:zhangsan")
    cb = wxsim.wecom_build(wxsim.wecom_text_xml("zhangsan", "物业费不交会怎样", 77001))
    r = client.post(cb.path, data=cb.body, content_type="text/xml")
    assert r.status_code == 200 and r.data == b""
    got = fake_api.wait_for(1, touser="zhangsan")
    assert got == ["关于“物业费不交会怎样”：这是测试回答。"]
    assert fake_api.sent[-1]["api"] == "/cgi-bin/message/send"
    assert str(fake_api.sent[-1]["agentid"]) == wxsim.AGENTID
    # WeCom retries the same MsgId: no second turn, no second message.
    client.post(cb.path, data=cb.body, content_type="text/xml")
    time.sleep(1.0)
    assert fake_api.contents("zhangsan") == got
    assert rasa.turns[("wecom:zhangsan", "物业费不交会怎样")] == 1


def test_wecom_rejects_forgery(client, rasa):
    cb = wxsim.wecom_build(wxsim.wecom_text_xml("lisi", "你好", 77002))
    r = client.post(cb.path.replace("msg_signature=", "msg_signature=0"), data=cb.body, content_type="text/xml")
    assert r.status_code == 403
    old = wxsim.wecom_build(wxsim.wecom_text_xml("lisi", "你好", 77003), timestamp=int(time.time()) - 3600)
    assert client.post(old.path, data=old.body, content_type="text/xml").status_code == 403
    assert rasa.total_turns() == 0
