"""The one shared path for every channel:

dedup → record_message → emergency check → first contact (privacy notice + consent)
→ handoff? (message only to the staff console) → bot → record bot replies → reply texts.

The emergency check runs right after the message is recorded, before the consent notice or a
handoff could swallow it: an emergency always gets the hotline answer.

While the bot (Rasa or the action server) is down, questions are answered from the knowledge base
and the other messages are queued and answered once it is back (connectors.deferred, `replay`).
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
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
# Deduplication with a lease. One DB row per (channel, msg_key) — the unique constraint makes the
# first request the owner — which also carries the turn's result, so retries in any process can
# wait for it and get the same replies. Redis (when configured) is only a fast path in front.
#
# The lease: an owner keeps its row fresh (updated_at) while the turn runs — a heartbeat renews
# every in-flight claim of this process every lease/4 — so a row in state `processing` that has
# not moved for `dedup_lease_s` has no live owner (the process crashed, or the database went away
# under the turn and `finish` never landed). A retry of the same message then takes it over with
# one conditional UPDATE (… WHERE state != 'done' AND updated_at < now - lease): exactly one
# retry wins, and the message is answered instead of dropped. WeChat retries ~5 s and ~10 s after
# the first try, so the lease (default 6 s) stays under that window; slow turns need no room in
# it because they renew. A takeover of a live but stalled owner costs a second bot turn, not a
# second answer: delivery is decided once (mark_delivered) for WeChat.
#
# Redis: SET NX with the lease as TTL while processing, replaced by a long "done" key on finish.
# A "done" key answers at once; any other existing key falls through to the DB check, so a Redis
# key can never block a legitimate takeover, and a failed DB write after the NX removes the key
# again. The heartbeat renews the DB rows only: a hung Redis (each call waits for its timeout)
# must never delay the lease that the DB check trusts, or a retry takes over a live turn.
# After a Redis error the fast path is skipped for REDIS_PAUSE_S, so an outage costs one timeout,
# not one per call (claim, form hint …) inside WeChat's 5 s.

DONE_TTL_S = 3 * 86400
REDIS_PAUSE_S = 5.0
_redis_down_until: dict[str, float] = {}  # URL -> monotonic time before which Redis is skipped


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _lease_s() -> float:
    return float(get_settings().dedup_lease_s)


def _rkey(channel: str, msg_key: str) -> str:
    return f"mingbai:dedup:{channel}:{msg_key}"


def _redis_do(fn) -> Optional[object]:
    """Run fn(redis client) when Redis is configured; None when it is not or is unreachable."""
    url = get_settings().redis_url
    if not url or time.monotonic() < _redis_down_until.get(url, 0.0):
        return None
    try:
        return fn(_redis(url))
    except Exception as e:  # Redis down: the DB row still deduplicates
        log.warning("redis dedup unavailable: %s", type(e).__name__)
        _redis_down_until[url] = time.monotonic() + REDIS_PAUSE_S
        return None


# Claims this process owns and is still working on: (channel, msg_key[:160]) -> claimed at.
_inflight: dict[tuple[str, str], float] = {}
# Of those, the ones taken over from a dead turn -> when that turn claimed the message: it may
# have recorded the message already (process() then does not record it again).
_retaken: dict[tuple[str, str], datetime] = {}
_inflight_lock = threading.Lock()
_heartbeat: Optional[threading.Thread] = None
INFLIGHT_MAX_S = 600.0  # a claim never finished in 10 min (a bug, not a turn): stop renewing it


def _own(channel: str, key: str) -> None:
    global _heartbeat
    with _inflight_lock:
        _inflight[(channel, key)] = time.monotonic()
        if _heartbeat is None or not _heartbeat.is_alive():
            _heartbeat = threading.Thread(target=_renew_loop, name="mingbai-dedup-lease", daemon=True)
            _heartbeat.start()


def _release(channel: str, key: str) -> None:
    with _inflight_lock:
        _inflight.pop((channel, key), None)
        _retaken.pop((channel, key), None)


def renew_leases() -> int:
    """Renew the lease (the DB row; never Redis, see above) of every claim this process is still
    working on. Returns rows renewed."""
    now_m = time.monotonic()
    with _inflight_lock:
        for k in [k for k, t in _inflight.items() if now_m - t > INFLIGHT_MAX_S]:
            _inflight.pop(k, None)
            _retaken.pop(k, None)
        keys = list(_inflight)
    if not keys:
        return 0
    by_channel: dict[str, list[str]] = {}
    for ch, key in keys:
        by_channel.setdefault(ch, []).append(key)
    n = 0
    with session_scope() as s:
        for ch, ks in by_channel.items():
            n += s.execute(
                update(InboundDedup)
                .where(InboundDedup.channel == ch, InboundDedup.msg_key.in_(ks), InboundDedup.state != "done")
                .values(updated_at=utcnow())
            ).rowcount or 0
    return n


def _renew_loop() -> None:
    while True:
        time.sleep(max(0.25, _lease_s() / 4))
        try:
            renew_leases()
        except Exception as e:  # the DB is away: the turn itself will notice; try again
            log.warning("dedup lease renewal failed: %s", type(e).__name__)


def claim(channel: str, msg_key: str, resident_key: str = "") -> bool:
    """True when this caller owns the turn of (channel, msg_key): the first to see it, or a retry
    taking over a turn whose owner stopped renewing its lease (crashed). False for a duplicate of
    a finished turn or of one still in progress. Raises when the database cannot be reached."""
    key = msg_key[:160]
    lease = _lease_s()
    ttl = max(1, math.ceil(lease))
    # True: our key; False: a key exists; None: no Redis (or unreachable) — the DB decides alone.
    got = _redis_do(lambda r: bool(r.set(_rkey(channel, key), "p", nx=True, ex=ttl)))
    if got is False and _redis_do(lambda r: r.get(_rkey(channel, key))) == b"d":
        return False  # finished: its stored replies answer (record_of)
    try:
        won = _claim_db(channel, key, resident_key, lease)
    except Exception:
        if got:  # never leave our NX key behind a claim that did not happen
            _redis_do(lambda r: r.delete(_rkey(channel, key)))
        raise
    if won:
        _own(channel, key)
        if got is False:  # a takeover: the key follows the DB row again
            _redis_do(lambda r: r.set(_rkey(channel, key), "p", ex=ttl))
    # Not won with our fresh NX key (Redis lost its keys while the row lives on): the key says
    # "processing" for one lease and the next retry asks the DB again, so it blocks nothing.
    return won


def _claim_db(channel: str, key: str, resident_key: str, lease: float) -> bool:
    try:
        with session_scope() as s:
            s.add(InboundDedup(channel=channel, msg_key=key, resident_key=resident_key, state="processing"))
        return True
    except IntegrityError:
        pass
    now = utcnow()
    with session_scope() as s:
        res = s.execute(
            update(InboundDedup)
            .where(InboundDedup.channel == channel, InboundDedup.msg_key == key,
                   InboundDedup.state != "done", InboundDedup.updated_at < now - timedelta(seconds=lease))
            .values(state="processing", updated_at=now)
        )
        won = res.rowcount == 1
        if won:
            since = s.scalar(select(InboundDedup.created_at)
                             .where(InboundDedup.channel == channel, InboundDedup.msg_key == key))
            with _inflight_lock:
                _retaken[(channel, key)] = _aware(since or now)
    if won:
        log.warning("dedup: took over a stale %s turn (no lease renewal for %.0f s)", channel, lease)
    return won


def finish(channel: str, msg_key: str, replies: list[str]) -> None:
    key = msg_key[:160]
    try:
        with session_scope() as s:
            s.execute(
                update(InboundDedup)
                .where(InboundDedup.channel == channel, InboundDedup.msg_key == key)
                .values(state="done", replies=list(replies), updated_at=utcnow())
            )
    finally:
        _release(channel, key)
    _redis_do(lambda r: r.set(_rkey(channel, key), "d", ex=DONE_TTL_S))


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


def _recorded_since(resident_key: str, text: str, since: datetime) -> bool:
    """A retried turn (the first one died): did the dead turn record the message already? It did
    so after its claim (`since`), in its own process, so with a time not before it."""
    from tickets.models import Message

    try:
        with session_scope() as s:
            texts = s.scalars(
                select(Message.text)
                .where(Message.resident_key == resident_key, Message.direction == "in",
                       Message.author == "resident", Message.created_at >= since)
                .order_by(Message.id.desc()).limit(20)
            ).all()
        return text in texts
    except Exception:  # unsure: record it (twice beats never)
        log.exception("transcript check failed")
        return False


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
FORGET_CONFIRM = "您是想删除您在这里留下的信息和聊天记录吗？如果是，请回复「删除我的信息」，删除后不能恢复。"
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
    if not texts and not customs and _actions_down():
        # Rasa runs a turn whose custom action cannot reach the action server, logs it and
        # answers 200 with nothing: that is the bot being down, not a turn with nothing to say.
        raise rasa_client.RasaUnavailable("the action server is down")
    if not getattr(_turn, "draining", False):
        from connectors import deferred

        deferred.kick()  # the bot answers: messages queued while it was down can go now
    _set_result(_summarise(customs))
    if any(isinstance(c, dict) and "deleted" in c for c in customs):
        # 删除我的信息 ran (action_delete_data → forget_resident): clear our own rows too, and
        # keep the goodbye out of the transcript that was just deleted.
        from connectors.store import forget

        forget(msg.resident_key)
        _wipe_tracker(msg.resident_key)
        _turn.forgotten = True
    return texts


def _actions_down(timeout: float = 0.5) -> bool:
    """The action server's /health does not answer 200 (it runs on this host: rasa_runtime)."""
    import requests

    url = f"http://127.0.0.1:{get_settings().action_port}/health"
    try:
        with requests.Session() as http:
            http.trust_env = False  # loopback: never through a proxy
            return http.get(url, timeout=timeout).status_code != 200
    except requests.RequestException:
        return True


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


