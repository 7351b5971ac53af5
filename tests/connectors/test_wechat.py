"""WeChat Official Account callback: real protocol (wechatpy's own crypto builds what WeChat sends)."""
from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.store import InboundDedup, Outbox
from tests.connectors import wxsim
from tests.connectors.conftest import consent, count

_ids = itertools.count(int(time.time() * 1000))


def mid() -> int:
    return next(_ids)


def post(client, cb):
    return client.post(cb.path, data=cb.body, content_type="text/xml")


def test_url_verification(client):
    ts, n = str(int(time.time())), "abc123"
    ok = client.get(f"/wechat?signature={wxsim.sig(wxsim.TOKEN, ts, n)}&timestamp={ts}&nonce={n}&echostr=hello123")
    assert ok.status_code == 200 and ok.data == b"hello123"
    bad = client.get(f"/wechat?signature={'0' * 40}&timestamp={ts}&nonce={n}&echostr=x")
    assert bad.status_code == 403
    old = str(int(time.time()) - 3600)
    stale = client.get(f"/wechat?signature={wxsim.sig(wxsim.TOKEN, old, n)}&timestamp={old}&nonce={n}&echostr=x")
    assert stale.status_code == 403


@pytest.mark.parametrize("mode", ["raw", "compat", "aes"])
def test_text_message_each_mode(client, rasa, mode, monkeypatch):
    from mingbai.settings import reset_settings_cache
    from tickets.models import Message

    if mode == "raw":  # plaintext mode only exists while no AES key is configured
        monkeypatch.delenv("MINGBAI_WECHAT_AES_KEY", raising=False)
        monkeypatch.delenv("MINGBAI_WECHAT_AES_KEY_PREVIOUS", raising=False)
        reset_settings_cache()
    openid = f"o-text-{mode}"
    consent(f"wechat:{openid}")
    cb = wxsim.build(wxsim.text_xml(openid, "邻居占了我家的地怎么办", mid()), mode)
    r = post(client, cb)
    assert r.status_code == 200
    reply = wxsim.read_reply(r.data, mode)
    assert reply is not None and reply["MsgType"] == "text"
    assert reply["ToUserName"] == openid and reply["FromUserName"] == wxsim.OA_ID
    assert reply["Content"] == "关于“邻居占了我家的地怎么办”：这是测试回答。"
    assert rasa.turns[(f"wechat:{openid}", "邻居占了我家的地怎么办")] == 1
    # Both directions are in the transcript.
    assert count(Message, resident_key=f"wechat:{openid}", direction="in") == 1
    assert count(Message, resident_key=f"wechat:{openid}", direction="out") == 1


def test_first_contact_notice_then_consent_answers_the_first_question(client, rasa):
    from tickets import service

    openid = "o-first"
    r = post(client, wxsim.build(wxsim.text_xml(openid, "老板拖欠工资怎么办", mid())))
    notice = wxsim.read_reply(r.data, "aes")["Content"]
    assert "同意" in notice and "删除我的信息" in notice
    assert rasa.total_turns() == 0 and not service.has_consent(f"wechat:{openid}")
    r = post(client, wxsim.build(wxsim.text_xml(openid, "同意", mid())))
    answer = wxsim.read_reply(r.data, "aes")["Content"]
    assert service.has_consent(f"wechat:{openid}")
    assert "老板拖欠工资怎么办" in answer  # the question asked before consenting is answered now
    assert rasa.turns[(f"wechat:{openid}", "老板拖欠工资怎么办")] == 1


def test_decline_consent_forgets(client, rasa):
    from tickets import service
    from tickets.models import Message

    openid = "o-decline"
    post(client, wxsim.build(wxsim.text_xml(openid, "我想问问离婚的事", mid())))
    r = post(client, wxsim.build(wxsim.text_xml(openid, "不同意", mid())))
    assert "删除" in wxsim.read_reply(r.data, "aes")["Content"]
    assert not service.has_consent(f"wechat:{openid}")
    assert count(Message, resident_key=f"wechat:{openid}") == 0
    assert rasa.total_turns() == 0


