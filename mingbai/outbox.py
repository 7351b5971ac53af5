"""The outbox: every message that starts on our side (staff replies, SLA and ticket notices,
late bot answers, pushes to staff) is a row here first; the channel senders drain it.

A transactional outbox. Areas below the connectors (tickets) write their rows with `put` inside
the same transaction as the change that caused them — both commit or neither does — and never
import the connectors. The connectors own delivery:

- WeChat / WeCom rows: the connectors' worker (connectors.wechat_api.process_due) splits a
  ``queued`` row to the channel's size limit, then sends it with retries (48 h window honoured);
- web / REST / terminal rows: read by polling (connectors.outbound.poll).

Row status: queued (written by `put`, not yet split for a push channel) → pending → sent | polled;
failed (retried with back-off); held / passive_wait (WeChat limits, released by the resident's next
message); dead (gave up).

Same table as before (``connector_outbox``): the model moved here from connectors.store, which
re-exports it.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import DateTime, Index, Integer, String, Text, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from mingbai.crypto_fields import EncryptedText
from mingbai.db import Base, session_scope

log = logging.getLogger(__name__)

PUSHED = ("wechat", "wecom")        # sent by the connectors' worker
POLLED = ("web", "rest", "cli")     # read by the page / API / terminal that polls
CHANNELS = PUSHED + POLLED
# How long `send` waits for the worker's first attempt on a push channel, so a console can say
# 「已发送」 only for texts that really went out (held / failed ones are reported as not yet sent).
CONFIRM_WAIT_S = 2.5


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Outbox(Base):
    """Outgoing messages: the retry queue for WeChat/WeCom and the pending queue for web/rest/cli."""

    __tablename__ = "connector_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    # Encrypted at rest (mingbai.crypto_fields): delivered as written, may quote the resident.
    text: Mapped[str] = mapped_column(EncryptedText, nullable=False)
    author: Mapped[str] = mapped_column(String(80), nullable=False, default="bot")
    # queued -> pending -> sent | polled (web/rest/cli read it) ; failed (will retry) ; dead (gave up)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_try: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    # Optional idempotency (e.g. "wechat:<msgid>:<part>") so an async delivery is queued once.
    dedup_key: Mapped[Optional[str]] = mapped_column(String(200), nullable=True, unique=True)
    # A worker claims a row by setting a lease; a crashed worker's lease expires.
    locked_until: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), nullable=True)


Index("ix_connector_outbox_due", Outbox.status, Outbox.next_try)
Index("ix_connector_outbox_resident", Outbox.resident_key, Outbox.id)

# The senders' worker waits on this; `wake` after a commit makes it look at once (same process;
# other processes' workers find the rows on their next pass).
wake_event = threading.Event()


def wake() -> None:
    wake_event.set()


def channel_of(resident_key: str) -> str:
    return resident_key.split(":", 1)[0] if ":" in resident_key else ""


def put(session: Session, resident_key: str, text: str, *, author: str = "staff",
        dedup_key: Optional[str] = None) -> Optional[Outbox]:
    """Add one message for the resident to `session`'s transaction. None (and nothing written) for
    an unknown channel or an empty text. Call `wake()` once the transaction has committed."""
    channel = channel_of(resident_key)
    text = (text or "").strip()
    if channel not in CHANNELS or not text:
        log.warning("outbox.put: cannot deliver to channel %r", channel)
        return None
    row = Outbox(resident_key=resident_key, channel=channel, text=text, author=author,
                 status="queued" if channel in PUSHED else "pending", dedup_key=dedup_key,
                 next_try=utcnow())
    session.add(row)
    return row


def send(resident_key: str, text: str, *, author: str = "staff", wait_s: Optional[float] = None) -> bool:
    """Write one message in its own transaction. True when it was accepted: for a polled channel
    at once; for WeChat/WeCom only once the worker has sent it (waits up to `wait_s`); a text held
    by the platform's limits, failed or still queued reports False and stays in the outbox."""
    with session_scope() as s:
        row = put(s, resident_key, text, author=author)
        if row is None:
            return False
        s.flush()
        rid, channel = row.id, row.channel
    wake()
    if channel in POLLED or author == "bot":
        return True
    return wait_sent(rid, CONFIRM_WAIT_S if wait_s is None else wait_s)


def wait_sent(rid: int, wait_s: float = CONFIRM_WAIT_S) -> bool:
    """Wait briefly for the worker's first attempt on row `rid`; True only once it was sent."""
    deadline = time.monotonic() + wait_s
    while True:
        with session_scope() as s:
            row = s.get(Outbox, rid)
            status, attempts = (row.status, row.attempts) if row is not None else ("gone", 0)
        if status == "sent":
            return True
        if status in ("held", "passive_wait", "dead", "gone") or (status == "failed" and attempts):
            return False
        if time.monotonic() > deadline:
            return False
        wake()
        time.sleep(0.05)


def forget(session: Session, resident_key: str) -> int:
    """删除我的信息: drop the resident's queued and sent texts. Returns rows deleted."""
    return session.execute(delete(Outbox).where(Outbox.resident_key == resident_key)).rowcount or 0


__all__ = ["Outbox", "put", "send", "wait_sent", "wake", "wake_event", "forget", "utcnow", "CHANNELS",
           "PUSHED", "POLLED"]