# Whether the intake form was (probably) open after this resident's last turn: while the bot is
# down a short answer to the form's question must wait for the form, not go to the knowledge base.
# In this process (bounded), and in Redis when configured, so that every web worker of the scale
# profile knows it; unknown (a restart without Redis) falls back to the wording.
_form_hint: "OrderedDict[str, bool]" = OrderedDict()
_form_lock = threading.Lock()
_FORM_HINT_MAX = 20000
FORM_HINT_TTL_S = 86400


def _note_form(resident_key: str, open_: bool) -> None:
    with _form_lock:
        _form_hint[resident_key] = open_
        _form_hint.move_to_end(resident_key)
        while len(_form_hint) > _FORM_HINT_MAX:
            _form_hint.popitem(last=False)
    _redis_do(lambda r: r.set(_form_key(resident_key), b"1" if open_ else b"0", ex=FORM_HINT_TTL_S))


def _form_key(resident_key: str) -> str:
    # Hashed: no openid in Redis; the key expires within a day (and says only open / closed).
    return "mingbai:formhint:" + hashlib.sha256(resident_key.encode()).hexdigest()[:32]


def _form_open(resident_key: str) -> Optional[bool]:
    shared = _redis_do(lambda r: r.get(_form_key(resident_key)))
    if shared is not None:
        return shared == b"1"
    return _form_hint.get(resident_key)


