"""Mobile-first web chat at /chat: the same shared path as WeChat, a session cookie as identity.

Own messages are answered in the POST response; staff replies (handoff) and notices arrive by
polling /chat/api/poll, which reads the outbox rows queued by connectors.outbound.send.

A reply that is a legal answer carries `"feedback": true`: the page then shows one-tap
「有帮助」/「没帮助」 buttons, which POST /chat/api/feedback. That sends the very words a resident
would type through the gateway (gateway._feedback_reply → tickets.feedback.handle_reply), so a tap
and a typed reply are stored the same way (没帮助 → the 未解答 inbox) and get the same thanks.
"""
from __future__ import annotations

import re
import uuid

from flask import Blueprint, jsonify, render_template, request, session

from connectors import gateway, outbound
from connectors.message import InboundMessage

bp = Blueprint("webchat", __name__, template_folder="templates", static_folder="static",
               static_url_path="/chat/static")

CHANNEL = "web"
MAX_TEXT = 2000
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _resident_key() -> str:
    wid = session.get("web_id")
    if not wid or not re.fullmatch(r"[0-9a-f]{32}", str(wid)):
        wid = uuid.uuid4().hex
        session["web_id"] = wid
        session.permanent = True
    return f"{CHANNEL}:{wid}"


def _json_only():
    # A cross-site form cannot send application/json without a CORS preflight: cheap CSRF guard.
    if not request.is_json:
        return jsonify(error="需要 JSON 请求"), 415
    if not isinstance(request.get_json(silent=True), dict):  # a list, a string, broken JSON
        return jsonify(error="请求格式不对"), 400
    return None


def _msg_key(rk: str, data: dict):
    """(dedup key, error response): the page's client_id makes a retried send idempotent; one
    that is there but not of its shape (SQL, markup, an object) is refused, not silently dropped."""
    cid = data.get("client_id")
    if cid is None:
        return None, None
    if not isinstance(cid, str) or not _CLIENT_ID.fullmatch(cid):
        return None, (jsonify(error="请求格式不对"), 400)
    return f"{rk}:{cid}", None


@bp.get("/chat")
def page():
    _resident_key()
    return render_template("chat.html")


@bp.post("/chat/api/send")
def send():
    bad = _json_only()
    if bad:
        return bad
    data = request.get_json(silent=True) or {}
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return jsonify(error="请输入内容"), 400
    if len(text) > MAX_TEXT:
        return jsonify(error=f"内容太长了，请分几次发送（每次不超过 {MAX_TEXT} 字）"), 400
    rk = _resident_key()
    key, bad = _msg_key(rk, data)
    if bad:
        return bad
    replies = gateway.handle(InboundMessage(rk, CHANNEL, text=text, msg_key=key))
    return jsonify(replies=replies, handoff=_in_handoff(rk), feedback=_asks_feedback(replies))


FEEDBACK_WORDS = {True: "有帮助", False: "没帮助"}
FEEDBACK_EXPIRED = "这条回答已经不能评价了。还有问题的话，直接打字问我就行。"


@bp.post("/chat/api/feedback")
def rate():
    """One tap on 有帮助/没帮助 under an answer: {"helpful": true|false, "client_id": "…"}."""
    bad = _json_only()
    if bad:
        return bad
    data = request.get_json(silent=True) or {}
    helpful = data.get("helpful")
    if not isinstance(helpful, bool):
        return jsonify(error="反馈格式不对"), 400
    rk = _resident_key()
    key, bad = _msg_key(rk, data)
    if bad:
        return bad
    from tickets import feedback

    # Only while the typed word would count too: a stale tap must not reach the bot as a question.
    if _in_handoff(rk) or not feedback.awaiting_feedback(rk):
        return jsonify(error=FEEDBACK_EXPIRED, counted=False), 409
    replies = gateway.handle(InboundMessage(rk, CHANNEL, text=FEEDBACK_WORDS[helpful], msg_key=key))
    counted = bool(replies) and replies[0] in (feedback.THANKS_HELPFUL, feedback.THANKS_UNHELPFUL)
    return jsonify(replies=replies, counted=counted, handoff=_in_handoff(rk))


def _asks_feedback(replies: list) -> bool:
    """The turn just run (this thread) ended on a legal answer the resident can rate."""
    if not replies or replies == [gateway.SORRY]:
        return False  # a duplicate (no turn ran) or a failed turn
    if gateway.last_result().get("outcome") != "answer":
        return False
    # An answer given inside the intake form is followed by the form's next question: no rating.
    return not str(replies[-1]).startswith(gateway.RESUME_FORM)


@bp.post("/chat/api/location")
def location():
    bad = _json_only()
    if bad:
        return bad
    data = request.get_json(silent=True) or {}
    try:
        lat, lon = float(data.get("lat")), float(data.get("lon"))
    except (TypeError, ValueError):
        return jsonify(error="位置格式不对"), 400
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return jsonify(error="位置格式不对"), 400
    label = data.get("label") if isinstance(data.get("label"), str) else None
    rk = _resident_key()
    replies = gateway.handle(InboundMessage(rk, CHANNEL, kind="location", lat=lat, lon=lon,
                                            label=(label or "")[:100] or None))
    return jsonify(replies=replies)


@bp.get("/chat/api/poll")
def poll():
    rk = _resident_key()
    try:
        after = max(int(request.args.get("after", 0)), 0)
    except ValueError:
        after = 0
    msgs = outbound.poll(rk, after)
    return jsonify(messages=msgs, handoff=_in_handoff(rk))


def _in_handoff(rk: str) -> bool:
    from tickets import service

    try:
        return bool(service.in_handoff(rk))
    except Exception:
        return False
