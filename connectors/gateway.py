"""The one shared path for every channel:

dedup → record_message → emergency check → first contact (privacy notice + consent)
→ handoff? (message only to the staff console) → bot → record bot replies → reply texts.

The emergency check runs right after the message is recorded, before the consent notice or a
handoff could swallow it: an emergency always gets the hotline answer.
"""
from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from connectors.message import InboundMessage
from connectors.store import InboundDedup, Outbox, ServiceWindow, utcnow
from mingbai.db import session_scope
from mingbai.settings import get_settings

log = logging.getLogger(__name__)

PRIVACY_NOTICE = (
    "您好，我是“明白”法律咨询小助手。\n"
    "为了帮您解答、转给工作人员，我们会保存您发来的文字和位置，只用于这件事，不会给别人。\n"
    "回复“同意”就开始咨询；回复“不同意”，我们会删除刚才的记录。\n"
    "以后随时发“删除我的信息”，也可以删除记录。"
)
WELCOME = "欢迎关注！有法律上的烦心事，直接打字或发语音问我就行。"
WELCOME_BACK = "欢迎回来！有什么想问的，直接打字或发语音告诉我。"
CONSENT_THANKS = "谢谢您的信任！请直接说说您遇到的事，比如“邻居占了我家的地怎么办”。"
CONSENT_DECLINED = (
    "好的，我们已删除刚才的记录，不会保存您的信息。\n"
    "如需帮助，可以拨打 12348 法律援助热线。想咨询时，回复“同意”即可。"
)
IMAGE_REPLY = "收到您的图片，谢谢。我暂时看不懂图片，请用文字简单说一下您遇到的事。"
VOICE_UNCLEAR = "抱歉，没听清您的语音。请打字告诉我，或者慢一点再说一次。"
LOCATION_REPLY = "收到您的位置：{label}。有需要时，我们会请离您最近的调解员联系您。"
BOT_DOWN = "系统有点忙，请过一会儿再发一次。着急的话，可以拨打 12348 法律援助热线。"
BOT_SILENT = "抱歉，我没太明白。可以换个说法再说一次吗？"
FORGOTTEN = "好的，您的聊天记录和个人信息已经删除。以后需要帮助，随时再来找我。"

_CONSENT_YES = {"同意", "我同意", "同意了", "好", "好的", "可以", "行", "是", "ok", "yes", "嗯", "同意的"}
_CONSENT_NO = {"不同意", "我不同意", "拒绝", "不要", "不行", "否", "no"}
_PUNCT = re.compile(r"[\s。，,.!！~～、]+")

# ---------------------------------------------------------------------------------------------
# Deduplication: Redis SET NX when configured (fast, shared), always a unique DB row too, which
# also carries the turn's result so retries in any process can wait for it.


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def claim(channel: str, msg_key: str, resident_key: str = "") -> bool:
    """True when this caller is the first to see (channel, msg_key) and owns the turn."""
    url = get_settings().redis_url
    if url:
        try:
            if not _redis(url).set(f"mingbai:dedup:{channel}:{msg_key}", "1", nx=True, ex=3 * 86400):
                return False
        except Exception as e:  # Redis down: the DB row below still deduplicates
            log.warning("redis dedup unavailable: %s", type(e).__name__)
    try:
        with session_scope() as s:
            s.add(InboundDedup(channel=channel, msg_key=msg_key[:160], resident_key=resident_key))
        return True
    except IntegrityError:
        return False


def finish(channel: str, msg_key: str, replies: list[str]) -> None:
    with session_scope() as s:
        s.execute(
            update(InboundDedup)
            .where(InboundDedup.channel == channel, InboundDedup.msg_key == msg_key[:160])
            .values(state="done", replies=list(replies), updated_at=utcnow())
        )


def record_of(channel: str, msg_key: str) -> Optional[dict]:
    with session_scope() as s:
        row = s.scalar(
            select(InboundDedup).where(InboundDedup.channel == channel, InboundDedup.msg_key == msg_key[:160])
        )
        if row is None:
            return None
        return {"state": row.state, "replies": row.replies or [], "delivered": row.delivered}


def mark_delivered(channel: str, msg_key: str, how: str) -> bool:
    """Atomically decide who answers a message (passive reply or async): only one caller wins."""
    with session_scope() as s:
        res = s.execute(
            update(InboundDedup)
            .where(
                InboundDedup.channel == channel,
                InboundDedup.msg_key == msg_key[:160],
                InboundDedup.delivered == "",
            )
            .values(delivered=how, updated_at=utcnow())
        )
        return res.rowcount == 1


