"""Builds callbacks the way the WeChat / WeCom servers do, with wechatpy's own crypto,
and decrypts our replies. Used by the tests and by bench/bench_channels.py."""
from __future__ import annotations

import hashlib
import random
import string
import time
from urllib.parse import urlencode

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

TOKEN = "mingbaitesttoken"
APPID = "wx1234567890abcdef"
SECRET = "test-app-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AES_KEY_OLD = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
OA_ID = "gh_1234567890ab"

CORPID = "ww0123456789abcdef"
CORPSECRET = "test-corp-secret"
AGENTID = "1000002"
WECOM_TOKEN = "wecomtesttoken"
WECOM_AES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


def sig(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def nonce() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=10))


def text_xml(openid: str, content: str, msg_id: int, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def voice_xml(openid: str, recognition: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[media_id]]></MediaId><Format><![CDATA[amr]]></Format>"
            f"<Recognition><![CDATA[{recognition}]]></Recognition><MsgId>{msg_id}</MsgId></xml>")


def location_xml(openid: str, lat: float, lon: float, label: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[location]]></MsgType>"
            f"<Location_X>{lat}</Location_X><Location_Y>{lon}</Location_Y><Scale>15</Scale>"
            f"<Label><![CDATA[{label}]]></Label><MsgId>{msg_id}</MsgId></xml>")


def image_xml(openid: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
            f"<PicUrl><![CDATA[http://example.invalid/a.jpg]]></PicUrl><MediaId><![CDATA[m]]></MediaId>"
            f"<MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid: str, event: str, create_time: int, key: str = "") -> str:
    extra = f"<EventKey><![CDATA[{key}]]></EventKey>" if key else ""
    return (f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{extra}</xml>")


class Callback:
    """One prepared POST: path with query string and body bytes."""

    def __init__(self, path: str, body: bytes, nonce: str, timestamp: str, mode: str):
        self.path, self.body, self.nonce, self.timestamp, self.mode = path, body, nonce, timestamp, mode


def build(xml: str, mode: str = "aes", *, token: str = TOKEN, aes_key: str = AES_KEY, appid: str = APPID,
          timestamp: int | None = None, base: str = "/wechat", openid: str = "") -> Callback:
    """As the WeChat server sends it: mode raw (plaintext), compat (both) or aes (safe)."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    n = nonce()
    import re

    found = re.search(r"<FromUserName>(?:<!\[CDATA\[)?([^<\]]*)", xml)
    q = {"signature": sig(token, ts, n), "timestamp": ts, "nonce": n,
         "openid": openid or (found.group(1) if found else "")}
    if mode == "raw":
        return Callback(f"{base}?{urlencode(q)}", xml.encode("utf-8"), n, ts, mode)
    enc = WeChatCrypto(token, aes_key, appid).encrypt_message(xml, n, ts)
    encrypt = xmltodict.parse(enc)["xml"]["Encrypt"]
    q.update(encrypt_type="aes", msg_signature=sig(token, ts, n, encrypt))
    if mode == "compat":
        body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    else:
        body = f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return Callback(f"{base}?{urlencode(q)}", body.encode("utf-8"), n, ts, mode)


def read_reply(body: bytes | str, mode: str, *, token: str = TOKEN, aes_key: str = AES_KEY,
               appid: str = APPID) -> dict | None:
    """Our response as WeChat reads it: None for `success`/empty, else the reply fields."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if text in ("", "success"):
        return None
    if mode in ("aes", "compat"):
        outer = xmltodict.parse(text)["xml"]
        text = WeChatCrypto(token, aes_key, appid).decrypt_message(
            text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    return xmltodict.parse(text)["xml"]


def wecom_build(xml: str, *, timestamp: int | None = None) -> Callback:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    n = nonce()
    enc = WeComCrypto(WECOM_TOKEN, WECOM_AES, CORPID).encrypt_message(xml, n, ts)
    encrypt = xmltodict.parse(enc)["xml"]["Encrypt"]
    q = {"msg_signature": sig(WECOM_TOKEN, ts, n, encrypt), "timestamp": ts, "nonce": n}
    body = (f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><AgentID><![CDATA[{AGENTID}]]></AgentID>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    return Callback(f"/wecom?{urlencode(q)}", body.encode(), n, ts, "aes")


def wecom_text_xml(userid: str, content: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>{AGENTID}</AgentID></xml>")


def wecom_echostr_query(echo_plain: str) -> tuple[str, str]:
    """GET /wecom verification as WeCom sends it; returns (path, expected plaintext)."""
    from wechatpy.enterprise.crypto import PrpCrypto

    ts, n = str(int(time.time())), nonce()
    echostr = PrpCrypto(WeComCrypto(WECOM_TOKEN, WECOM_AES, CORPID).key).encrypt(echo_plain, CORPID).decode()
    q = {"msg_signature": sig(WECOM_TOKEN, ts, n, echostr), "timestamp": ts, "nonce": n, "echostr": echostr}
    return f"/wecom?{urlencode(q)}", echo_plain


def env(api_base: str, rasa_url: str) -> dict[str, str]:
    return {
        "MINGBAI_WECHAT_TOKEN": TOKEN, "MINGBAI_WECHAT_APPID": APPID, "MINGBAI_WECHAT_SECRET": SECRET,
        "MINGBAI_WECHAT_AES_KEY": AES_KEY, "MINGBAI_WECHAT_AES_KEY_PREVIOUS": AES_KEY_OLD,
        "MINGBAI_WECHAT_API_BASE": api_base,
        "MINGBAI_WECOM_CORPID": CORPID, "MINGBAI_WECOM_SECRET": CORPSECRET, "MINGBAI_WECOM_AGENTID": AGENTID,
        "MINGBAI_WECOM_TOKEN": WECOM_TOKEN, "MINGBAI_WECOM_AES_KEY": WECOM_AES,
        "MINGBAI_WECOM_API_BASE": api_base,
        "MINGBAI_RASA_URL": rasa_url,
    }
