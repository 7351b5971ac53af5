"""Hole 3: the WeChat / WeCom callbacks: plaintext refused once safe mode is configured, replayed
(timestamp, nonce, signature) refused, nested XML elements answered with 4xx instead of a 500."""
from __future__ import annotations

import itertools
import time

import pytest

from tests.connectors import wxsim
from tests.connectors.conftest import consent

_ids = itertools.count(int(time.time() * 1000) + 7_000_000)


def _post(client, cb):
    return client.post(cb.path, data=cb.body, content_type="text/xml")


def test_plaintext_refused_in_safe_mode(client, rasa, monkeypatch):
    openid = "o-sec-plain"
    consent(f"wechat:{openid}")
    cb = wxsim.build(wxsim.text_xml(openid, "伪造的明文消息", next(_ids)), "raw")
    r = _post(client, cb)
    assert 400 <= r.status_code < 500
    assert rasa.turns[(f"wechat:{openid}", "伪造的明文消息")] == 0
    # Without an EncodingAESKey (plaintext mode chosen in the MP console) plaintext still works.
    from mingbai.settings import reset_settings_cache

    monkeypatch.delenv("MINGBAI_WECHAT_AES_KEY")
    monkeypatch.delenv("MINGBAI_WECHAT_AES_KEY_PREVIOUS")
    reset_settings_cache()
    r = _post(client, wxsim.build(wxsim.text_xml(openid, "明文模式", next(_ids)), "raw"))
    assert r.status_code == 200 and wxsim.read_reply(r.data, "raw") is not None


@pytest.mark.parametrize("mode", ["aes", "compat"])
def test_replayed_callback_is_a_retry_not_a_second_turn(client, rasa, mode):
    """WeChat retries a callback unchanged (same timestamp, nonce, signature, body) when our answer
    was late: that must be answered from the dedup record, never run twice and never refused."""
    openid = f"o-sec-replay-{mode}"
    consent(f"wechat:{openid}")
    cb = wxsim.build(wxsim.text_xml(openid, "借钱不还怎么办", next(_ids)), mode)
    assert _post(client, cb).status_code == 200
    again = _post(client, cb)
    assert again.status_code == 200
    assert rasa.turns[(f"wechat:{openid}", "借钱不还怎么办")] == 1


def test_replay_with_other_body_refused_in_plaintext_mode(client, rasa, monkeypatch):
    """Plaintext signatures do not cover the body: one captured URL must not carry a second body."""
    from mingbai.settings import reset_settings_cache

    monkeypatch.delenv("MINGBAI_WECHAT_AES_KEY")
    monkeypatch.delenv("MINGBAI_WECHAT_AES_KEY_PREVIOUS")
    reset_settings_cache()
    openid = "o-sec-replay-raw"
    consent(f"wechat:{openid}")
    cb = wxsim.build(wxsim.text_xml(openid, "第一条", next(_ids)), "raw")
    assert _post(client, cb).status_code == 200
    cb.body = wxsim.text_xml(openid, "注入的第二条", next(_ids)).encode()
    assert 400 <= _post(client, cb).status_code < 500
    assert rasa.turns[(f"wechat:{openid}", "注入的第二条")] == 0


@pytest.mark.redis
def test_replay_cache_uses_redis_when_configured(monkeypatch):
    """Two processes share Redis: a tuple seen by one is a replay for the other."""
    import redis

    from connectors.wxcrypto import NonceCache
    from mingbai.settings import reset_settings_cache

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setenv("MINGBAI_REDIS_URL", url)
    reset_settings_cache()
    try:
        n = f"n{time.time_ns()}"
        assert NonceCache().first_use("wechat", "1", n, "sig", body=b"<xml>a</xml>")
        # another instance, same store: the same signed tuple with another body is a replay …
        assert not NonceCache().first_use("wechat", "1", n, "sig", body=b"<xml>b</xml>")
        # … while WeChat's own retry (same body) goes through to the MsgId dedup.
        assert NonceCache().first_use("wechat", "1", n, "sig", body=b"<xml>a</xml>")
    finally:
        monkeypatch.delenv("MINGBAI_REDIS_URL")
        reset_settings_cache()


NESTED = [
    ("FromUserName", "<FromUserName><a>o-x</a></FromUserName>"),
    ("MsgType", "<MsgType><b>text</b></MsgType>"),
    ("Content", "<Content><i>hi</i></Content>"),
    ("MsgId", "<MsgId><x>1</x></MsgId>"),
    ("Event", "<Event><e>subscribe</e></Event>"),
]


def _nested_xml(field: str, element: str) -> str:
    base = {"ToUserName": f"<ToUserName>{wxsim.OA_ID}</ToUserName>",
            "FromUserName": "<FromUserName>o-sec-nested</FromUserName>",
            "CreateTime": f"<CreateTime>{int(time.time())}</CreateTime>",
            "MsgType": "<MsgType>event</MsgType>" if field == "Event" else "<MsgType>text</MsgType>",
            "Content": "<Content>hi</Content>", "MsgId": f"<MsgId>{next(_ids)}</MsgId>",
            "Event": "<Event>subscribe</Event>"}
    base[field] = element
    return "<xml>" + "".join(base.values()) + "</xml>"


@pytest.mark.parametrize("field, element", NESTED)
def test_nested_elements_are_4xx_not_500(client, rasa, field, element):
    # location_select events carry a nested SendLocationInfo: that stays accepted.
    xml = (f"<xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName>o-sec-locsel</FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType>event</MsgType><Event>location_select</Event>"
           "<EventKey>LOC</EventKey><SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y>"
           "<Scale>15</Scale><Label>村委会</Label></SendLocationInfo></xml>")
    assert _post(client, wxsim.build(xml, "aes")).status_code == 200
    cb = wxsim.build(_nested_xml(field, element), "aes")
    r = _post(client, cb)
    assert 400 <= r.status_code < 500


def test_nested_elements_in_wecom_are_4xx(client, rasa):
    xml = (f"<xml><ToUserName>{wxsim.CORPID}</ToUserName><FromUserName><u>zhangsan</u></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
           f"<MsgId>{next(_ids)}</MsgId><AgentID>{wxsim.AGENTID}</AgentID></xml>")
    r = _post(client, wxsim.wecom_build(xml))
    assert 400 <= r.status_code < 500


def test_wecom_retry_is_not_a_second_turn(client, rasa):
    cb = wxsim.wecom_build(wxsim.wecom_text_xml("zhangsan", "借钱不还怎么办", next(_ids)))
    assert _post(client, cb).status_code == 200
    assert _post(client, cb).status_code == 200
    assert rasa.turns[("wecom:zhangsan", "借钱不还怎么办")] <= 1