"""The transcript: every message in and out, grouped into conversations, and the bookkeeping a
message triggers (a staff answer marks open tickets answered; a bare 1–5 is a satisfaction score)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from mingbai.db import session_scope
from tickets.audit import audit
from tickets.clock import iso, now as clock_now
from tickets.db import tx
from tickets.lifecycle import OPEN
from tickets.models import Conversation, Message, Ticket
from tickets.records import TicketError
from tickets.residents import channel_of, resident_row

log = logging.getLogger(__name__)
CONVERSATION_GAP = timedelta(hours=6)


def record_message(resident_key: str, direction: str, text: str, author: str, channel: str) -> None:
    """Append to the transcript. Never loses a message to a concurrent ticket update: the
    follow-up bookkeeping (answered / satisfaction) runs in its own transaction."""
    if direction not in ("in", "out"):
        raise TicketError("direction 只能是 in 或 out")
    when = clock_now()
    with session_scope() as s:
        resident_row(s, resident_key, channel)
        conv = s.scalars(select(Conversation).where(Conversation.resident_key == resident_key)
                         .order_by(Conversation.id.desc()).limit(1)).first()
        if conv is None or when - conv.last_at > CONVERSATION_GAP:
            conv = Conversation(resident_key=resident_key, channel=channel or channel_of(resident_key),
                                started_at=when, last_at=when)
            s.add(conv)
            s.flush()
        else:
            conv.last_at = when
        s.add(Message(conversation_id=conv.id, resident_key=resident_key, direction=direction,
                      author=author or "system", channel=channel or channel_of(resident_key),
                      text=text or "", created_at=when))
    try:
        if direction == "out" and (author or "").startswith("staff:"):
            _mark_answered(resident_key, when)
        elif direction == "in" and author == "resident" and (text or "").strip() in {"1", "2", "3", "4", "5"}:
            _take_satisfaction(resident_key, int(text.strip()))
    except Exception:
        log.exception("transcript bookkeeping failed for %s", resident_key)


def _mark_answered(resident_key: str, when: datetime) -> None:
    for _ in range(3):
        try:
            with tx() as s:
                for t in s.scalars(select(Ticket).where(Ticket.resident_key == resident_key,
                                                        Ticket.status.in_(OPEN), Ticket.answered_at.is_(None))):
                    t.answered_at = when
            return
        except StaleDataError:
            continue


def _take_satisfaction(resident_key: str, score: int) -> None:
    with tx() as s:
        t = s.scalars(select(Ticket).where(Ticket.resident_key == resident_key,
                                           Ticket.satisfaction_asked_at.is_not(None),
                                           Ticket.satisfaction.is_(None))
                      .order_by(Ticket.satisfaction_asked_at.desc())).first()
        if t is not None:
            t.satisfaction = score
            audit(s, "resident", "satisfaction", ticket_id=t.id, subject=t.number, detail={"score": score})


def transcript(resident_key: str, after_id: int = 0, limit: int = 500) -> list[dict]:
    with session_scope() as s:
        rows = s.scalars(select(Message).where(Message.resident_key == resident_key, Message.id > after_id)
                         .order_by(Message.id).limit(limit)).all()
        return [{"id": m.id, "direction": m.direction, "author": m.author, "channel": m.channel,
                 "text": m.text, "created_at": iso(m.created_at)} for m in rows]
