"""WeChat Official Account callback (/wechat): plaintext, compatible and safe (AES) modes.

Delivery contract: WeChat waits 5 s, then retries the same message (3 tries). We
- deduplicate by MsgId (events: FromUserName + CreateTime) so a message gets one bot turn;
- reply passively when the answer is ready within ~4 s, else answer `success` and deliver the
  answer once through the customer-service API (outbox, survives restarts);
- let a retry that arrives while the first request is still in flight wait briefly for the
  first request's result; whoever wins `mark_delivered` answers, everyone else says `success`.
"""
from __future__ import annotations

import logging
import re
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Optional

from flask import Blueprint, Response, abort, request

from connectors import gateway
from connectors.message import InboundMessage, from_wx_fields, valid_lat_lon
from connectors.split import WECHAT_TEXT_BYTES, split_message
from connectors.wxcrypto import (
    read_capped_body,
    Rejected,
    check_replay,
    check_sig,
    check_timestamp,
    decrypt,
    encrypt_reply,
    parse_xml,
)
from mingbai.settings import get_settings

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

CHANNEL = "wechat"
PASSIVE_WAIT_S = 4.0     # WeChat gives 5 s; keep a margin for the network
PASSIVE_DEADLINE_S = 4.5  # past this a passive reply may arrive too late: deliver async instead

# Menu buttons (EventKey) → what the resident would have typed.
MENU_TEXT = {
    "ASK": "我想咨询法律问题",
    "HUMAN": "我要找工作人员",
    "MY_CASES": "查询我的事项进度",
    "DELETE_ME": "删除我的信息",
}


def _ok(body: str = "success", mimetype: str = "text/plain") -> Response:
    return Response(body, status=200, mimetype=mimetype)


def _reject(e: Rejected) -> Response:
    log.warning("wechat callback rejected: %s (%s)", e.reason, request.remote_addr)
    return Response(e.reason, status=e.status, mimetype="text/plain")


@bp.get("/wechat")
def verify():
    st = get_settings()
    if not st.wechat_token:
        abort(404)
    a = request.args
    try:
        check_timestamp(a.get("timestamp"))
        check_sig([st.wechat_token, a.get("timestamp", ""), a.get("nonce", "")], a.get("signature"))
    except Rejected as e:
        return _reject(e)
    resp = _ok(a.get("echostr", ""))
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# An openid is 28 characters of [A-Za-z0-9_-]; a MsgId is a 64-bit number. Anything else in these
# fields (SQL, markup, control characters) is not from WeChat and never becomes a resident key.
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MSG_ID = re.compile(r"[0-9]{1,32}")


def _to_inbound(m: dict) -> Optional[InboundMessage]:
    """WeChat XML fields → InboundMessage (None: nothing to do)."""
    user = (m.get("FromUserName") or "").strip()
    if not user or len(user) > 128:
        raise Rejected(400, "no FromUserName")
    if not _OPENID.fullmatch(user):
        raise Rejected(400, "FromUserName is not an openid")
    rk = f"{CHANNEL}:{user}"
    mtype = (m.get("MsgType") or "").lower()
    msg_id = m.get("MsgId")
    if msg_id is not None and not _MSG_ID.fullmatch(msg_id.strip()):
        raise Rejected(400, "MsgId is not a number")
    # Events have no MsgId: FromUserName + CreateTime (+ the event, so two events in one second differ).
    key = str(msg_id) if msg_id else f"{user}:{m.get('CreateTime', '')}:{(m.get('Event') or '').lower()}"
    raw = {"MsgType": mtype, "ToUserName": m.get("ToUserName")}
    common = from_wx_fields(m, rk, CHANNEL, key, raw)
    if common is not None:
        return common
    if mtype == "event":
        ev = (m.get("Event") or "").lower()
        raw["Event"] = ev
        if ev == "click":
            k = m.get("EventKey") or ""
            text = MENU_TEXT.get(k)
            if not text:
                return InboundMessage(rk, CHANNEL, kind="event", event="click", msg_key=key, raw=raw)
            return InboundMessage(rk, CHANNEL, text=text, msg_key=key, raw=raw)
        if ev == "location":
            try:
                lat, lon = float(m.get("Latitude")), float(m.get("Longitude"))
            except (TypeError, ValueError):
                return None
            if not valid_lat_lon(lat, lon):
                return None
            return InboundMessage(rk, CHANNEL, kind="event", event="location", lat=lat, lon=lon, msg_key=key, raw=raw)
        if ev in ("subscribe", "unsubscribe"):
            return InboundMessage(rk, CHANNEL, kind="event", event=ev, msg_key=key, raw=raw)
        return InboundMessage(rk, CHANNEL, kind="event", event=ev or "unknown", msg_key=key, raw=raw)
    return None


