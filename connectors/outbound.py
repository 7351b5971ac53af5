"""Messages that start on our side (staff replies in a handoff, SLA notices, late bot answers)
go out through the resident's own channel.

wechat → customer-service API via the outbox retry queue (48 h window honoured)
wecom  → message/send via the same queue
web    → the web chat's pending queue (the page polls it)
rest / cli → stored for polling (GET /api/v1/messages)

Every such message is a row of the outbox (mingbai.outbox.Outbox). The connectors write theirs
here, already split for the channel; areas below the connectors (tickets) write theirs with
mingbai.outbox.put in their own transaction, and the WeChat/WeCom worker (connectors.wechat_api)
splits and sends those.
"""
from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import func, select, update

from connectors import wechat_api
from connectors.message import channel_of
from connectors.split import WECOM_TEXT_BYTES, split_for  # noqa: F401  (WECOM_TEXT_BYTES: public name)
from mingbai.db import session_scope
from mingbai.outbox import CHANNELS, Outbox, utcnow

log = logging.getLogger(__name__)


def send(resident_key: str, text: str, *, author: str = "staff", dedup_key: Optional[str] = None) -> bool:
    """Queue `text` for the resident. True when it was accepted for delivery."""
    channel = channel_of(resident_key)
    text = (text or "").strip()
    if channel not in CHANNELS or not text:
        log.warning("outbound.send: cannot deliver to channel %r", channel)
        return False
    parts = split_for(channel, text)
    ok = False
    for i, part in enumerate(parts):
        key = f"{dedup_key}:{i}" if dedup_key else None
        rid = wechat_api.enqueue(resident_key, channel, part, author=author, dedup_key=key)
        ok = ok or rid is not None or key is not None
    return ok


def poll(resident_key: str, after_id: int = 0, limit: int = 50) -> list[dict]:
    """Messages waiting for a polling channel (web/rest/cli), oldest first; marks them read."""
    with session_scope() as s:
        rows = s.scalars(
            select(Outbox)
            .where(Outbox.resident_key == resident_key, Outbox.id > after_id)
            .where(Outbox.channel.in_(("web", "rest", "cli")))
            .order_by(Outbox.id)
            .limit(limit)
        ).all()
        out = [{"id": r.id, "text": r.text, "author": r.author,
                "at": r.created_at.isoformat() if r.created_at else None} for r in rows]
        ids = [r.id for r in rows if r.status == "pending"]
        if ids:
            s.execute(update(Outbox).where(Outbox.id.in_(ids)).values(status="polled", sent_at=utcnow()))
    return out


def last_id(resident_key: str) -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.coalesce(func.max(Outbox.id), 0))
                            .where(Outbox.resident_key == resident_key)) or 0)