def _kb_may_answer(resident_key: str, text: str) -> bool:
    """While the bot is down: may the knowledge base answer this message (no dialogue act) now,
    or is it an answer for the intake form (a name, a place, a time) that must wait for the bot?"""
    n = len(_norm(text))
    if _QUESTION.search(text) and n >= 4:
        return True  # a question
    if _form_open(resident_key):
        return False  # the form was waiting for an answer
    return n >= 8  # a description of a problem; short words wait for the bot


def _defer(msg: InboundMessage, text: str, tri: Optional[dict]) -> list[str]:
    """Queue the message for when the bot is back (connectors.deferred); tell the resident once."""
    from connectors import deferred

    try:
        first = deferred.put(msg, text, tri.get("line") if tri else None)
    except Exception:  # the database is away too: the message cannot be kept
        log.exception("could not queue a %s message for later", msg.channel)
        return [BOT_DOWN]
    _turn.deferred = True
    _set_result(_result("deferred"))
    return [deferred.NOTICE] if first else []


def _converse(msg: InboundMessage, text: str, tri: Optional[dict] = None) -> list[str]:
    """Answer-first routing for a consented resident (not in a handoff): see bot/road.py.

    With the bot (Rasa or the action server) down: questions are answered from the knowledge base,
    out-of-scope gets its polite text, 删除我的信息 is done at once, and everything else is queued
    and answered once the bot is back (connectors.deferred). While a resident's earlier messages
    still wait, a new one goes behind them, so the answers keep the order the messages came in."""
    from bot import rasa_client, road, router
    from tickets import service

    if service.in_handoff(msg.resident_key):
        return []  # the message is already on the staff console; the bot stays silent
    act = router.act(text)
    extra = {"triage_line": tri["line"]} if tri and tri.get("line") else {}
    draining = getattr(_turn, "draining", False)  # a queued message replayed (replay below)
    _turn.deferred = False
    try:
        loop, slot = rasa_client.form_state(msg.resident_key)
        if not draining and act != "forget":
            from connectors import deferred

            if deferred.waiting(msg.resident_key):
                if _actions_down():
                    raise rasa_client.RasaUnavailable("the action server is down")
                texts = _defer(msg, text, tri)  # behind the earlier ones; they go now
                deferred.kick(force=True)
                return texts
        if loop:  # the intake form is open
            if act in ("status", "cancel", "handoff", "forget"):
                texts = _rasa(msg, FORCED[act], text)
            elif _new_question(text, slot) and act is None:
                answer, res = _kb_answer(text, tri)
                _set_result(res)
                texts = [answer, RESUME_FORM + REPROMPT.get(slot or "", "")]
            else:
                texts = _rasa(msg, text, text, extra)  # a slot answer: the form validates it
            _note_form(msg.resident_key, act not in ("cancel", "handoff", "forget"))
        else:
            way = road.road(text, act)
            if way == "answer":
                texts = _rasa(msg, "/ask_legal_question", text, extra)
            elif way == "out_of_scope":
                texts = _rasa(msg, "/out_of_scope", text)
            elif way == "forget_confirm":
                _set_result(_result("forget"))
                texts = [FORGET_CONFIRM]
            else:
                texts = _rasa(msg, FORCED[way], text)
            _note_form(msg.resident_key, way == "mediation")
    except rasa_client.RasaUnavailable:
        if draining:
            raise  # the drain stops and tries again later
        # Degraded: the knowledge base runs here without Rasa, so a question is still answered.
        log.warning("rasa unavailable for a %s message", msg.channel)
        if act is None and router.out_of_scope(text):
            _set_result(_result("out_of_scope"))
            texts = [OUT_OF_SCOPE]
        elif act is None and _kb_may_answer(msg.resident_key, text):
            answer, res = _kb_answer(text, tri)
            _set_result(res)
            texts = [answer]
        elif act == "forget":
            texts = _forget_now(msg)  # needs no bot; the queued messages go with the rest
        else:
            texts = _defer(msg, text, tri)
    if not texts and not getattr(_turn, "deferred", False) and not service.in_handoff(msg.resident_key):
        texts = [BOT_SILENT]
    return texts


