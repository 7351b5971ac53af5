"""Tables of the mediation workflow: residents, transcript, tickets, handoffs, the grid
hierarchy, staff, API tokens, notifications and the append-only audit log.

All timestamps are timezone-aware UTC in Python (UTCDateTime normalises SQLite's naive values).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from mingbai.crypto_fields import EncryptedJSON, EncryptedText
from mingbai.db import Base

# Markers that replace a text when it is deleted (tickets.retention, service.forget_resident). They
# stay readable in the encrypted columns so that SQL can skip the rows already done.
PURGED_TEXT = "（已超过保存期限，内容已删除）"
PURGED_SUMMARY = "（已超过保存期限，案情已删除）"
FORGOTTEN_SUMMARY = "（应居民要求已删除）"


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    from tickets.clock import now

    return now()


# Tier numbers: the level of the grid hierarchy that currently owns a ticket.
TIER_GRID, TIER_VILLAGE, TIER_TOWN, TIER_COUNTY = 1, 2, 3, 4
LEVEL_TIER = {"grid": TIER_GRID, "village": TIER_VILLAGE, "town": TIER_TOWN, "county": TIER_COUNTY}
TIER_LEVEL = {v: k for k, v in LEVEL_TIER.items()}


class GridNode(Base):
    """County → township/street → village/community → grid, in one self-referencing table."""

    __tablename__ = "grid_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    # county | town | village | grid
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    # 县 / 镇 / 乡 / 街道 / 村 / 社区 / 网格: the wording residents and notices use
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # Short name of the body that handles cases at this level, e.g. 镇矛调中心
    centre: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("grid_nodes.id", ondelete="RESTRICT"), nullable=True)
    aliases: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    lat: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    lon: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    # Working-time calendar (work_calendars.code); NULL: the calendar named after the level
    # (grid/village/town/county), else the built-in office calendar.
    calendar: Mapped[Optional[str]] = mapped_column(String(32), nullable=True)
    # 值班: the username who takes urgent/emergency cases here out of working hours
    on_call: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_grid_nodes_parent", GridNode.parent_id)


class WorkCalendar(Base):
    """Working hours per weekday and the holidays / 调休 workdays of a tier or a node
    (imported from the `working_time:` block of the grid YAML; see tickets.clock)."""

    __tablename__ = "work_calendars"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # {"0": [["08:30", "17:30"]], ... "6": []}: local time, weekday 0 = Monday
    hours: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    holidays: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # ["2026-10-01", ...]
    workdays: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # 调休上班 ["2026-10-10", ...]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Resident(Base):
    """A pseudonymous resident: `channel:user` only, plus what they chose to tell us."""

    __tablename__ = "residents"

    resident_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    consent: Mapped[Optional[bool]] = mapped_column(Boolean, nullable=True)
    consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    # Encrypted at rest (mingbai.crypto_fields): residents' words and contact data, see docs/ARCHITECTURE.md.
    location_label: Mapped[Optional[str]] = mapped_column(EncryptedText, nullable=True)
    lat: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    lon: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    grid_code: Mapped[Optional[str]] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_conversations_resident", Conversation.resident_key, Conversation.last_at)


class Message(Base):
    """The transcript. Every message in and out, including those during a handoff."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    direction: Mapped[str] = mapped_column(String(4), nullable=False)  # in | out
    author: Mapped[str] = mapped_column(String(80), nullable=False)  # resident | bot | staff:<u> | system
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # Encrypted: staff may reveal the raw text (audited), so it cannot be stored masked.
    text: Mapped[str] = mapped_column(EncryptedText(plain=(PURGED_TEXT,)), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_messages_resident", Message.resident_key, Message.id)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("grid_code", "year", "seq", name="uq_tickets_grid_year_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    domain: Mapped[str] = mapped_column(String(32), nullable=False)
    subtype: Mapped[Optional[str]] = mapped_column(String(32), nullable=True)
    # Encrypted (the mediator calls the phone, visits the place, prints the agreement): equality
    # with these cannot be tested in SQL, compare in Python (intake._recent_same).
    summary: Mapped[str] = mapped_column(EncryptedText(plain=(PURGED_SUMMARY, FORGOTTEN_SUMMARY)),
                                         nullable=False, default="")
    parties: Mapped[Optional[list]] = mapped_column(EncryptedJSON, nullable=True)
    location: Mapped[Optional[str]] = mapped_column(EncryptedText, nullable=True)
    phone: Mapped[Optional[str]] = mapped_column(EncryptedText, nullable=True)
    preferred_time: Mapped[Optional[str]] = mapped_column(EncryptedText, nullable=True)  # kept as typed
    # grid the case belongs to (numbering) and the node that owns it now (tier)
    grid_code: Mapped[str] = mapped_column(String(32), nullable=False)
    grid_id: Mapped[Optional[int]] = mapped_column(ForeignKey("grid_nodes.id"), nullable=True)
    tier: Mapped[int] = mapped_column(Integer, nullable=False, default=TIER_GRID)
    node_id: Mapped[Optional[int]] = mapped_column(ForeignKey("grid_nodes.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    urgency: Mapped[str] = mapped_column(String(12), nullable=False, default="normal")
    ack_due: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    answer_due: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acknowledged_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    assignee: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    outcome: Mapped[Optional[str]] = mapped_column(String(16), nullable=True)  # 调解成功 | 调解未成功
    next_route: Mapped[Optional[str]] = mapped_column(String(16), nullable=True)  # 仲裁 | 诉讼 | 行政部门
    resolution: Mapped[Optional[str]] = mapped_column(EncryptedText, nullable=True)
    satisfaction: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    satisfaction_asked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # compare-and-set guard for the SLA scheduler and concurrent transitions
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    # The resident's view of the SLA, fixed once: "met" | "missed" (NULL: not decided yet).
    # 受理 is met only if the first acknowledgement came before its due time (no breach before);
    # 答复 likewise for the first answer. Set by the attribute events below and by escalation.
    first_acknowledged_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    first_answered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    ack_sla: Mapped[Optional[str]] = mapped_column(String(8), nullable=True)
    answer_sla: Mapped[Optional[str]] = mapped_column(String(8), nullable=True)

    # Every ORM update is `... WHERE version = :seen` (StaleDataError otherwise): compare-and-set.
    __mapper_args__ = {"version_id_col": version}


Index("ix_tickets_resident", Ticket.resident_key, Ticket.id)
Index("ix_tickets_node_status", Ticket.node_id, Ticket.status)
Index("ix_tickets_ack_due", Ticket.status, Ticket.ack_due)
Index("ix_tickets_answer_due", Ticket.answered_at, Ticket.answer_due)
Index("ix_tickets_assignee", Ticket.assignee, Ticket.status)
Index("ix_tickets_created", Ticket.created_at)


@event.listens_for(Ticket.acknowledged_at, "set")
def _first_ack(target: Ticket, value, _old, _initiator):
    if value is not None and target.first_acknowledged_at is None:
        target.first_acknowledged_at = value
        if target.ack_sla is None and target.ack_due is not None:
            target.ack_sla = "met" if value <= target.ack_due else "missed"


@event.listens_for(Ticket.answered_at, "set")
def _first_answer(target: Ticket, value, _old, _initiator):
    if value is not None and target.first_answered_at is None:
        target.first_answered_at = value
        if target.answer_sla is None and target.answer_due is not None:
            target.answer_sla = "met" if value <= target.answer_due else "missed"


class TicketCounter(Base):
    """Per grid and year sequence for ticket numbers (2026-QF01-0001)."""

    __tablename__ = "ticket_counters"

    grid_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class TicketNote(Base):
    """Internal notes by staff; never shown to the resident."""

    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(EncryptedText, nullable=False)  # may quote a phone or an address
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


Index("ix_ticket_notes_ticket", TicketNote.ticket_id)


class Escalation(Base):
    """One row per tier change (SLA breach or manual), in order."""

    __tablename__ = "ticket_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    from_tier: Mapped[int] = mapped_column(Integer, nullable=False)
    to_tier: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)  # ack_breach | answer_breach | manual | no_duty
    # Why, in words, including how the next tier was chosen (shown in the ticket's history)
    note: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    due_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), nullable=False, default="system:sla")


