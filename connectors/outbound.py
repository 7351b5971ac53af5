"""Messages that start on our side (staff replies in a handoff, SLA notices, late bot answers)
go out through the resident's own channel.

wechat → customer-service API via the outbox retry queue (48 h window honoured)
wecom  → message/send via the same queue
web    → the web chat's pending queue (the page polls it)
rest / cli → stored for polling (GET /api/v1/messages)
"""
from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import select, update

from connectors.message import channel_of
from connectors.split import WECHAT_TEXT_BYTES, split_message
from connectors.store import Outbox, utcnow
from mingbai.db import session_scope

log = logging.getLogger(__name__)

CHANNELS = {"wechat", "wecom", "web", "rest", "cli"}
WECOM_TEXT_BYTES = 2000


def send(resident_key: str, text: str, *, author: str = "staff", dedup_key: Optional[str] = None) -> bool:
    """Queue `text` for the resident. True when it was accepted for delivery."""
    from connectors import wechat_api

    channel = channel_of(resident_key)
    text = (text or "").strip()
    if channel not in CHANNELS or not text:
        log.warning("outbound.send: cannot deliver to channel %r", channel)
        return False
    if channel in ("wechat", "wecom"):
        limit = WECHAT_TEXT_BYTES if channel == "wechat" else WECOM_TEXT_BYTES
        parts = split_message(text, limit)
    else:
        parts = [text]
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
    from sqlalchemy import func

    with session_scope() as s:
        return int(s.scalar(select(func.coalesce(func.max(Outbox.id), 0))
                            .where(Outbox.resident_key == resident_key)) or 0)
