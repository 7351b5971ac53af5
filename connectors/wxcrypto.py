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
import time
from typing import Iterable, Optional

import xmltodict

MAX_BODY = 64 * 1024           # a WeChat callback is a few KB; nothing legitimate is larger
REPLAY_WINDOW_S = 300          # timestamps further than this from now are replays (or clock abuse)

_DANGEROUS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


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


def parse_xml(body: bytes | str) -> dict:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    guard_xml(raw)
    try:
        doc = xmltodict.parse(raw, disable_entities=True)
    except Exception:
        raise Rejected(400, "not XML") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("xml"), dict):
        raise Rejected(400, "not a WeChat XML document")
    return doc["xml"]


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