def purge_dedup(older_than: timedelta = timedelta(days=3)) -> int:
    from sqlalchemy import delete

    with session_scope() as s:
        return s.execute(delete(InboundDedup).where(InboundDedup.created_at < utcnow() - older_than)).rowcount


# ---------------------------------------------------------------------------------------------
# Customer-service window (48 h after the resident's last inbound action).


def touch_window(resident_key: str, channel: str, *, subscribed: Optional[bool] = None) -> None:
    now = utcnow()
    if subscribed is None:
        # Most messages come minutes apart: skip the write when nothing would change much.
        with session_scope() as s:
            row = s.get(ServiceWindow, resident_key)
            fresh = row is not None and _aware(row.last_inbound_at) > now - timedelta(seconds=60)
            held = fresh and s.scalar(select(Outbox.id).where(Outbox.resident_key == resident_key,
                                                               Outbox.status == "held").limit(1))
        if fresh and not held:
            return
    for attempt in range(2):
        try:
            with session_scope() as s:
                row = s.get(ServiceWindow, resident_key)
                if row is None:
                    row = ServiceWindow(resident_key=resident_key, channel=channel, last_inbound_at=now)
                    s.add(row)
                row.last_inbound_at = now
                if subscribed is not None:
                    row.subscribed = subscribed
                # Messages held back because the window had closed (45015) can go out again.
                s.execute(
                    update(Outbox)
                    .where(Outbox.resident_key == resident_key, Outbox.status == "held")
                    .values(status="pending", next_try=now)
                )
            return
        except IntegrityError:  # two first messages at once; the second pass updates
            continue


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def window_open(resident_key: str, hours: int = 48) -> bool:
    with session_scope() as s:
        row = s.get(ServiceWindow, resident_key)
        if row is None:
            return False
        last = row.last_inbound_at
        if last.tzinfo is None:
            last = last.replace(tzinfo=timezone.utc)
        return last > utcnow() - timedelta(hours=hours)


def _pending_text(resident_key: str, text: Optional[str] = None, *, set_: bool = False) -> Optional[str]:
    with session_scope() as s:
        row = s.get(ServiceWindow, resident_key)
        if row is None:
            if not set_:
                return None
            row = ServiceWindow(resident_key=resident_key, channel=resident_key.split(":", 1)[0])
            s.add(row)
        old = row.pending_text
        if set_:
            row.pending_text = text
        return old


# ---------------------------------------------------------------------------------------------


def _record(resident_key: str, direction: str, text: str, author: str, channel: str) -> None:
    from tickets import service

    try:
        service.record_message(resident_key, direction, text, author, channel)
    except Exception:  # a storage hiccup must not cost the resident an answer
        log.exception("record_message failed")


# Explicit dialogue acts go to Rasa as forced intents: its NLU never decides the road, and the
# resident's own words travel in the metadata (bot/actions reads them there).
FORCED = {"greet": "/greet", "thanks": "/thanks", "bye": "/goodbye", "identity": "/bot_challenge",
          "handoff": "/request_human", "status": "/check_ticket_status", "forget": "/delete_my_data",
          "mediation": "/report_dispute", "affirm": "/affirm", "deny": "/deny", "cancel": "/cancel"}
REPROMPT = {"dispute_summary": "请再说说发生了什么事。", "other_party": "对方是谁？", "location": "您在哪个村或社区？",
            "phone": "请留一个方便联系的手机号。", "preferred_time": "什么时间联系您方便？",
            "consent": "同意把这些信息交给调解员吗？回复「同意」或「不同意」。"}
RESUME_FORM = "我们接着登记："
OUT_OF_SCOPE = "这个我帮不上忙。我能做的是：解答法律问题、登记纠纷找调解员、查办理进度。您有这方面的事吗？"
_QUESTION = re.compile(r"(吗|呢|么|怎么|咋|啥|什么|多少|能不能|可不可以|可以|是否|会不会|要不要|有没有|？|\?)")


def _result(outcome: Optional[str] = None, **kw) -> dict:
    return {"outcome": outcome, "domain": kw.get("domain"), "citations": kw.get("citations") or [],
            "ticket_id": kw.get("ticket_id"), "domains": kw.get("domains") or ([kw["domain"]] if kw.get("domain") else [])}