def replay(msg: InboundMessage, triage_line: Optional[str] = None) -> list[str]:
    """The turn of a message queued while the bot was down (connectors.deferred). The message was
    recorded, triaged and consented when it came; the routing, the bot turn and the replies'
    record happen now. Returns the replies (the caller delivers them). Raises RasaUnavailable
    while the bot is still down."""
    from tickets import service

    rk, ch = msg.resident_key, msg.channel
    _turn.forgotten = False
    _turn.result = None
    _turn.draining = True
    try:
        if not service.has_consent(rk):
            return []
        replies = _converse(msg, msg.text, {"line": triage_line} if triage_line else None)
    finally:
        _turn.draining = False
    _record_replies(rk, replies, ch)
    if replies and not getattr(_turn, "forgotten", False):
        _note_unanswered(rk, msg.text, ch, replies)
    return replies


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
    from bot import emergency, road
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
    since = _retaken.pop((ch, msg.msg_key[:160]), None) if msg.msg_key else None
    if since is None or not _recorded_since(rk, shown, since):
        _record(rk, "in", shown, "resident", ch)

    # Triage first: neither the consent notice nor a handoff may swallow a danger.
    tri = None
    if text:
        tri = road.triage(text)
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
                if not getattr(_turn, "forgotten", False):
                    _note_unanswered(rk, pending, ch, replies)  # the held question, not 「同意」
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
