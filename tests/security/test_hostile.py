"""Item 4 (issue 12): a hostile-input corpus against one running app.

One real server for the whole module — the app under waitress on 127.0.0.1 (as `mingbai serve-web`
runs it), WeChat/WeCom configured in safe mode, the Rasa-protocol stub and the fake WeChat API on
loopback — receives every input below in turn. For each one:

- the answer is a 4xx (never a 5xx, never a 200 that went on to process the input); the console's
  answer to a request without a valid session is its redirect to the login page, also checked to
  have done nothing;
- nothing is stored: the rows of the inbound-dedup, transcript, ticket, outbox, queued-turn,
  resident, staff and note tables are counted before and after;
- the server is alive: a normal safe-mode WeChat message right after gets its passive reply.

SQL and markup in free-text fields (a resident's message, a staff member's display name or note)
are not refused — a resident may well type 「工资<2000」 or an apostrophe — so
`test_markup_and_sql_in_free_text_are_inert` checks the other half of the promise: stored byte for
byte as data (bound parameters, every table intact) and shown escaped in the console. Identifier
fields (openid, MsgId, REST sender / msg_id, web-chat client_id, console username) refuse them.

Rate limits are off for this module (MINGBAI_RATE_LIMITS=false): a 429 from the limiter would hide
what the handler itself does with the input; the limits have their own tests (test_api_limits.py).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.connectors import wxsim

_ids = itertools.count(int(time.time() * 1000) + 9_000_000)

SQL = "'; DROP TABLE messages; --"
SQL2 = "1' OR '1'='1"
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>'


# ---------------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, url: str, app):
        self.url, self.app = url, app
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never through a proxy
        self.admin: Optional[requests.Session] = None
        self.ticket_number = ""
        self._alive_n = 0

    def post_cb(self, cb, body: Optional[bytes] = None, path: Optional[str] = None, **kw):
        return self.http.post(self.url + (path or cb.path), data=cb.body if body is None else body,
                              headers={"Content-Type": "text/xml"}, timeout=30, **kw)

    def counts(self) -> dict:
        from sqlalchemy import func, select

        from connectors.store import DeferredTurn, InboundDedup, Outbox, ServiceWindow
        from mingbai.db import session_scope
        from tickets.models import Conversation, Handoff, Message, Resident, StaffUser, Ticket, TicketNote

        models = (InboundDedup, Outbox, DeferredTurn, ServiceWindow, Message, Ticket, Resident, Conversation,
                  Handoff, StaffUser, TicketNote)
        with session_scope() as s:
            return {m.__tablename__: int(s.scalar(select(func.count()).select_from(m))) for m in models}

    def settle(self) -> None:
        """Background work a request might have started (WeCom turns run in a pool)."""
        from connectors import gateway

        gateway.pool().submit(lambda: None).result(timeout=10)
        time.sleep(0.05)

    def assert_alive(self) -> None:
        """A normal safe-mode WeChat message gets its passive reply, and /healthz answers."""
        self._alive_n += 1
        openid = "oAliveCheckResident000000001"
        text = f"邻居占了我家的地怎么办{self._alive_n}"
        cb = wxsim.build(wxsim.text_xml(openid, text, next(_ids)), "aes")
        r = self.post_cb(cb)
        assert r.status_code == 200, r.text[:200]
        reply = wxsim.read_reply(r.content, "aes")
        assert reply is not None and text in reply["Content"], reply
        assert self.http.get(self.url + "/healthz", timeout=10).status_code == 200


def _waitress(app):
    from waitress.server import create_server

    srv = create_server(app, host="127.0.0.1", port=0, threads=8, ident="mingbai", channel_timeout=30)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    return srv, f"http://127.0.0.1:{srv.effective_port}"


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake_api, rasa):
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache
    from tests.connectors.conftest import consent, load_sample_grid, make_app
    from tests.connectors.rasa_stub import default_reply
    from tests.tickets.fixtures import make_staff

    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("hostile-home")
    mp.setenv("MINGBAI_HOME", str(home))
    for k, v in wxsim.env(fake_api.url, rasa.url).items():
        mp.setenv(k, v)
    mp.setenv("MINGBAI_RATE_LIMITS", "false")
    for k in ("REDIS_URL", "MINGBAI_REDIS_URL", "DATABASE_URL", "MINGBAI_DATABASE_URL"):
        mp.delenv(k, raising=False)
    reset_settings_cache()
    reset_engines()
    rasa.delay_s, rasa.reply = 0.0, default_reply
    app = make_app()
    load_sample_grid()
    make_staff("admin", "管理员", None)
    make_staff("wang", "网格员", "QF01")
    consent("wechat:oAliveCheckResident000000001")
    from tickets import service

    t = service.open_ticket("wechat:oHostileTicketResident0000001", domain="邻里纠纷", summary="邻居占地",
                            consent=True, idempotency_key=f"hostile-{time.time_ns()}")
    server, url = _waitress(app)
    s = Server(url, app)
    s.ticket_number = t["number"]
    s.admin = _login(url, "admin")
    try:
        s.assert_alive()
        yield s
    finally:
        server.close()
        mp.undo()
        reset_settings_cache()
        reset_engines()


def _login(url: str, user: str) -> requests.Session:
    from tests.security.conftest import PW

    h = requests.Session()
    h.trust_env = False
    r = h.post(url + "/console/login", data={"username": user, "password": PW}, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.status_code
    return h


def _csrf(h: requests.Session, url: str) -> str:
    page = h.get(url, timeout=30).text
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no csrf field"
    return m.group(1)


# ---------------------------------------------------------------------------------------------
# Building blocks for the corpus


def _msg(openid: str = "oHostileResident0000000000001", content: str = "你好", msg_id: Optional[int] = None,
         ) -> str:
    return wxsim.text_xml(openid, content, next(_ids) if msg_id is None else msg_id)


def _query(cb) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(cb.path).query).items()}


def _path(base: str, q: dict) -> str:
    return f"{base}?{urlencode(q)}"


def _encrypted_raw(plain: bytes, aes_key: str = wxsim.AES_KEY, pad: Optional[bytes] = None) -> str:
    """AES-CBC of `plain` as WeChat does it (key = base64(EncodingAESKey+'='), iv = key[:16]),
    with PKCS#7 padding to 32 unless `pad` is given."""
    from wechatpy.crypto.base import WeChatCipher  # the cipher the project decrypts with

    key = base64.b64decode(aes_key + "=")
    if pad is None:
        n = 32 - len(plain) % 32
        pad = bytes([n]) * n
    return base64.b64encode(WeChatCipher(key).encrypt(plain + pad)).decode()


