"""Degraded mode, nothing lost: messages that need the bot while Rasa or the action server is down.

While the bot is down the gateway still answers legal questions from the knowledge base (that runs
in this process). Every other message that needs the bot — 转人工, 查进度, 我要调解, 取消, an answer
to the intake form — is queued here (connector_deferred_turn) with the resident, the channel, how
replies reach them and the text; the resident is told once (NOTICE), not on every queued message.

Once the bot answers again, `drain` replays the queued messages through the gateway's normal turn
(gateway.replay), oldest first and one at a time per resident, and puts the replies into the
outbox in the same transaction that deletes the queued row: the WeChat / WeCom worker sends them
through the customer-service / app API (48 h window honoured), the web chat page and REST clients
poll them. A row is leased while it is replayed, so several processes can drain at once without a
resident's messages overtaking each other; a crashed drainer's lease expires and the row is
replayed again (at least once for the bot turn, exactly once for the outbox: the replies' dedup
keys carry the row's random `ref`).

Triggers: the connectors' outbox worker loop (connectors.wechat_api._loop) calls `drain_due`
every pass (a cheap check; a new drain at most every RETRY_DOWN_S while the bot stays down), and
every turn that reached the bot calls `kick` (gateway._rasa), so the backlog goes as soon as Rasa
is back. 删除我的信息 deletes the resident's queued rows (connectors.store.forget).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Optional

from sqlalchemy import delete, func, or_, select, update

from connectors.message import InboundMessage
from connectors.store import DeferredTurn
from mingbai import outbox
from mingbai.db import session_scope
from mingbai.outbox import utcnow

log = logging.getLogger(__name__)

NOTICE = "系统正在恢复，您的消息已经记下，恢复后马上回复您。着急的话，可以拨打 12348 法律援助热线。"
LATE = "关于您之前发的“{said}”：\n"   # before a replayed reply: it may come minutes later
GAVE_UP = "抱歉，您之前发的“{said}”没能处理好，请再发一次。"
DRAIN_LEASE_S = 120.0   # one replay: a bot turn (≤ ~40 s) with ample room
RETRY_DOWN_S = 5.0      # while the bot stays down, the worker tries a drain this often
MAX_ATTEMPTS = 5        # replays that failed for another reason than the bot being down
RETRY_FAILED_S = 30.0
PARALLEL = 4            # residents replayed at once (each one's messages strictly in order)
MAX_TEXT = 4000


def route_of(channel: str) -> str:
    return f"{'push' if channel in outbox.PUSHED else 'poll'}:{channel}"


def put(msg: InboundMessage, text: str, triage_line: Optional[str] = None) -> bool:
    """Queue one message. True when it is the resident's only waiting message (tell them once).
    A message already queued (same channel and dedup key: a retry took over the turn that queued
    it and then died) is not queued again: it would be answered twice."""
    key = (msg.msg_key or None) and msg.msg_key[:160]
    with session_scope() as s:
        if key and s.scalar(select(DeferredTurn.id).where(DeferredTurn.channel == msg.channel,
                                                          DeferredTurn.msg_key == key).limit(1)) is not None:
            return False
        first = s.scalar(select(DeferredTurn.id).where(DeferredTurn.resident_key == msg.resident_key)
                         .limit(1)) is None
        s.add(DeferredTurn(ref=uuid.uuid4().hex, resident_key=msg.resident_key, channel=msg.channel,
                           route=route_of(msg.channel), msg_key=key,
                           text=text[:MAX_TEXT], triage_line=triage_line, attempts=0))
    _hint.set()
    log.info("bot down: a %s message queued for later", msg.channel)
    return first


def waiting(resident_key: str) -> bool:
    """Does this resident have messages waiting for the bot?"""
    with session_scope() as s:
        return s.scalar(select(DeferredTurn.id).where(DeferredTurn.resident_key == resident_key).limit(1)) is not None


def backlog() -> int:
    """Messages waiting for the bot, all residents (doctor, tests)."""
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(DeferredTurn)) or 0)


# ---------------------------------------------------------------------------------------------
# Draining

_pass_lock = threading.Lock()       # one drain pass per process at a time
_hint = threading.Event()           # set: something may be waiting (queued here, or seen by the worker)
_state = {"next_try": 0.0}          # monotonic time before which drain_due does not start a pass


def drain() -> dict:
    """One pass: replay every waiting message, oldest first per resident. Returns
    {"replayed": n, "down": the bot was still down, "busy": another pass runs in this process}."""
    if not _pass_lock.acquire(blocking=False):
        return {"replayed": 0, "down": False, "busy": True}
    try:
        with session_scope() as s:
            residents = s.execute(
                select(DeferredTurn.resident_key, func.min(DeferredTurn.id).label("first"))
                .group_by(DeferredTurn.resident_key).order_by("first")
            ).all()
        if not residents:
            _hint.clear()
            return {"replayed": 0, "down": False, "busy": False}
        keys = [r[0] for r in residents]
        if len(keys) == 1:
            results = [_drain_resident(keys[0])]
        else:
            with ThreadPoolExecutor(min(PARALLEL, len(keys)), thread_name_prefix="mingbai-drain") as ex:
                results = list(ex.map(_drain_resident, keys))
        replayed, down = sum(n for n, _ in results), any(d for _, d in results)
        _state["next_try"] = time.monotonic() + (RETRY_DOWN_S if down else 0.0)
        if replayed:
            log.info("bot back: %s queued message(s) answered", replayed)
        return {"replayed": replayed, "down": down, "busy": False}
    finally:
        _pass_lock.release()


def drain_due() -> bool:
    """For the worker loop: start a drain pass in the background when messages wait and it is
    time. Cheap when nothing waits (one indexed SELECT). True when a pass was started."""
    if _pass_lock.locked() or time.monotonic() < _state["next_try"]:
        return False
    try:
        with session_scope() as s:
            if s.scalar(select(DeferredTurn.id).limit(1)) is None:
                _hint.clear()
                return False
    except Exception as e:  # e.g. the schema not migrated yet
        log.warning("deferred check failed: %s", type(e).__name__)
        return False
    _start_pass()
    return True


def kick(force: bool = False) -> None:
    """A turn just reached the bot: if messages may be waiting (queued in this process since the
    last empty pass, or `force`: the caller saw some), drain them now, in the background."""
    if force:
        _hint.set()
    elif not _hint.is_set():
        return
    _state["next_try"] = 0.0
    if not _pass_lock.locked():
        _start_pass()


def _start_pass() -> None:
    def run() -> None:
        try:
            drain()
        except Exception:
            log.exception("drain of queued messages failed")

    threading.Thread(target=run, name="mingbai-drain", daemon=True).start()


def _drain_resident(resident_key: str) -> tuple[int, bool]:
    """Replay this resident's messages in order until none is left, the bot is down, or another
    process holds the head of the queue. Returns (replayed, bot down)."""
    n = 0
    while True:
        row = _claim_head(resident_key)
        if row is None:
            return n, False
        outcome = _replay(row)
        if outcome == "down":
            return n, True
        if outcome == "retry":
            return n, False
        n += 1


def _claim_head(resident_key: str) -> Optional[DeferredTurn]:
    """Lease the resident's oldest waiting row; None when there is none or someone else holds it
    (the next row is never taken while an earlier one is being replayed)."""
    now = utcnow()
    with session_scope() as s:
        head = s.scalar(select(DeferredTurn).where(DeferredTurn.resident_key == resident_key)
                        .order_by(DeferredTurn.id).limit(1))
        if head is None:
            return None
        won = s.execute(
            update(DeferredTurn)
            .where(DeferredTurn.id == head.id,
                   or_(DeferredTurn.locked_until.is_(None), DeferredTurn.locked_until < now))
            .values(locked_until=now + timedelta(seconds=DRAIN_LEASE_S))
        ).rowcount == 1
        return head if won else None


def _said(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 20 else text[:20] + "…"


def _replay(row: DeferredTurn) -> str:
    """done | down (bot still down; row released) | retry (failed; tried again later)."""
    from bot.rasa_client import RasaUnavailable
    from connectors import gateway

    msg = InboundMessage(row.resident_key, row.channel, text=row.text, msg_key=row.msg_key)
    try:
        replies = gateway.replay(msg, row.triage_line)
    except RasaUnavailable:
        with session_scope() as s:
            s.execute(update(DeferredTurn).where(DeferredTurn.id == row.id).values(locked_until=None))
        return "down"
    except Exception:
        log.exception("replay of a queued %s message failed", row.channel)
        attempts = row.attempts + 1
        if attempts < MAX_ATTEMPTS:
            with session_scope() as s:
                s.execute(update(DeferredTurn).where(DeferredTurn.id == row.id).values(
                    attempts=attempts, locked_until=utcnow() + timedelta(seconds=RETRY_FAILED_S)))
            return "retry"
        _deliver(row, [GAVE_UP.format(said=_said(row.text))], late=False)  # tell, rather than drop it
        return "done"
    _deliver(row, replies)
    return "done"


def _deliver(row: DeferredTurn, replies: list[str], late: bool = True) -> None:
    """The replies into the outbox and the row out of the queue, in one transaction."""
    texts = [r.strip() for r in replies if r and r.strip()]
    if texts and late:
        texts[0] = LATE.format(said=_said(row.text)) + texts[0]
    push = row.route.startswith("push:")
    parts = ["\n\n".join(texts)] if push and texts else texts  # one customer-service message per turn
    with session_scope() as s:
        if s.execute(delete(DeferredTurn).where(DeferredTurn.id == row.id)).rowcount != 1:
            return  # forgotten meanwhile (删除我的信息): nothing goes out
        for i, text in enumerate(parts):
            outbox.put(s, row.resident_key, text, author="bot", dedup_key=f"deferred:{row.ref}:{i}")
    if parts:
        outbox.wake()
        if push:
            from connectors import wechat_api

            wechat_api.ensure_worker()


__all__ = ["NOTICE", "put", "waiting", "backlog", "drain", "drain_due", "kick", "route_of"]
