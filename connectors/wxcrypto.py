"""Hardened helpers around wechatpy for WeChat and WeCom callbacks.

wechatpy compares signatures with `!=` and does not validate PKCS#7 padding or the length
field on decrypt; these wrappers do, so forged or damaged input is rejected before parsing.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import threading
import time
from typing import Iterable, Optional

import xmltodict

MAX_BODY = 64 * 1024           # a WeChat callback is a few KB; nothing legitimate is larger
REPLAY_WINDOW_S = 300          # timestamps further than this from now are replays (or clock abuse)

_DANGEROUS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

# Fields the channels read as text, with the longest value that can be genuine. Anything else
# (a nested element, an attribute, a repeated element, an absurd length) is refused with a 400
# before the channel code sees it. Other fields may nest (SendLocationInfo, ScanCodeInfo …).
SCALAR_FIELDS: dict[str, int] = {
    "ToUserName": 64, "FromUserName": 64, "CreateTime": 16, "MsgType": 32, "MsgId": 32, "MsgID": 32,
    "Event": 32, "EventKey": 256, "AgentID": 16, "Encrypt": MAX_BODY, "Content": MAX_BODY,
    "Recognition": MAX_BODY, "Label": 1024, "Location_X": 32, "Location_Y": 32, "Scale": 16,
    "Latitude": 32, "Longitude": 32, "Precision": 32, "MediaId": 256, "PicUrl": 2048, "Format": 16,
    "ThumbMediaId": 256, "Title": 1024, "Description": 4096, "Url": 2048,
}


class Rejected(Exception):
    """Input refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def check_sig(expected_parts: Iterable[str], given: Optional[str]) -> None:
    if not given:
        raise Rejected(403, "missing signature")
    want = sha1_signature(*expected_parts)
    if not hmac.compare_digest(want.encode(), given.strip().lower().encode()):
        raise Rejected(403, "bad signature")


def check_timestamp(timestamp: Optional[str], window: int = REPLAY_WINDOW_S) -> None:
    try:
        ts = int(timestamp or "")
    except ValueError:
        raise Rejected(403, "bad timestamp") from None
    if abs(time.time() - ts) > window:
        raise Rejected(403, "stale timestamp")


def guard_xml(body: bytes) -> None:
    """Refuse DTDs and entities outright (XXE, billion laughs) before any parser sees them."""
    if not body or not body.strip():
        raise Rejected(400, "empty body")
    if _DANGEROUS.search(body):
        raise Rejected(400, "DTD/entity not allowed")


MAX_DEPTH = 6  # below <xml>; WeChat's deepest (SendPicsInfo/PicList/item/PicMd5Sum) is 3