def _set_result(res: dict) -> None:
    _turn.result = res


def _summarise(customs: list[dict]) -> dict:
    """The last custom payload with an outcome decides; citations/ticket from any of the turn's."""
    out = _result()
    for c in customs:
        if not isinstance(c, dict) or not c.get("outcome"):
            continue
        out["outcome"] = c["outcome"]
        for k in ("domain", "citations", "ticket_id", "domains"):
            if c.get(k):
                out[k] = c[k]
        if "confident" in c:
            out["confident"] = bool(c["confident"])
    return out


def _rasa(msg: InboundMessage, message: str, text: str, extra: Optional[dict] = None) -> list[str]:
    """One Rasa turn; texts back. Raises RasaUnavailable."""
    from bot import rasa_client

    metadata = {"channel": msg.channel, "text": text, **(extra or {})}
    out = rasa_client.turn(msg.resident_key, message, metadata)
    texts = [(m.get("text") or "").strip() for m in out or [] if isinstance(m, dict) and (m.get("text") or "").strip()]
    customs = rasa_client.payloads(out or [])
    _set_result(_summarise(customs))
    if any(isinstance(c, dict) and "deleted" in c for c in customs):
        # 删除我的信息 ran (action_delete_data → forget_resident): clear our own rows too, and
        # keep the goodbye out of the transcript that was just deleted.
        from connectors.store import forget

        forget(msg.resident_key)
        _wipe_tracker(msg.resident_key)
        _turn.forgotten = True
    return texts


def _kb_answer(text: str, tri: Optional[dict]) -> tuple[str, dict]:
    """The knowledge base's answer straight from this process (no Rasa needed)."""
    from knowledge import ask

    r = ask(text)
    answer = r["answer"]
    if tri and tri.get("line"):
        answer = f"{answer}\n{tri['line']}"
    res = _result("answer", domain=r.get("domain"), citations=r.get("citations"))
    res["confident"] = bool(r.get("confident"))
    return answer, res


# As the bot's action_emergency files them (one table in bot/emergency.py).
def _emergency_domain(kind: str) -> str:
    from bot.emergency import DOMAIN_OF_KIND

    return DOMAIN_OF_KIND.get(kind, "综合咨询")


def _escalate(resident_key: str, hit: dict, text: str) -> Optional[str]:
    """Keep the reply's promise (「我已通知工作人员」): an emergency ticket and a handoff, so staff are
    notified at once. One ticket per resident, kind and hour however many messages arrive."""
    from tickets import service

    kind = hit.get("kind") or "violence"
    try:
        t = service.open_ticket(resident_key, domain=_emergency_domain(kind),
                                summary=text[:1000], consent=True, urgency="emergency",
                                idempotency_key=f"emergency:{resident_key}:{kind}:{utcnow():%Y%m%d%H}")
        service.start_handoff(resident_key, f"emergency:{kind}", t.get("number"))
        return t.get("number")
    except Exception:  # the resident already has the hotline answer; staff see the transcript
        log.exception("could not open the emergency ticket / handoff")
        return None


_turn = threading.local()  # per-turn flags and the structured result (a turn runs in one thread)


def last_result() -> dict:
    """outcome / domain / citations / ticket_id of the turn this thread just ran (REST, converse)."""
    return dict(getattr(_turn, "result", None) or _result())


def _record_replies(rk: str, replies: list[str], ch: str) -> None:
    if getattr(_turn, "forgotten", False):  # the resident's data was just deleted
        return
    for r in replies:
        _record(rk, "out", r, "bot", ch)


def _norm(text: str) -> str:
    return _PUNCT.sub("", text).lower()


def _new_question(text: str, slot: Optional[str]) -> bool:
    """A fresh legal question typed while the form waits for a short answer (place, phone, time)."""
    compact = _norm(text)
    return slot not in (None, "dispute_summary") and len(compact) >= 8 and bool(_QUESTION.search(text))