def _inner(xml: str, appid: str = wxsim.APPID, length: Optional[int] = None) -> bytes:
    body = xml.encode()
    return os.urandom(16) + struct.pack(">I", len(body) if length is None else length) + body + appid.encode()


def _bad_pad(plain: bytes, last: int) -> str:
    """Encrypted with a PKCS#7 padding that does not check out (its last byte is `last`)."""
    n = (32 - len(plain) % 32) or 32
    return _encrypted_raw(plain, pad=b"\x09" * (n - 1) + bytes([last]))


def _signed_encrypt(encrypt: str, base: str = "/wechat", timestamp: Optional[int] = None) -> tuple[str, bytes]:
    """A callback whose signatures are right for this Encrypt value (as if WeChat sent it)."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    n = wxsim.nonce()
    q = {"signature": wxsim.sig(wxsim.TOKEN, ts, n), "timestamp": ts, "nonce": n, "openid": "oHostile",
         "encrypt_type": "aes", "msg_signature": wxsim.sig(wxsim.TOKEN, ts, n, encrypt)}
    body = f"<xml><ToUserName><![CDATA[{wxsim.OA_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return _path(base, q), body.encode()


XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       f'<xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName>oHostileXXE</FromUserName>'
       '<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>')
XXE_PARAM = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
             '<xml><Encrypt>x</Encrypt></xml>')
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + f']><xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName>oHostileBomb</FromUserName>'
          '<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content><MsgId>2</MsgId></xml>')


def _deep_xml(depth: int) -> str:
    return (f"<xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName>oHostileDeep0000000000000001</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
            f"<MsgId>{next(_ids)}</MsgId><Extra>" + "<a>" * depth + "x" + "</a>" * depth + "</Extra></xml>")


# ---------------------------------------------------------------------------------------------
# The corpus: (id, send) — send(srv) returns the response; prepare(srv) runs before the count.


@dataclass
class Case:
    id: str
    send: Callable[[Server], requests.Response]
    prepare: Optional[Callable[[Server], object]] = None
    # "4xx": any 4xx; "login": the console's redirect to its login page (no valid session)
    expect: str = "4xx"
    statuses: tuple = field(default_factory=tuple)  # when set: exactly one of these


def _wechat(xml_or_cb, mutate: Optional[Callable[[dict], None]] = None, body: Optional[bytes] = None,
            mode: str = "aes"):
    """Post a callback built by wxsim (an XML text, or a function making the Callback), its query
    changed by `mutate`, optionally with another body."""
    def send(s: Server):
        cb = xml_or_cb() if callable(xml_or_cb) else wxsim.build(xml_or_cb, mode)
        q = _query(cb)
        if mutate:
            mutate(q)
        return s.post_cb(cb, body=body, path=_path("/wechat", q))
    return send


def _raw(path_fn: Callable[[], tuple[str, bytes]]):
    def send(s: Server):
        path, body = path_fn()
        return s.http.post(s.url + path, data=body, headers={"Content-Type": "text/xml"}, timeout=30)
    return send


def _plain_signed(xml: str) -> tuple[str, bytes]:
    """Signed (signature over token+timestamp+nonce) but sent as plaintext: no encrypt_type."""
    ts, n = str(int(time.time())), wxsim.nonce()
    return _path("/wechat", {"signature": wxsim.sig(wxsim.TOKEN, ts, n), "timestamp": ts, "nonce": n}), xml.encode()


def _setq(**kv):
    def m(q: dict):
        for k, v in kv.items():
            if v is None:
                q.pop(k, None)
            else:
                q[k] = v
    return m


_captured: dict = {}


def _capture(s: Server):
    """A legitimate message, posted and answered: its URL and body are what an eavesdropper has."""
    cb = wxsim.build(_msg("oHostileReplay00000000000001", "借钱不还怎么办"), "aes")
    from tests.connectors.conftest import consent

    consent("wechat:oHostileReplay00000000000001")
    assert s.post_cb(cb).status_code == 200
    _captured["cb"] = cb


def _replay_other_body(s: Server):
    other = wxsim.build(_msg("oHostileReplay00000000000001", "删除我的信息"), "aes")
    return s.post_cb(_captured["cb"], body=other.body)


def _replay_new_timestamp(s: Server):
    """The captured Encrypt with a fresh timestamp/nonce but the captured msg_signature."""
    cb = _captured["cb"]
    q = _query(cb)
    ts, n = str(int(time.time()) + 1), wxsim.nonce()
    q.update(timestamp=ts, nonce=n, signature=wxsim.sig(wxsim.TOKEN, ts, n))
    return s.post_cb(cb, path=_path("/wechat", q))


def _big_body(n: int) -> bytes:
    return b"<xml><Encrypt>" + b"A" * n + b"</Encrypt></xml>"


def _chunked(s: Server, path: str, total: int, content_type: str):
    def gen():
        chunk = b"A" * 65536
        for _ in range(total // len(chunk)):
            yield chunk
    return s.http.post(s.url + path, data=gen(), headers={"Content-Type": content_type}, timeout=60)


def _wechat_path() -> str:
    cb = wxsim.build(_msg(), "aes")
    return cb.path


WECHAT: list[Case] = [
    # Signatures
    Case("wechat-bad-signature", _wechat(_msg(), _setq(signature="0" * 40))),
    Case("wechat-missing-signature", _wechat(_msg(), _setq(signature=None))),
    Case("wechat-bad-msg-signature", _wechat(_msg(), _setq(msg_signature="f" * 40))),
    Case("wechat-missing-msg-signature", _wechat(_msg(), _setq(msg_signature=None))),
    Case("wechat-signature-wrong-token", lambda s: s.post_cb(
        wxsim.build(_msg(), "aes", token="not-the-token"))),
    Case("wechat-signature-uppercase-garbage", _wechat(_msg(), _setq(signature="Z" * 40 + "<>'\""))),
    # Replays and time
    Case("wechat-replay-url-with-other-body", _replay_other_body, prepare=_capture),
    Case("wechat-replay-body-new-timestamp", _replay_new_timestamp, prepare=_capture),
    Case("wechat-stale-timestamp", lambda s: s.post_cb(
        wxsim.build(_msg(), "aes", timestamp=int(time.time()) - 3600))),
    Case("wechat-future-timestamp", lambda s: s.post_cb(
        wxsim.build(_msg(), "aes", timestamp=int(time.time()) + 3600))),
    Case("wechat-timestamp-not-a-number", _wechat(_msg(), _setq(timestamp="1e9"))),
    # Plaintext while safe mode (an EncodingAESKey) is configured
    Case("wechat-plaintext-under-aes", _raw(lambda: _plain_signed(_msg(content="删除我的信息")))),
    Case("wechat-compat-body-without-encrypt-type",
         _wechat(_msg(), _setq(encrypt_type=None, msg_signature=None), mode="compat")),
    Case("wechat-encrypt-type-other", _wechat(_msg(), _setq(encrypt_type="des"))),
    # Entities
    Case("wechat-xxe-outer", _raw(lambda: (_wechat_path(), XXE.encode()))),
    Case("wechat-xxe-parameter-entity", _raw(lambda: (_wechat_path(), XXE_PARAM.encode()))),
    Case("wechat-billion-laughs-outer", _raw(lambda: (_wechat_path(), LAUGHS.encode()))),
    Case("wechat-xxe-inside-encrypt", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(XXE))))),
    Case("wechat-billion-laughs-inside-encrypt", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(LAUGHS))))),
    Case("wechat-billion-laughs-utf16", _raw(lambda: (_wechat_path(), LAUGHS.encode("utf-16")))),
    Case("wechat-doctype-utf16", _raw(lambda: (_wechat_path(), XXE.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")))),
    # Size
    Case("wechat-10mb-body", _raw(lambda: (_wechat_path(), _big_body(10 * 1024 * 1024))), statuses=(413,)),
    Case("wechat-10mb-chunked", lambda s: _chunked(s, _wechat_path(), 10 * 1024 * 1024, "text/xml"),
         statuses=(413,)),
    Case("wechat-100kb-body", _raw(lambda: (_wechat_path(), _big_body(100 * 1024))), statuses=(413,)),
    Case("wechat-empty-body", _raw(lambda: (_wechat_path(), b""))),
    Case("wechat-not-xml", _raw(lambda: (_wechat_path(), b"\x00\xff\xfe garbage <<<"))),
    Case("wechat-json-body", _raw(lambda: (_wechat_path(), b'{"Encrypt": "x"}'))),
    # Nesting
    Case("wechat-deep-xml-outer", _raw(lambda: (_wechat_path(),
                                                ("<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>").encode()))),
    Case("wechat-deep-xml-inside-encrypt", _wechat(lambda: wxsim.build(_deep_xml(3000), "aes"))),
    Case("wechat-nested-content", _wechat(
        f"<xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName>oHostileNest00000000000000001</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content><b>hi</b></Content>"
        f"<MsgId>{next(_ids)}</MsgId></xml>")),
    Case("wechat-nested-encrypt", _raw(lambda: (_wechat_path(), b"<xml><Encrypt><a>b</a></Encrypt></xml>"))),
    Case("wechat-repeated-fromusername", _wechat(
        f"<xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName>oA</FromUserName><FromUserName>oB</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
        f"<MsgId>{next(_ids)}</MsgId></xml>")),
    Case("wechat-attribute-on-field", _wechat(
        f"<xml><ToUserName>{wxsim.OA_ID}</ToUserName><FromUserName a='1'>oHostileAttr000000000000001</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
        f"<MsgId>{next(_ids)}</MsgId></xml>")),
    # Malformed AES
    Case("wechat-aes-bad-base64", _raw(lambda: _signed_encrypt("not*base64!!"))),
    Case("wechat-aes-bad-base64-padding", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(_msg()))[:-2] + "="))),
    Case("wechat-aes-not-block-multiple", _raw(lambda: _signed_encrypt(base64.b64encode(os.urandom(40)).decode()))),
    Case("wechat-aes-empty-ciphertext", _raw(lambda: _signed_encrypt(""))),
    Case("wechat-aes-wrong-pkcs7-padding", _raw(lambda: _signed_encrypt(_bad_pad(_inner(_msg()), 5)))),
    Case("wechat-aes-padding-zero", _raw(lambda: _signed_encrypt(_bad_pad(_inner(_msg()), 0)))),
    Case("wechat-aes-padding-too-long", _raw(lambda: _signed_encrypt(_bad_pad(_inner(_msg()), 200)))),
    Case("wechat-aes-wrong-appid", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(_msg(), appid="wx0000000000000000")))),
         statuses=(403,)),
    Case("wechat-aes-empty-appid", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(_msg(), appid=""))))),
    Case("wechat-aes-length-field-too-big", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(_msg(), length=10**6))))),
    Case("wechat-aes-truncated-header", _raw(lambda: _signed_encrypt(_encrypted_raw(os.urandom(8))))),
    Case("wechat-aes-not-utf8", _raw(lambda: _signed_encrypt(_encrypted_raw(
        os.urandom(16) + struct.pack(">I", 6) + b"\xff\xfe\xfd\xfc\xfb\xfa" + wxsim.APPID.encode())))),
    Case("wechat-aes-wrong-key", lambda s: s.post_cb(wxsim.build(_msg(), "aes", aes_key="A" * 43))),
    Case("wechat-aes-inner-not-xml", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner("not xml at all <"))))),
    Case("wechat-aes-inner-no-fromusername", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(
        f"<xml><ToUserName>{wxsim.OA_ID}</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
        f"<Content>hi</Content><MsgId>{next(_ids)}</MsgId></xml>"))))),
    Case("wechat-aes-inner-no-msgtype", _raw(lambda: _signed_encrypt(_encrypted_raw(_inner(
        f"<xml><FromUserName>oHostileNoType0000000000001</FromUserName><Content>hi</Content></xml>"))))),
    # Identifier fields carrying SQL / markup (a real openid is 28 of [A-Za-z0-9_-]; MsgId digits)
    Case("wechat-fromusername-sql", _wechat(lambda: wxsim.build(_msg(openid=SQL), "aes"))),
    Case("wechat-fromusername-html", _wechat(lambda: wxsim.build(_msg(openid="o<script>x</script>"), "aes"))),
    Case("wechat-fromusername-too-long", _wechat(lambda: wxsim.build(_msg(openid="o" * 200), "aes"))),
    Case("wechat-msgid-sql", _wechat(lambda: wxsim.build(
        re.sub(r"<MsgId>\d+</MsgId>", "<MsgId>1 OR 1=1</MsgId>", _msg()), "aes"))),
    Case("wechat-msgid-html", _wechat(lambda: wxsim.build(
        re.sub(r"<MsgId>\d+</MsgId>", "<MsgId><![CDATA[<b>1</b>]]></MsgId>", _msg()), "aes"))),
    Case("wechat-location-nan", _wechat(lambda: wxsim.build(
        wxsim.location_xml("oHostileLoc00000000000000001", float("nan"), float("inf"), "村委会", next(_ids)), "aes"))),
]


def _wecom_cb(xml: Optional[str] = None):
    return wxsim.wecom_build(xml or wxsim.wecom_text_xml("hostile_user", "你好", next(_ids)))


def _wecom(mutate=None, body: Optional[bytes] = None, xml: Optional[str] = None):
    def send(s: Server):
        cb = _wecom_cb(xml)
        q = _query(cb)
        if mutate:
            mutate(q)
        return s.post_cb(cb, body=body, path=_path("/wecom", q))
    return send


WECOM: list[Case] = [
    Case("wecom-bad-msg-signature", _wecom(_setq(msg_signature="0" * 40))),
    Case("wecom-stale-timestamp", lambda s: s.post_cb(wxsim.wecom_build(
        wxsim.wecom_text_xml("hostile_user", "hi", next(_ids)), timestamp=int(time.time()) - 3600))),
    Case("wecom-plaintext", _wecom(body=wxsim.wecom_text_xml("hostile_user", "删除我的信息", next(_ids)).encode())),
    Case("wecom-xxe", _wecom(body=XXE.encode())),
    Case("wecom-billion-laughs", _wecom(body=LAUGHS.encode())),
    Case("wecom-10mb-body", _wecom(body=_big_body(10 * 1024 * 1024)), statuses=(413,)),
    Case("wecom-userid-sql", _wecom(xml=wxsim.wecom_text_xml("x' OR '1'='1", "hi", next(_ids)))),
    Case("wecom-userid-html", _wecom(xml=wxsim.wecom_text_xml("<b>u</b>", "hi", next(_ids)))),
    Case("wecom-nested-fromusername", _wecom(xml=wxsim.wecom_text_xml("zhangsan", "hi", next(_ids)).replace(
        "<![CDATA[zhangsan]]>", "<u>zhangsan</u>"))),
]


# JSON channels ---------------------------------------------------------------------------------

def _api_headers() -> dict:
    from mingbai.settings import get_settings

    return {"Authorization": f"Bearer {get_settings().secret('api_token')}"}


DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_OBJ = '{"a":' * 30_000 + "1" + "}" * 30_000


def _json(path: str, body, *, token: bool = False, raw: Optional[bytes] = None, ctype: str = "application/json",
          chat_session: bool = False):
    def send(s: Server):
        h = requests.Session()
        h.trust_env = False
        if chat_session:
            h.get(s.url + "/chat", timeout=30)
        headers = {"Content-Type": ctype, **(_api_headers() if token else {})}
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return h.post(s.url + path, data=data, headers=headers, timeout=60)
    return send


JSON_ENDPOINTS = [("chat-send", "/chat/api/send", False), ("chat-feedback", "/chat/api/feedback", False),
                  ("chat-location", "/chat/api/location", False), ("rest-messages", "/api/v1/messages", True),
                  ("api-ask", "/api/v1/ask", True), ("api-classify", "/api/v1/classify", True),
                  ("api-tickets", "/api/v1/tickets", True)]

JSONS: list[Case] = []
for name, path, tok in JSON_ENDPOINTS:
    JSONS += [
        Case(f"{name}-deep-list", _json(path, None, token=tok, raw=DEEP_LIST.encode())),
        Case(f"{name}-deep-object", _json(path, None, token=tok, raw=DEEP_OBJ.encode())),
        Case(f"{name}-10mb-json", _json(path, None, token=tok, raw=b'{"text": "' + b"A" * (10 * 1024 * 1024) + b'"}'),
             statuses=(413,)),
        Case(f"{name}-not-an-object", _json(path, ["text", "你好"], token=tok)),
        Case(f"{name}-a-string", _json(path, "你好", token=tok)),
        Case(f"{name}-bad-utf8", _json(path, None, token=tok, raw=b'{"text": "\xff\xfe"}')),
        Case(f"{name}-truncated", _json(path, None, token=tok, raw=b'{"text": "hi')),
    ]
JSONS += [
    Case("chat-send-10mb-chunked", lambda s: _chunked(s, "/chat/api/send", 10 * 1024 * 1024, "application/json"),
         statuses=(413,)),
    Case("rest-10mb-chunked", lambda s: _chunked(s, "/api/v1/messages", 10 * 1024 * 1024, "application/json"),
         statuses=(401, 413)),
    Case("chat-send-text-too-long", _json("/chat/api/send", {"text": "字" * 2001})),
    Case("chat-send-text-not-string", _json("/chat/api/send", {"text": {"$ne": 1}})),
    Case("chat-send-text-nested", _json("/chat/api/send", {"text": json.loads("[" * 500 + "]" * 500)})),
    Case("chat-send-form-encoded", _json("/chat/api/send", None, raw=b"text=hi", ctype="application/x-www-form-urlencoded"),
         statuses=(415,)),
    Case("chat-send-client-id-sql", _json("/chat/api/send", {"text": "你好", "client_id": SQL})),
    Case("chat-send-client-id-html", _json("/chat/api/send", {"text": "你好", "client_id": HTML})),
    Case("chat-send-client-id-object", _json("/chat/api/send", {"text": "你好", "client_id": {"a": 1}})),
    Case("chat-send-client-id-trailing-newline", _json("/chat/api/send", {"text": "你好", "client_id": "abcdefgh123\n"})),
    Case("chat-feedback-client-id-sql", _json("/chat/api/feedback", {"helpful": True, "client_id": SQL})),
    Case("chat-location-nan", _json("/chat/api/location", None, raw=b'{"lat": NaN, "lon": Infinity}')),
    Case("chat-location-huge", _json("/chat/api/location", {"lat": 1e308 * 10, "lon": "1e999"})),
    Case("rest-text-too-long", _json("/api/v1/messages", {"sender": "hostile", "text": "字" * 4001}, token=True)),
    Case("rest-sender-sql", _json("/api/v1/messages", {"sender": SQL, "text": "你好"}, token=True)),
    Case("rest-sender-html", _json("/api/v1/messages", {"sender": HTML, "text": "你好"}, token=True)),
    Case("rest-sender-trailing-newline", _json("/api/v1/messages", {"sender": "hostile\n", "text": "你好"}, token=True)),
    Case("rest-msg-id-trailing-newline", _json("/api/v1/messages", {"sender": "hostile", "text": "你好",
                                                                    "msg_id": "m-1\n"}, token=True)),
    Case("rest-sender-object", _json("/api/v1/messages", {"sender": {"$gt": ""}, "text": "你好"}, token=True)),
    Case("rest-msg-id-sql", _json("/api/v1/messages", {"sender": "hostile", "text": "你好", "msg_id": SQL2}, token=True)),
    Case("rest-msg-id-html", _json("/api/v1/messages", {"sender": "hostile", "text": "你好", "msg_id": HTML}, token=True)),
    Case("rest-no-token", _json("/api/v1/messages", {"sender": "hostile", "text": "你好"}), statuses=(401,)),
    Case("rest-token-sql", lambda s: s.http.post(s.url + "/api/v1/messages", json={"sender": "hostile", "text": "你好"},
                                                 headers={"Authorization": f"Bearer {SQL}"}, timeout=30), statuses=(401,)),
    Case("rest-poll-sender-sql", lambda s: s.http.get(s.url + "/api/v1/messages", params={"sender": SQL},
                                                      headers=_api_headers(), timeout=30)),
]


# Console: forged cookies, CSRF, identifier fields -------------------------------------------------

def _cookie_session(value: str) -> requests.Session:
    h = requests.Session()
    h.trust_env = False
    h.headers["Cookie"] = f"session={value}"
    return h


def _signed(app, data: dict, secret: Optional[str] = None) -> str:
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    signer_app = app
    if secret is not None:
        signer_app = Flask("forger")
        signer_app.secret_key = secret
    return SecureCookieSessionInterface().get_signing_serializer(signer_app).dumps(data)


def _unsigned(data: dict) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{raw}.AAAAAA.{'A' * 27}"


def _forged(cookie: Callable[[Server], str], method: str = "GET", target: str = "/console/"):
    def send(s: Server):
        h = _cookie_session(cookie(s))
        url = s.url + target.replace("{t}", s.ticket_number)
        if method == "GET":
            return h.get(url, allow_redirects=False, timeout=30)
        return h.post(url, data={"text": "伪造的备注", "csrf": "x", "username": "evil", "password": "evil-pass-123",
                                 "role": "管理员"}, allow_redirects=False, timeout=30)
    return send


def _tampered(app) -> str:
    """wang's genuine cookie with its payload swapped for admin's (timestamp and signature kept)."""
    _payload, ts, signature = _signed(app, {"staff": "wang", "staff_seen": _now()}).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"staff": "admin", "staff_seen": _now(), "csrf": "x"},
                                                 separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{forged}.{ts}.{signature}"


def _now() -> int:
    return int(time.time())


COOKIES: list[tuple[str, Callable[[Server], str]]] = [
    ("garbage", lambda s: "garbage"),
    ("binary-noise", lambda s: base64.urlsafe_b64encode(os.urandom(300)).decode()),
    ("wrong-secret", lambda s: _signed(s.app, {"staff": "admin", "staff_seen": _now(), "csrf": "x"}, "not-the-key")),
    ("unsigned", lambda s: _unsigned({"staff": "admin", "staff_seen": _now(), "csrf": "x"})),
    ("truncated-signature", lambda s: _signed(s.app, {"staff": "admin", "staff_seen": _now(), "csrf": "x"})[:-5]),
    ("tampered-payload", lambda s: _tampered(s.app)),
    ("compressed-bomb-shape", lambda s: "." + "eJ" + "A" * 4000 + ".AAAAAA." + "A" * 27),
    ("huge-cookie", lambda s: "A" * 60_000),
    # Signed with the real key (only the server can make these): odd types must not crash it.
    ("signed-staff-is-a-list", lambda s: _signed(s.app, {"staff": ["admin"], "staff_seen": _now(), "csrf": "x"})),
    ("signed-staff-is-an-object", lambda s: _signed(s.app, {"staff": {"$ne": ""}, "staff_seen": _now(), "csrf": "x"})),
    ("signed-unknown-staff", lambda s: _signed(s.app, {"staff": SQL, "staff_seen": _now(), "csrf": "x"})),
    ("signed-seen-not-a-number", lambda s: _signed(s.app, {"staff": "admin", "staff_seen": "forever", "csrf": "x"})),
]

CONSOLE: list[Case] = []
for cname, cookie in COOKIES:
    CONSOLE += [
        Case(f"console-cookie-{cname}-get-queue", _forged(cookie), expect="login"),
        Case(f"console-cookie-{cname}-post-note", _forged(cookie, "POST", "/console/t/{t}/note"), expect="login"),
        Case(f"console-cookie-{cname}-post-create-user", _forged(cookie, "POST", "/console/admin/users"),
             expect="login"),
    ]


def _admin_post(path: str, data: dict, *, csrf: Optional[str] = "auto", form_page: str = "/console/admin/users"):
    def send(s: Server):
        d = dict(data)
        if csrf == "auto":
            d["csrf"] = _csrf(s.admin, s.url + form_page)
        elif csrf is not None:
            d["csrf"] = csrf
        return s.admin.post(s.url + path.replace("{t}", s.ticket_number), data=d, allow_redirects=False, timeout=30)
    return send


CONSOLE += [
    Case("console-post-note-without-csrf", _admin_post("/console/t/{t}/note", {"text": "x"}, csrf=None)),
    Case("console-post-note-wrong-csrf", _admin_post("/console/t/{t}/note", {"text": "x"}, csrf="forged")),
    Case("console-create-user-without-csrf", _admin_post("/console/admin/users",
                                                         {"username": "evil", "role": "管理员"}, csrf=None)),
    Case("console-create-user-username-sql", _admin_post("/console/admin/users",
                                                         {"username": SQL, "role": "网格员", "grid": "QF01"})),
    Case("console-create-user-username-html", _admin_post("/console/admin/users",
                                                          {"username": HTML, "role": "网格员", "grid": "QF01"})),
    Case("console-create-user-grid-sql", _admin_post("/console/admin/users",
                                                     {"username": "hostile_grid", "role": "网格员", "grid": SQL2})),
    Case("console-create-user-role-html", _admin_post("/console/admin/users",
                                                      {"username": "hostile_role", "role": HTML})),
    Case("console-create-user-days-sql", _admin_post("/console/admin/users",
                                                     {"username": "hostile_days", "role": "网格员", "grid": "QF01",
                                                      "days": SQL2})),
]

REJECTED = WECHAT + WECOM + JSONS + CONSOLE


def _check(case: Case, r: requests.Response) -> None:
    code = r.status_code
    if case.expect == "login":
        assert code == 302 and "/console/login" in r.headers.get("Location", ""), (code, r.text[:200])
        return
    assert 400 <= code < 500, (code, r.text[:300])
    if case.statuses:
        assert code in case.statuses, (code, r.text[:300])


@pytest.mark.parametrize("case", REJECTED, ids=[c.id for c in REJECTED])
def test_hostile_input_rejected(srv, case):
    if case.prepare:
        case.prepare(srv)
    before = srv.counts()
    r = case.send(srv)
    _check(case, r)
    srv.settle()
    assert srv.counts() == before
    srv.assert_alive()


def test_every_case_id_is_unique():
    ids = [c.id for c in REJECTED]
    assert len(ids) == len(set(ids))


def test_console_login_with_hostile_username_signs_nobody_in(srv):
    """The login form answers a failed try with its page (200, as the lockout tests expect) — no
    session is made, nothing but the lockout counter changes, and the username comes back escaped."""
    for name in (SQL, SQL2, HTML, "admin' --", "admin\x00"):
        h = requests.Session()
        h.trust_env = False
        before = srv.counts()
        r = h.post(srv.url + "/console/login", data={"username": name, "password": "x' OR '1'='1"},
                   allow_redirects=False, timeout=30)
        assert r.status_code in (200, 400, 429), r.status_code
        assert "<script>alert" not in r.text
        assert h.get(srv.url + "/console/", allow_redirects=False, timeout=30).status_code == 302
        assert srv.counts() == before
    srv.assert_alive()


# ---------------------------------------------------------------------------------------------
# Free text: stored as data, shown escaped


FREE_TEXT = [SQL, SQL2, HTML, "Robert'); DROP TABLE tickets;--", "<!--#exec cmd=\"ls\"-->", "{{7*7}}${7*7}"]


def _messages_with(text: str) -> int:
    from sqlalchemy import select

    from mingbai.db import session_scope
    from tickets.models import Message

    with session_scope() as s:  # messages.text is encrypted at rest: compare the decrypted texts here
        return sum(1 for t in s.scalars(select(Message.text)) if t == text)


@pytest.mark.parametrize("text", FREE_TEXT, ids=["sql-drop", "sql-or", "html-script", "sql-bobby", "ssi", "template"])
def test_markup_and_sql_in_free_text_are_inert(srv, text):
    from tests.connectors.conftest import consent

    n = next(_ids)
    openid = f"oHostileFree{n % 10**16:016d}"
    consent(f"wechat:{openid}")
    consent(f"rest:hostile{n}")
    h = requests.Session()
    h.trust_env = False
    h.get(srv.url + "/chat", timeout=30)
    assert h.post(srv.url + "/chat/api/send", json={"text": "同意"}, timeout=30).status_code == 200
    before = srv.counts()
    # WeChat message text
    r = srv.post_cb(wxsim.build(_msg(openid, text), "aes"))
    assert r.status_code == 200
    reply = wxsim.read_reply(r.content, "aes")
    assert reply is not None and text in reply["Content"]
    # REST and web chat message text
    r = srv.http.post(srv.url + "/api/v1/messages", json={"sender": f"hostile{n}", "text": text},
                      headers=_api_headers(), timeout=30)
    assert r.status_code == 200 and text in r.json()["replies"][0]
    r = h.post(srv.url + "/chat/api/send", json={"text": text, "client_id": f"cid{n}"}, timeout=30)
    assert r.status_code == 200 and text in r.json()["replies"][0]
    # Stored byte for byte (bound parameters), and every table still there with its rows.
    assert _messages_with(text) == 3
    after = srv.counts()
    assert after["messages"] >= before["messages"] + 6  # 3 in + 3 out
    assert after["tickets"] == before["tickets"] and after["staff_users"] == before["staff_users"]
    # A staff member's display name and a ticket note: stored, shown escaped in the console.
    page = srv.url + "/console/admin/users"
    uname = f"hostile_{n % 10**8}"
    r = srv.admin.post(page, data={"csrf": _csrf(srv.admin, page), "username": uname, "display_name": text,
                                   "role": "网格员", "grid": "QF01", "password": "hostile-pass-1"},
                       allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:300]
    listing = srv.admin.get(page, timeout=30).text
    assert "<script>alert" not in listing and "<img src=x" not in listing
    tpage = srv.url + f"/console/t/{srv.ticket_number}"
    r = srv.admin.post(tpage + "/note", data={"csrf": _csrf(srv.admin, tpage), "text": text},
                       allow_redirects=False, timeout=30)
    assert r.status_code == 302
    shown = srv.admin.get(tpage, timeout=30).text
    assert "<script>alert" not in shown and "<img src=x" not in shown
    if text == HTML:
        assert "&lt;script&gt;" in shown and "&lt;script&gt;" in listing
    final = srv.counts()
    assert final["staff_users"] == before["staff_users"] + 1
    assert final["ticket_notes"] == before["ticket_notes"] + 1
    srv.assert_alive()