def _depth(node, limit: int = MAX_DEPTH) -> int:
    """How deep dicts/lists nest under `node` (stops counting past `limit`); no recursion."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        n, d = stack.pop()
        if d > limit:
            return d
        deepest = max(deepest, d)
        children = n.values() if isinstance(n, dict) else n if isinstance(n, list) else ()
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def parse_xml(body: bytes | str) -> dict:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    guard_xml(raw)
    try:
        doc = xmltodict.parse(raw, disable_entities=True)
    except Exception:
        raise Rejected(400, "not XML") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise Rejected(400, "not a WeChat XML document")
    fields = doc["xml"]
    if _depth(fields) > MAX_DEPTH:
        raise Rejected(400, "XML nested too deeply")
    for name, limit in SCALAR_FIELDS.items():
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, str):  # <FromUserName><a/></FromUserName>, attributes, repeats
            raise Rejected(400, f"{name} must be plain text")
        if len(value) > limit:
            raise Rejected(400, f"{name} too long")
    return fields


class NonceCache:
    """Remembers (timestamp, nonce, signature) tuples for the replay window, so a captured
    callback cannot be played again. Redis (SET NX EX) when MINGBAI_REDIS_URL is set, shared by
    every process; else in this process (a waitress server is one process)."""

    MAX_LOCAL = 100_000

    def __init__(self, window: int = REPLAY_WINDOW_S):
        self.ttl = 2 * window + 60  # a timestamp is accepted ±window around now
        self._seen: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._redis = None
        self._redis_url: Optional[str] = None

    def _client(self, url: str):
        if self._redis is None or self._redis_url != url:
            import redis

            self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            self._redis_url = url
        return self._redis

    def first_use(self, channel: str, *parts: str, body: bytes = b"") -> bool:
        """True the first time this tuple is seen within the window, and for WeChat's own retries
        (the same signed request with the same body: dedup by MsgId answers those); False when
        the same signature comes back carrying a different body — a forged replay."""
        from mingbai.settings import get_settings

        key = f"mingbai:wxnonce:{channel}:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        digest = hashlib.sha256(body or b"").hexdigest().encode()
        url = get_settings().redis_url
        if url:
            try:
                r = self._client(url)
                if r.set(key, digest, nx=True, ex=self.ttl):
                    return True
                return r.get(key) == digest
            except Exception:  # Redis down: fall back to this process rather than fail open
                pass
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self.MAX_LOCAL:
                for k in [k for k, (exp, _) in self._seen.items() if exp <= now]:
                    del self._seen[k]
                if len(self._seen) >= self.MAX_LOCAL:  # a flood within the window: forget the oldest
                    for k in list(self._seen)[: self.MAX_LOCAL // 10]:
                        del self._seen[k]
            hit = self._seen.get(key)
            if hit is not None and hit[0] > now:
                return hit[1] == digest
            self._seen[key] = (now + self.ttl, digest)
            return True


nonces = NonceCache()


def check_replay(channel: str, timestamp: str, nonce: str, signature: str, body: bytes = b"") -> None:
    """Call after the signature checked out: refuse the same signed request with another body."""
    if not nonces.first_use(channel, timestamp or "", nonce or "", (signature or "").strip().lower(), body=body):
        raise Rejected(403, "replayed request (timestamp/nonce already used)")


class _Bad(Exception):
    rank = 0


class _BadAppId(_Bad):
    rank = 1


def _decrypt_one(encrypt: str, aes_key: str, app_id: str) -> str:
    from wechatpy.crypto.base import WeChatCipher

    key = base64.b64decode(aes_key + "=")
    try:
        data = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("ciphertext is not base64") from None
    if not data or len(data) % 16:
        raise _Bad("ciphertext length")
    plain = WeChatCipher(key).decrypt(data)
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise _Bad("bad padding")
    content = plain[16:-pad]
    if len(content) < 4:
        raise _Bad("too short")
    n = struct.unpack(">I", content[:4])[0]
    if n > len(content) - 4:
        raise _Bad("bad length")
    try:
        xml = content[4:4 + n].decode("utf-8")
        from_id = content[4 + n:].decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("not UTF-8") from None
    if not hmac.compare_digest(from_id.encode(), (app_id or "").encode()):
        raise _BadAppId("wrong AppID")
    return xml


def decrypt(encrypt: str, keys: list[str], app_id: str) -> tuple[str, str]:
    """Decrypt with the current key, then the previous one (rotation). Returns (xml, key used)."""
    worst: Optional[_Bad] = None
    for key in keys:
        try:
            return _decrypt_one(encrypt, key, app_id), key
        except _Bad as e:
            if worst is None or e.rank > worst.rank:
                worst = e
    if isinstance(worst, _BadAppId):
        raise Rejected(403, "wrong AppID")
    raise Rejected(400, f"cannot decrypt: {worst}")


def encrypt_reply(xml: str, token: str, aes_key: str, app_id: str, nonce: str, timestamp: str) -> str:
    from wechatpy.crypto import WeChatCrypto

    return WeChatCrypto(token, aes_key, app_id).encrypt_message(xml, nonce, timestamp)


def read_capped_body(req) -> bytes:
    """The request body, refusing more than MAX_BODY bytes whatever Content-Length claims."""
    if (req.content_length or 0) > MAX_BODY:
        raise Rejected(413, "body too large")
    body = req.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise Rejected(413, "body too large")
    return body