def _converse(msg: InboundMessage, text: str, tri: Optional[dict] = None) -> list[str]:
    """Answer-first routing for a consented resident (not in a handoff): see bot/router.py."""
    from bot import rasa_client, router
    from tickets import service

    if service.in_handoff(msg.resident_key):
        return []  # the message is already on the staff console; the bot stays silent
    act = router.act(text)
    extra = {"triage_line": tri["line"]} if tri and tri.get("line") else {}
    try:
        loop, slot = rasa_client.form_state(msg.resident_key)
        if loop:  # the intake form is open
            if act in ("status", "cancel", "handoff", "forget"):
                texts = _rasa(msg, FORCED[act], text)
            elif _new_question(text, slot) and act is None:
                answer, res = _kb_answer(text, tri)
                _set_result(res)
                texts = [answer, RESUME_FORM + REPROMPT.get(slot or "", "")]
            else:
                texts = _rasa(msg, text, text, extra)  # a slot answer: the form validates it
        elif act:
            texts = _rasa(msg, FORCED[act], text)
        elif router.out_of_scope(text):
            texts = _rasa(msg, "/out_of_scope", text)
        elif router.needs_visit(text):
            texts = _rasa(msg, "/report_dispute", text)
        else:
            texts = _rasa(msg, "/ask_legal_question", text, extra)
    except rasa_client.RasaUnavailable:
        # Degraded: the knowledge base runs here without Rasa, so a question is still answered.
        log.warning("rasa unavailable for a %s message", msg.channel)
        if act is None and not router.out_of_scope(text):
            answer, res = _kb_answer(text, tri)
            _set_result(res)
            texts = [answer]
        elif act is None:
            _set_result(_result("out_of_scope"))
            texts = [OUT_OF_SCOPE]
        else:
            texts = [BOT_DOWN]
    if not texts and not service.in_handoff(msg.resident_key):
        texts = [BOT_SILENT]
    return texts


def _wipe_tracker(resident_key: str) -> None:
    """Forgetting reaches Rasa's tracker store too (in the background: a turn may hold its lock)."""
    try:
        from bot import rasa_client

        rasa_client.delete_conversation(resident_key, background=True)
    except Exception:
        log.exception("could not wipe the Rasa tracker")


def _forget_now(msg: InboundMessage) -> list[str]:
    """删除我的信息 during a handoff (Rasa is paused then): the gateway deletes at once."""
    from connectors.store import forget
    from tickets import service

    try:
        service.forget_resident(msg.resident_key)
    except Exception:
        log.exception("forget_resident failed")
    forget(msg.resident_key)
    _wipe_tracker(msg.resident_key)
    _turn.forgotten = True
    _set_result(_result("status"))
    return [FORGOTTEN]


