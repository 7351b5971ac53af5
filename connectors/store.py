"""Tables owned by the connectors: inbound dedup, the customer-service window per resident, the
messages waiting for the bot while it is down (connectors.deferred), and the shared access_token
cache. The outbox (retry queue) is mingbai.outbox.Outbox, below every
area so that tickets can write to it; it is re-exported here.

All of them must survive a restart and be shared by every web process, hence the DB. The texts
they hold are encrypted at rest (mingbai.crypto_fields): a turn's stored replies, the queued
messages, the question held until consent, and the access_token.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import (
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from mingbai.crypto_fields import EncryptedJSON, EncryptedText
from mingbai.db import Base, session_scope
from mingbai.outbox import Outbox, utcnow


class InboundDedup(Base):
    """One row per inbound message key; the unique constraint makes the first request the owner."""

    __tablename__ = "connector_inbound_dedup"
    __table_args__ = (UniqueConstraint("channel", "msg_key", name="uq_connector_dedup_channel_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    msg_key: Mapped[str] = mapped_column(String(160), nullable=False)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False, default="")
    # processing -> done (replies stored) | async (replies go out via the outbox)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="processing")
    replies: Mapped[Optional[list]] = mapped_column(EncryptedJSON, nullable=True)  # may echo the resident
    # Set once a reply has been handed to the resident (passive or async) so retries stay silent.
    delivered: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


Index("ix_connector_dedup_created", InboundDedup.created_at)


class DeferredTurn(Base):
    """A resident's message that needs the bot (转人工, 查进度, a form answer …) and came while Rasa or
    the action server was down: kept here, replayed in order once the bot answers again
    (connectors.deferred), the replies going out through the resident's own channel (the outbox)."""

    __tablename__ = "connector_deferred_turn"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Random, never reused (SQLite may reuse a deleted row's id): the replies' outbox dedup keys.
    ref: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    # How the replies reach the resident: push:<channel> (customer-service / app API via the outbox
    # worker) or poll:<channel> (the web chat page, GET /api/v1/messages, the terminal).
    route: Mapped[str] = mapped_column(String(32), nullable=False)
    msg_key: Mapped[Optional[str]] = mapped_column(String(160), nullable=True)  # the inbound dedup key
    text: Mapped[str] = mapped_column(EncryptedText, nullable=False)  # replayed to the bot as written
    triage_line: Mapped[Optional[str]] = mapped_column(Text, nullable=True)  # harm_past hotline line
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # failed replays (not outages)
    # A drainer owns the row while it replays it; a crashed drainer's lease expires.
    locked_until: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


Index("ix_connector_deferred_resident", DeferredTurn.resident_key, DeferredTurn.id)


class ServiceWindow(Base):
    """Last inbound time per resident: WeChat's customer-service API only works for 48 h after it."""

    __tablename__ = "connector_service_window"

    resident_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    last_inbound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    subscribed: Mapped[bool] = mapped_column(default=True, nullable=False)
    # The question a first-time resident asked before agreeing to the privacy notice;
    # answered right after they agree, then cleared.
    pending_text: Mapped[Optional[str]] = mapped_column(EncryptedText, nullable=True)


class AccessToken(Base):
    """One access_token per app shared by all processes (refreshing invalidates the old one)."""

    __tablename__ = "connector_access_token"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)  # e.g. "wechat:<appid>"
    token: Mapped[str] = mapped_column(EncryptedText, nullable=False, default="")  # a credential
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    # Incremented on every refresh; lets a process refresh only if nobody else did meanwhile.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


def forget(resident_key: str) -> int:
    """删除我的信息 for the connectors' tables: queued texts (outgoing, and incoming ones waiting for
    the bot) and the window row. Dedup rows stay (they keep retries deduplicated; their stored
    replies are blanked; purged after 3 days)."""
    n = 0
    with session_scope() as s:
        for model in (Outbox, DeferredTurn, ServiceWindow):
            n += s.execute(delete(model).where(model.resident_key == resident_key)).rowcount or 0
        s.execute(update(InboundDedup).where(InboundDedup.resident_key == resident_key).values(replies=None))
    return n


__all__ = ["InboundDedup", "DeferredTurn", "Outbox", "ServiceWindow", "AccessToken", "forget", "utcnow"]