Index("ix_ticket_escalations_ticket", Escalation.ticket_id, Escalation.id)


class Handoff(Base):
    """A resident talking to a person; while ended_at is NULL the bot stays silent."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resident_key: Mapped[str] = mapped_column(String(160), nullable=False)
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    reason: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(64), nullable=False, default="bot")
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    ended_by: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)


Index("ix_handoffs_resident_open", Handoff.resident_key, Handoff.ended_at)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # 网格员 | 人民调解员 | 法律明白人 | 管理员
    node_id: Mapped[Optional[int]] = mapped_column(ForeignKey("grid_nodes.id"), nullable=True)
    # domains this person specialises in (劳动纠纷 → labour mediation); empty = general
    domains: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # on-duty hours in local time (Asia/Shanghai): weekdays 0=Mon..6=Sun, "HH:MM"
    duty_days: Mapped[list] = mapped_column(JSON, nullable=False, default=lambda: [0, 1, 2, 3, 4])
    duty_start: Mapped[str] = mapped_column(String(5), nullable=False, default="08:30")
    duty_end: Mapped[str] = mapped_column(String(5), nullable=False, default="17:30")
    # optional: where staff notices go (e.g. "wecom:zhangsan")
    notify_key: Mapped[Optional[str]] = mapped_column(String(160), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ApiToken(Base):
    """Bearer tokens for integrations; only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class StaffNotification(Base):
    """Notices to staff (new case, SLA breach); shown in the console, optionally pushed."""

    __tablename__ = "staff_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), nullable=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    read_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)


Index("ix_staff_notifications_user", StaffNotification.username, StaffNotification.id)


class AuditLog(Base):
    """Append-only: the ORM refuses updates/deletes and the migration adds DB triggers."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(80), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    ticket_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # no FK: survives deletions
    subject: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    detail: Mapped[Optional[dict]] = mapped_column(JSON, nullable=True)


Index("ix_audit_ticket", AuditLog.ticket_id, AuditLog.id)


class AuditLogImmutable(RuntimeError):
    pass


@event.listens_for(AuditLog, "before_update")
def _no_update(*_a):
    raise AuditLogImmutable("审计日志只能追加，不能修改")


@event.listens_for(AuditLog, "before_delete")
def _no_delete(*_a):
    raise AuditLogImmutable("审计日志只能追加，不能删除")