def process(msg: InboundMessage) -> list[str]:
    """Everything after dedup. Returns the texts to send back (already recorded)."""
    from bot import emergency
    from tickets import service

    rk, ch = msg.resident_key, msg.channel
    replies: list[str] = []
    _turn.forgotten = False
    _turn.result = None

    if msg.kind == "event":
        ev = (msg.event or "").lower()
        if ev == "unsubscribe":
            touch_window(rk, ch, subscribed=False)
            return []
        touch_window(rk, ch, subscribed=True if ev == "subscribe" else None)
        if ev == "subscribe":
            replies = [WELCOME_BACK] if service.has_consent(rk) else [WELCOME + "\n\n" + PRIVACY_NOTICE]
        elif ev == "location" and msg.lat is not None and service.has_consent(rk):
            service.set_location(rk, label=msg.label, lat=msg.lat, lon=msg.lon)  # periodic report: silent
        for r in replies:
            _record(rk, "out", r, "bot", ch)
        return replies

    touch_window(rk, ch)
    text = msg.text
    if msg.kind == "voice":
        shown = f"[语音] {text}" if text else "[语音]"
    elif msg.kind == "image":
        shown = "[图片]"
    elif msg.kind == "location":
        shown = f"[位置] {msg.label or ''} ({msg.lat},{msg.lon})"
    else:
        shown = text
    _record(rk, "in", shown, "resident", ch)

    # Triage first: neither the consent notice nor a handoff may swallow a danger.
    tri = None
    if text:
        tri = emergency.triage(text)
        if tri and tri.get("tier") == "danger_now":
            replies.append(tri["reply"])
            answer = _answer_too(text)  # the question in the message is answered as well
            if answer:
                replies.append(answer)
            if not service.has_consent(rk):
                replies.append(PRIVACY_NOTICE)
            for r in replies:
                _record(rk, "out", r, "bot", ch)
            number = _escalate(rk, tri, text)
            _set_result(_result("emergency", domain=_emergency_domain(tri.get("kind", "")), ticket_id=number))
            return replies

    consented = service.has_consent(rk)
    if not consented:
        n = _norm(text)
        if n in _CONSENT_YES:
            service.record_consent(rk, True)
            pending = _pending_text(rk, None, set_=True)
            if pending:
                ptri = emergency.triage(pending, semantic=False)
                replies = _converse(msg, pending, ptri if ptri and ptri.get("tier") == "harm_past" else None)
                replies = (["谢谢您的信任！\n" + replies[0]] + replies[1:]) if replies else ["谢谢您的信任！"]
            else:
                replies = [CONSENT_THANKS]
                _set_result(_result("chitchat"))
        elif n in _CONSENT_NO:
            _pending_text(rk, None, set_=True)
            try:
                service.forget_resident(rk)
            except Exception:
                log.exception("forget_resident failed")
            from connectors.store import forget

            forget(rk)
            _wipe_tracker(rk)
            service.record_consent(rk, False)
            return [CONSENT_DECLINED]  # nothing more is stored
        else:
            if msg.kind in ("text", "voice") and text:
                _pending_text(rk, text[:2000], set_=True)
            replies = [PRIVACY_NOTICE]
        for r in replies:
            _record(rk, "out", r, "bot", ch)
        return replies

    if msg.kind == "image":
        replies = [] if service.in_handoff(rk) else [IMAGE_REPLY]
    elif msg.kind == "location":
        service.set_location(rk, label=msg.label, lat=msg.lat, lon=msg.lon)
        replies = [] if service.in_handoff(rk) else [LOCATION_REPLY.format(label=msg.label or "已记下")]
    elif msg.kind == "voice" and not text:
        replies = [] if service.in_handoff(rk) else [VOICE_UNCLEAR]
    elif not text:
        replies = []
    else:
        from bot import router

        thanks = None if service.in_handoff(rk) else _feedback_reply(rk, text, ch)
        if service.in_handoff(rk) and router.act(text) == "forget":
            replies = _forget_now(msg)  # forgetting comes before handoff routing
        elif thanks:
            replies = [thanks]  # 「有帮助」/「没帮助」 after an answer
            _set_result(_result("chitchat"))
        else:
            replies = _converse(msg, text, tri)
    _record_replies(rk, replies, ch)
    if text and replies and not getattr(_turn, "forgotten", False):
        _note_unanswered(rk, text, ch, replies)
    return replies


def _feedback_reply(rk: str, text: str, ch: str) -> Optional[str]:
    try:
        from tickets import feedback

        return feedback.handle_reply(rk, text, ch)
    except Exception:
        log.exception("feedback check failed")
        return None


def _note_unanswered(rk: str, text: str, ch: str, replies: list[str]) -> None:
    """"Not sure" answers and fallbacks go to the maintainers' 未解答 inbox."""
    res = getattr(_turn, "result", None) or {}
    kind = None
    if res.get("outcome") == "answer" and res.get("confident") is False:
        kind = "unsure"
    elif replies == [BOT_SILENT]:
        kind = "fallback"
    if kind:
        try:
            from tickets import feedback

            feedback.mark_unanswered(rk, kind, question=text, channel=ch)
        except Exception:
            log.exception("mark_unanswered failed")


def _answer_too(text: str) -> Optional[str]:
    """In danger, a message can still hold a question (「煤气味好大…能告燃气公司吗」): answer it when
    the knowledge base is sure, after the safety line."""
    if not _QUESTION.search(text):
        return None
    try:
        from knowledge import ask

        r = ask(text)
    except Exception:
        log.exception("knowledge.ask failed in an emergency turn")
        return None
    return r["answer"] if r.get("confident") else None


SORRY = "抱歉，系统出了点问题，请稍后再发一次。"


def handle(msg: InboundMessage) -> list[str]:
    """The shared path. A duplicate (same channel + msg_key) gets [] and causes no bot turn."""
    if msg.msg_key and not claim(msg.channel, msg.msg_key, msg.resident_key):
        return []
    try:
        replies = process(msg)
    except Exception:
        log.exception("gateway failed on a %s message", msg.channel)
        replies = [SORRY]
    if msg.msg_key:
        try:
            finish(msg.channel, msg.msg_key, replies)
        except Exception:
            log.exception("could not store the turn result")
    return replies


# A small shared pool for channels that answer asynchronously (WeChat after 4 s, WeCom).
_pool_lock = threading.Lock()
_pool = None


def pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="mingbai-turn")
        return _pool