# ---------------------------------------------------------------------------------------------
# One turn, one reply


def _parts(replies: list[str]) -> list[str]:
    return split_message("\n\n".join(r for r in replies if r), WECHAT_TEXT_BYTES)


def _enqueue_async(msg: InboundMessage, replies: list[str], start: int = 0) -> None:
    from connectors import outbound

    parts = _parts(replies)
    for i, part in enumerate(parts[start:], start):
        # The dedup key makes the enqueue idempotent when two paths race to it.
        outbound.send(msg.resident_key, part, author="bot", dedup_key=f"wechat:{msg.msg_key}:{i}")


def _run_turn(msg: InboundMessage) -> list[str]:
    try:
        replies = gateway.process(msg)
    except Exception:
        log.exception("wechat turn failed")
        replies = [gateway.SORRY]
    gateway.finish(CHANNEL, msg.msg_key, replies)
    rec = gateway.record_of(CHANNEL, msg.msg_key)
    if rec and rec["delivered"] == "async":
        _enqueue_async(msg, replies)
    return replies


def take_waiting(resident_key: str) -> list[str]:
    """Texts the customer-service API refused with 48001, claimed for this passive reply."""
    from sqlalchemy import select, update

    from connectors.store import Outbox, utcnow
    from mingbai.db import session_scope

    out = []
    with session_scope() as s:
        rows = s.scalars(select(Outbox).where(Outbox.resident_key == resident_key,
                                              Outbox.status == "passive_wait").order_by(Outbox.id)).all()
        for r in rows:
            won = s.execute(update(Outbox).where(Outbox.id == r.id, Outbox.status == "passive_wait")
                            .values(status="sent", sent_at=utcnow(), last_error="sent with a passive reply"))
            if won.rowcount == 1:
                out.append(r.text)
    return out


def _passive_or_async(msg: InboundMessage, replies: list[str], started: float) -> Optional[str]:
    """Decide how the finished answer goes out. Returns the passive reply text, or None."""
    if not replies:  # e.g. the bot is silent during a handoff
        if not gateway.mark_delivered(CHANNEL, msg.msg_key, "none"):
            return None
        if time.monotonic() - started > PASSIVE_DEADLINE_S:
            return None
        parts = _parts(take_waiting(msg.resident_key))
        if not parts:
            return None
        from connectors import outbound

        for i, part in enumerate(parts[1:], 1):
            outbound.send(msg.resident_key, part, author="bot", dedup_key=f"wechat:{msg.msg_key}:w{i}")
        return parts[0]
    if time.monotonic() - started > PASSIVE_DEADLINE_S:
        if gateway.mark_delivered(CHANNEL, msg.msg_key, "async"):
            _enqueue_async(msg, replies)
        return None
    if not gateway.mark_delivered(CHANNEL, msg.msg_key, "passive"):
        return None
    replies = take_waiting(msg.resident_key) + list(replies)
    parts = _parts(replies)
    if len(parts) > 1:
        _enqueue_async(msg, replies, start=1)  # the rest of a long answer
    return parts[0] if parts else None