def test_voice_uses_recognition(client, rasa):
    openid = "o-voice"
    consent(f"wechat:{openid}")
    r = post(client, wxsim.build(wxsim.voice_xml(openid, "借钱不还怎么办", mid())))
    assert "借钱不还怎么办" in wxsim.read_reply(r.data, "aes")["Content"]
    assert rasa.turns[(f"wechat:{openid}", "借钱不还怎么办")] == 1
    r = post(client, wxsim.build(wxsim.voice_xml(openid, "", mid())))
    assert "没听清" in wxsim.read_reply(r.data, "aes")["Content"]


def test_location_feeds_the_resident_record(client, rasa):
    from mingbai.db import session_scope
    from tickets.models import Resident

    openid = "o-loc"
    consent(f"wechat:{openid}")
    r = post(client, wxsim.build(wxsim.location_xml(openid, 30.27, 120.15, "杭州市西湖区文三路", mid())))
    assert "文三路" in wxsim.read_reply(r.data, "aes")["Content"]
    with session_scope() as s:
        res = s.get(Resident, f"wechat:{openid}")
        assert res.location_label == "杭州市西湖区文三路"
        assert abs(res.lat - 30.27) < 1e-6 and abs(res.lon - 120.15) < 1e-6
    assert rasa.total_turns() == 0


def test_image_gets_polite_reply(client, rasa):
    openid = "o-img"
    consent(f"wechat:{openid}")
    r = post(client, wxsim.build(wxsim.image_xml(openid, mid())))
    assert "图片" in wxsim.read_reply(r.data, "aes")["Content"]
    assert rasa.total_turns() == 0


def test_subscribe_unsubscribe_and_menu_click(client, rasa):
    openid = "o-sub"
    t = int(time.time())
    r = post(client, wxsim.build(wxsim.event_xml(openid, "subscribe", t)))
    text = wxsim.read_reply(r.data, "aes")["Content"]
    assert "欢迎" in text and "同意" in text
    # The same event retried (FromUserName + CreateTime) is answered once.
    r2 = post(client, wxsim.build(wxsim.event_xml(openid, "subscribe", t)))
    assert r2.data == b"success"
    consent(f"wechat:{openid}")
    r = post(client, wxsim.build(wxsim.event_xml(openid, "CLICK", t + 1, key="HUMAN")))
    assert wxsim.read_reply(r.data, "aes") is not None
    assert rasa.turns[(f"wechat:{openid}", "我要找工作人员")] == 1
    r = post(client, wxsim.build(wxsim.event_xml(openid, "unsubscribe", t + 2)))
    assert r.status_code == 200 and r.data == b"success"


def test_previous_aes_key_accepted_during_rotation(client):
    openid = "o-rot"
    consent(f"wechat:{openid}")
    cb = wxsim.build(wxsim.text_xml(openid, "你好", mid()), "aes", aes_key=wxsim.AES_KEY_OLD)
    r = post(client, cb)
    assert r.status_code == 200
    # Answered with the key the message came with, so the sender can read it.
    assert wxsim.read_reply(r.data, "aes", aes_key=wxsim.AES_KEY_OLD)["Content"]


def test_same_msgid_three_times_sequential(client, rasa, fake_api):
    openid = "o-retry"
    consent(f"wechat:{openid}")
    xml = wxsim.text_xml(openid, "房东不退押金", mid())
    bodies = [post(client, wxsim.build(xml)).data for _ in range(3)]
    replies = [b for b in bodies if b != b"success"]
    assert len(replies) == 1
    assert rasa.turns[(f"wechat:{openid}", "房东不退押金")] == 1
    time.sleep(0.5)
    assert fake_api.contents(openid) == []  # nothing sent twice through the API


def test_same_msgid_three_times_concurrently(live, rasa, fake_api):
    from tickets import service
    from tickets.models import Ticket

    openid = "o-conc"
    consent(f"wechat:{openid}")
    rasa.delay_s = 1.0

    def reply(sender, message):  # what the bot's intake action does on this message
        t = service.open_ticket(sender, domain="劳动纠纷", summary=message)
        return [f"关于“{message}”：已登记，编号 {t['number']}。"]

    rasa.reply = reply
    xml = wxsim.text_xml(openid, "工伤怎么认定", mid())
    cbs = [wxsim.build(xml) for _ in range(3)]
    with ThreadPoolExecutor(3) as ex:
        responses = list(ex.map(live.post, cbs))
    assert all(r.status_code == 200 for r in responses)
    passive = [r for r in responses if r.content != b"success"]
    assert len(passive) == 1
    assert "工伤怎么认定" in wxsim.read_reply(passive[0].content, "aes")["Content"]
    assert rasa.turns[(f"wechat:{openid}", "工伤怎么认定")] == 1
    time.sleep(1.0)
    assert fake_api.contents(openid) == []
    assert count(Ticket, resident_key=f"wechat:{openid}") == 1


