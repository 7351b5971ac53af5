"""REST channel for integrations (e.g. a 12345 hotline system): POST /api/v1/messages.

Auth: `Authorization: Bearer <api_token>` (settings.secret("api_token")).
Request: {"sender": "hotline-123", "text": "…", "msg_id": "optional idempotency key",
          "channel": "rest" | "cli"}
Response: {"replies": ["…"], "resident_key": "rest:hotline-123", "duplicate": false, "handoff": false,
           "result": {"outcome", "domain", "citations", "ticket_id"}}   (the turn's structured result)
GET /api/v1/messages?sender=…&after=N — messages queued for the sender (staff replies, notices).
"""
from __future__ import annotations

import hmac
import re

from flask import Blueprint, jsonify, request

from connectors import gateway, outbound
from connectors.message import InboundMessage
from mingbai.settings import get_settings

bp = Blueprint("rest_channel", __name__)

MAX_TEXT = 4000
_SENDER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_MSG_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def _authorised() -> bool:
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        return False
    want = get_settings().secret("api_token")
    return hmac.compare_digest(given[7:].strip().encode(), want.encode())


def _err(status: int, msg: str):
    return jsonify(error=msg), status


def _resident(data_sender, channel) -> str | None:
    if not isinstance(data_sender, str) or not _SENDER.fullmatch(data_sender):
        return None
    channel = channel if channel in ("rest", "cli") else "rest"
    return f"{channel}:{data_sender}"


@bp.post("/api/v1/messages")
def post_message():
    if not _authorised():
        return _err(401, "unauthorised")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _err(400, "JSON object expected")
    rk = _resident(data.get("sender"), data.get("channel"))
    if rk is None:
        return _err(400, "sender: 1-64 characters of A-Z a-z 0-9 _ . @ -")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return _err(400, "text is required")
    if len(text) > MAX_TEXT:
        return _err(413, f"text longer than {MAX_TEXT} characters")
    msg_id = data.get("msg_id")
    if msg_id is not None and (not isinstance(msg_id, str) or not _MSG_ID.fullmatch(msg_id)):
        return _err(400, "msg_id: 1-100 characters of A-Z a-z 0-9 _ . : -")
    channel = rk.split(":", 1)[0]
    key = f"{rk}:{msg_id}" if msg_id else None
    duplicate = False
    if key and not gateway.claim(channel, key, rk):
        duplicate = True
        rec = gateway.record_of(channel, key)
        replies = rec["replies"] if rec and rec["state"] == "done" else []
    else:
        msg = InboundMessage(rk, channel, text=text)
        try:
            replies = gateway.process(msg)
        except Exception:
            replies = [gateway.SORRY]
        if key:
            gateway.finish(channel, key, replies)
    from tickets import service

    result = gateway.last_result() if not duplicate else {}
    return jsonify(replies=replies, resident_key=rk, duplicate=duplicate,
                   handoff=bool(service.in_handoff(rk)), result=result)


@bp.get("/api/v1/messages")
def get_messages():
    if not _authorised():
        return _err(401, "unauthorised")
    rk = _resident(request.args.get("sender"), request.args.get("channel"))
    if rk is None:
        return _err(400, "sender required")
    try:
        after = max(int(request.args.get("after", 0)), 0)
    except ValueError:
        after = 0
    return jsonify(messages=outbound.poll(rk, after), resident_key=rk)