def answer(msg: InboundMessage, started: Optional[float] = None) -> Optional[str]:
    """The text to reply passively, or None (reply `success`)."""
    started = started if started is not None else time.monotonic()
    if gateway.claim(CHANNEL, msg.msg_key, msg.resident_key):
        fut = gateway.pool().submit(_run_turn, msg)
        try:
            replies = fut.result(timeout=max(0.1, PASSIVE_WAIT_S - (time.monotonic() - started)))
        except FutureTimeout:
            if gateway.mark_delivered(CHANNEL, msg.msg_key, "async"):
                rec = gateway.record_of(CHANNEL, msg.msg_key)
                if rec and rec["state"] == "done":  # finished between the timeout and our mark
                    _enqueue_async(msg, rec["replies"])
            return None
        except Exception:  # storage trouble inside the turn: acknowledge rather than show an error
            log.exception("wechat turn failed")
            return None
        return _passive_or_async(msg, replies, started)
    # A retry (or a concurrent duplicate): wait a little for the owner's result.
    while time.monotonic() - started < PASSIVE_WAIT_S:
        rec = gateway.record_of(CHANNEL, msg.msg_key)
        if rec and rec["delivered"]:
            return None
        if rec and rec["state"] == "done":
            return _passive_or_async(msg, rec["replies"], started)
        time.sleep(0.05)
    return None


# ---------------------------------------------------------------------------------------------


@bp.post("/wechat")
def receive():
    started = time.monotonic()
    st = get_settings()
    if not st.wechat_token:
        abort(404)
    a = request.args
    try:
        body = read_capped_body(request)
        timestamp, nonce = a.get("timestamp", ""), a.get("nonce", "")
        check_timestamp(timestamp)
        check_sig([st.wechat_token, timestamp, nonce], a.get("signature"))
        outer = parse_xml(body)
        aes = (a.get("encrypt_type") or "raw").lower() == "aes"
        key_used = None
        if aes:
            encrypt = outer.get("Encrypt")
            if not st.wechat_aes_key or not st.wechat_appid:
                raise Rejected(400, "safe mode not configured")
            if not isinstance(encrypt, str) or not encrypt:
                raise Rejected(400, "no Encrypt element")
            check_sig([st.wechat_token, timestamp, nonce, encrypt], a.get("msg_signature"))
            check_replay(CHANNEL, timestamp, nonce, a.get("msg_signature", ""), body)
            keys = [k for k in (st.wechat_aes_key, st.wechat_aes_key_previous) if k]
            inner_xml, key_used = decrypt(encrypt, keys, st.wechat_appid)
            fields = parse_xml(inner_xml)
        else:
            if "Encrypt" in outer and "MsgType" not in outer:
                raise Rejected(400, "encrypted body without encrypt_type=aes")
            if st.wechat_aes_key:
                # Safe (or compatible) mode is configured: WeChat always sends encrypt_type=aes.
                # A plaintext body is only signed over timestamp+nonce, not over its content, so
                # accepting it would let anyone with one old URL inject messages.
                raise Rejected(403, "plaintext callback refused: safe mode is configured")
            check_replay(CHANNEL, timestamp, nonce, a.get("signature", ""), body)
            fields = outer
        if not fields.get("MsgType"):
            raise Rejected(400, "no MsgType")
        msg = _to_inbound(fields)
    except Rejected as e:
        return _reject(e)

    if msg is None:
        return _ok()
    text = answer(msg, started)
    if not text:
        return _ok()
    from wechatpy.replies import TextReply

    xml = TextReply(source=fields.get("ToUserName", ""), target=fields.get("FromUserName", ""),
                    content=text).render()
    if key_used:
        xml = encrypt_reply(xml, st.wechat_token, key_used, st.wechat_appid, nonce, timestamp)
    return Response(xml, status=200, mimetype="application/xml")


@bp.record_once
def _start_worker(state) -> None:
    # Outgoing rows left by an earlier run (or another process) go out without waiting for traffic.
    from connectors import wechat_api

    wechat_api.ensure_worker()