@pytest.mark.redis
def test_dedup_in_redis_when_configured(client, rasa, monkeypatch):
    import redis

    from mingbai.settings import reset_settings_cache

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setenv("REDIS_URL", url)
    reset_settings_cache()
    openid = "o-redis"
    consent(f"wechat:{openid}")
    m = mid()
    xml = wxsim.text_xml(openid, "征地补偿标准", m)
    bodies = [post(client, wxsim.build(xml)).data for _ in range(3)]
    assert len([b for b in bodies if b != b"success"]) == 1
    assert rasa.turns[(f"wechat:{openid}", "征地补偿标准")] == 1
    assert redis.Redis.from_url(url).exists(f"mingbai:dedup:wechat:{m}")


def test_slow_bot_success_then_exactly_one_async_delivery(live, rasa, fake_api):
    openid = "o-slow"
    consent(f"wechat:{openid}")
    rasa.delay_s = 6.0
    xml = wxsim.text_xml(openid, "宅基地纠纷怎么处理", mid())
    t0 = time.monotonic()
    first = live.post(wxsim.build(xml))
    took = time.monotonic() - t0
    assert first.status_code == 200 and first.content == b"success"
    assert took < 5.0  # inside WeChat's 5 s
    # WeChat's two retries, while the bot is still thinking and after it finished.
    assert live.post(wxsim.build(xml)).content == b"success"
    got = fake_api.wait_for(1, timeout=15, touser=openid)
    assert live.post(wxsim.build(xml)).content == b"success"
    time.sleep(1.0)
    got = fake_api.contents(openid)
    assert len(got) == 1 and "宅基地纠纷怎么处理" in got[0]
    assert rasa.turns[(f"wechat:{openid}", "宅基地纠纷怎么处理")] == 1
    assert count(Outbox, resident_key=f"wechat:{openid}", status="sent") == 1


def test_long_answer_split_without_breaking_citations(live, rasa, fake_api):
    openid = "o-long"
    consent(f"wechat:{openid}")
    para = "根据《中华人民共和国民法典》第一千一百六十五条的规定，行为人因过错侵害他人民事权益造成损害的，应当承担侵权责任。"
    long = "\n\n".join([para] * 40)  # ~9 KB
    rasa.reply = lambda s, m: [long]
    r = live.post(wxsim.build(wxsim.text_xml(openid, "长回答", mid())))
    first = wxsim.read_reply(r.content, "aes")["Content"]
    parts = [first] + fake_api.wait_for(3, timeout=15, touser=openid)
    assert len(parts) >= 4
    for p in parts:
        assert len(p.encode("utf-8")) <= 2048
        assert p.count("《") == p.count("》")  # no citation cut in half
    assert "".join(parts).replace("\n", "") == long.replace("\n", "")


def test_emergency_reaches_resident_even_during_handoff(client, rasa):
    from tickets import service
    from tickets.models import Message

    openid = "o-emerg"
    rk = f"wechat:{openid}"
    consent(rk)
    service.start_handoff(rk, "测试转人工")
    # An ordinary message in handoff: stored for staff, bot silent, `success`.
    r = post(client, wxsim.build(wxsim.text_xml(openid, "我再补充一下情况", mid())))
    assert r.data == b"success"
    assert count(Message, resident_key=rk, direction="in") == 1
    r = post(client, wxsim.build(wxsim.text_xml(openid, "我老公拿着刀说要杀了我，现在就在门口", mid())))
    text = wxsim.read_reply(r.data, "aes")["Content"]
    assert "110" in text
    assert rasa.total_turns() == 0
    urgent = [t for t in service.tickets_for_resident(rk) if t.get("urgency") == "emergency"]
    assert len(urgent) == 1  # staff are told, as the reply promises


