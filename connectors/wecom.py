"""WeCom (企业微信) self-built app callback (/wecom).

GET: the echostr is encrypted; we check msg_signature, decrypt it and echo the plaintext
(no I/O on this path, well inside WeCom's 1 s limit).
POST: decrypt, acknowledge at once with an empty 200, run the turn in the background and send
the replies with message/send through the outbox (retries survive restarts).
"""
from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, request

from connectors import gateway
from connectors.message import InboundMessage, from_wx_fields
from connectors.wxcrypto import (
    Rejected,
    check_replay,
    check_sig,
    check_timestamp,
    decrypt,
    parse_xml,
    read_capped_body,
)
from mingbai.settings import get_settings

log = logging.getLogger(__name__)

bp = Blueprint("wecom", __name__)
CHANNEL = "wecom"


def _configured():
    st = get_settings()
    if not (st.wecom_token and st.wecom_aes_key and st.wecom_corpid):
        abort(404)
    return st


def _reject(e: Rejected) -> Response:
    log.warning("wecom callback rejected: %s", e.reason)
    return Response(e.reason, status=e.status, mimetype="text/plain")


@bp.get("/wecom")
def verify():
    st = _configured()
    a = request.args
    try:
        check_timestamp(a.get("timestamp"))
        echostr = a.get("echostr", "")
        check_sig([st.wecom_token, a.get("timestamp", ""), a.get("nonce", ""), echostr], a.get("msg_signature"))
        plain, _ = decrypt(echostr, [st.wecom_aes_key], st.wecom_corpid)
    except Rejected as e:
        return _reject(e)
    return Response(plain, mimetype="text/plain")


# A WeCom UserID is 1-64 of letters, digits and _-@. ; a MsgId is a number.
_USERID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_MSG_ID = re.compile(r"[0-9]{1,32}")


def _to_inbound(m: dict) -> InboundMessage | None:
    user = (m.get("FromUserName") or "").strip()
    if not user or len(user) > 128:
        raise Rejected(400, "no FromUserName")
    if not _USERID.fullmatch(user):
        raise Rejected(400, "FromUserName is not a UserID")
    if m.get("MsgId") is not None and not _MSG_ID.fullmatch(str(m.get("MsgId")).strip()):
        raise Rejected(400, "MsgId is not a number")
    rk = f"{CHANNEL}:{user}"
    mtype = (m.get("MsgType") or "").lower()
    key = str(m.get("MsgId") or f"{user}:{m.get('CreateTime', '')}")
    raw = {"MsgType": mtype, "AgentID": m.get("AgentID")}
    common = from_wx_fields(m, rk, CHANNEL, key, raw)
    if common is not None:
        return common
    if mtype == "event":
        ev = (m.get("Event") or "").lower()
        if ev in ("subscribe", "unsubscribe"):
            return InboundMessage(rk, CHANNEL, kind="event", event=ev, msg_key=key, raw=raw)
        return None  # enter_agent, view, …: nothing to answer
    return None


def _turn(msg: InboundMessage) -> None:
    from connectors import outbound

    try:
        replies = gateway.handle(msg)  # dedup inside: a retried MsgId yields []
        if replies:
            outbound.send(msg.resident_key, "\n\n".join(replies), author="bot",
                          dedup_key=f"wecom:{msg.msg_key}")
    except Exception:  # runs in the pool: nobody else would see it
        log.exception("wecom turn failed")


@bp.post("/wecom")
def receive():
    st = _configured()
    a = request.args
    try:
        body = read_capped_body(request)
        timestamp, nonce = a.get("timestamp", ""), a.get("nonce", "")
        check_timestamp(timestamp)
        outer = parse_xml(body)
        encrypt = outer.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise Rejected(400, "no Encrypt element")
        check_sig([st.wecom_token, timestamp, nonce, encrypt], a.get("msg_signature"))
        check_replay(CHANNEL, timestamp, nonce, a.get("msg_signature", ""), body)
        inner, _ = decrypt(encrypt, [st.wecom_aes_key], st.wecom_corpid)
        msg = _to_inbound(parse_xml(inner))
    except Rejected as e:
        return _reject(e)
    if msg is not None:
        gateway.pool().submit(_turn, msg)
    return Response("", status=200, mimetype="text/plain")