def test_emergency_before_consent(client, rasa):
    from tickets import service

    r = post(client, wxsim.build(wxsim.text_xml("o-emerg2", "我不想活了，药都准备好了", mid())))
    text = wxsim.read_reply(r.data, "aes")["Content"]
    assert "12356" in text
    assert rasa.total_turns() == 0
    # A second alarming message within the hour: still answered, still one ticket, staff already on it.
    r = post(client, wxsim.build(wxsim.text_xml("o-emerg2", "我真的不想活了", mid())))
    assert "12356" in wxsim.read_reply(r.data, "aes")["Content"]
    assert service.in_handoff("wechat:o-emerg2")
    assert len(service.tickets_for_resident("wechat:o-emerg2")) == 1


# ---------------------------------------------------------------------------------------------
# Hostile input: rejected with the right status, server alive, nothing stored.

def _hostile_cases():
    openid = "o-evil"
    good = wxsim.text_xml(openid, "你好", 424242)
    xxe = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           f"<xml><ToUserName>x</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>")
    lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
           + f']><xml><FromUserName>{openid}</FromUserName><MsgType>text</MsgType><Content>&lol9;</Content></xml>')
    cases = {}

    cb = wxsim.build(good, "raw")
    cb.path = cb.path.replace("signature=", "signature=0")
    cases["bad_signature"] = (cb, 403)

    cb = wxsim.build(good, "aes")
    cb.path = cb.path.replace("msg_signature=", "msg_signature=f")
    cases["bad_msg_signature"] = (cb, 403)

    cases["stale_timestamp"] = (wxsim.build(good, "aes", timestamp=int(time.time()) - 3600), 403)
    cases["future_timestamp"] = (wxsim.build(good, "aes", timestamp=int(time.time()) + 3600), 403)

    cb = wxsim.build(good, "raw")
    cb.body = xxe.encode()
    cases["xxe"] = (cb, 400)
    cb = wxsim.build(good, "raw")
    cb.body = lol.encode()
    cases["billion_laughs"] = (cb, 400)
    # The same attacks hidden inside a correctly signed and encrypted envelope.
    cases["xxe_inside_aes"] = (wxsim.build(xxe, "aes"), 400)

    cb = wxsim.build(good, "raw")
    cb.body = good.encode().replace(b"</xml>", b"<Pad>" + b"A" * (1024 * 1024) + b"</Pad></xml>")
    cases["one_mb_body"] = (cb, 413)

    cb = wxsim.build(good, "raw")
    cb.body = b"this is not xml at all {\"a\": 1}"
    cases["non_xml"] = (cb, 400)

    cases["wrong_appid"] = (wxsim.build(good, "aes", appid="wx0000000000000000"), 403)
    cases["unknown_aes_key"] = (wxsim.build(good, "aes", aes_key="Q" * 43), 400)
    return cases


def _bad_padding_case():
    """Valid signature over a ciphertext whose plaintext padding is invalid."""
    import base64
    from urllib.parse import urlencode

    from wechatpy.crypto.base import WeChatCipher

    key = base64.b64decode(wxsim.AES_KEY + "=")
    plain = b"0123456789abcdef" + b"\x00\x00\x00\x05<xml>" + wxsim.APPID.encode()
    plain += b"\x00" * (32 - len(plain) % 32)  # zero padding: not PKCS#7
    encrypt = base64.b64encode(WeChatCipher(key).encrypt(plain)).decode()
    ts, n = str(int(time.time())), wxsim.nonce()
    q = {"signature": wxsim.sig(wxsim.TOKEN, ts, n), "timestamp": ts, "nonce": n, "encrypt_type": "aes",
         "msg_signature": wxsim.sig(wxsim.TOKEN, ts, n, encrypt)}
    body = f"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    return wxsim.Callback(f"/wechat?{urlencode(q)}", body, n, ts, "aes")


HOSTILE = sorted(_hostile_cases()) + ["bad_padding"]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_rejected(live, rasa, case):
    from tickets.models import Message

    if case == "bad_padding":
        cb, status = _bad_padding_case(), 400
    else:
        cb, status = _hostile_cases()[case]
    r = live.post(cb)
    assert r.status_code == status, (case, r.status_code, r.text[:200])
    assert r.content != b"success"
    # Server alive and nothing stored.
    assert live.http.get(live.url + "/healthz", timeout=5).status_code == 200
    assert count(InboundDedup) == 0
    assert count(Message) == 0
    assert rasa.total_turns() == 0
