"""Handoff: a resident talks to a person instead of the bot. The bot pauses and resumes Rasa
itself (tickets sits below the bot and never imports it); the gateway asks in_handoff()."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mingbai.db import session_scope
from tickets.audit import audit, resident_ref
from tickets.clock import iso, now as clock_now
from tickets.db import tx
from tickets.grids import tier_label
from tickets.intake import DEFAULT_DOMAIN, open_ticket
from tickets.lifecycle import OPEN
from tickets.models import GridNode, Handoff, Ticket
from tickets.notify import notify_staff
from tickets.records import by_number, get_ticket, tickets_for_resident
from tickets.routing import on_duty_staff


def in_handoff(resident_key: str) -> bool:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.resident_key == resident_key, Handoff.ended_at.is_(None))) > 0


def start_handoff(resident_key: str, reason: str, ticket_number: Optional[str] = None,
                  actor: str = "bot") -> dict:
    """Hand the resident to a person. The bot's action pauses Rasa itself (ConversationPaused);
    the gateway checks in_handoff() so nothing leaks. Without a ticket, the resident's latest open
    ticket is used, or a 综合咨询 ticket is opened so the request has an owner and an SLA."""
    reason = (reason or "居民要求人工服务")[:200]
    with session_scope() as s:
        h = s.scalars(select(Handoff).where(Handoff.resident_key == resident_key,
                                            Handoff.ended_at.is_(None))).first()
        if h is not None:
            t = s.get(Ticket, h.ticket_id) if h.ticket_id else None
            return _handoff_dict(s, h, t, already=True)
    if ticket_number:
        number = ticket_number
        get_ticket(number)
    else:
        mine = [t for t in tickets_for_resident(resident_key) if t["status"] in OPEN]
        number = mine[0]["number"] if mine else open_ticket(
            resident_key, domain=DEFAULT_DOMAIN, summary=f"居民请求人工服务：{reason}",
            idempotency_key=f"handoff:{resident_key}:{clock_now().isoformat()}")["number"]
    with tx() as s:
        t = by_number(s, number)
        h = Handoff(resident_key=resident_key, ticket_id=t.id, reason=reason, started_at=clock_now(),
                    started_by=actor)
        s.add(h)
        s.flush()
        audit(s, actor, "handoff_start", ticket_id=t.id, subject=number, detail={"reason": reason})
        node = s.get(GridNode, t.node_id)
        who = [t.assignee] if t.assignee else [u.username for u in on_duty_staff(s, node, clock_now())]
        notify_staff(s, who, f"居民请求人工对话（工单 {number}），请尽快在工作台回复。", t.id)
        return _handoff_dict(s, h, t, already=False)


def _handoff_dict(s: Session, h: Handoff, t: Optional[Ticket], already: bool) -> dict:
    node = s.get(GridNode, t.node_id) if t and t.node_id else None
    who = tier_label(node)
    return {"handoff_id": h.id, "resident_key": h.resident_key, "ticket_number": t.number if t else None,
            "assignee": t.assignee if t else None, "handled_by": who, "reason": h.reason,
            "started_at": iso(h.started_at), "already": already,
            "message": f"已为您转接{who}的工作人员，请稍等，他们会在这里直接回复您。"}


def end_handoff(resident_key: str, actor: str) -> bool:
    """End the handoff. True when one was open. The caller resumes the bot (the console calls
    bot.rasa_client.resume): tickets sits below the bot and never imports it."""
    with session_scope() as s:
        ended = 0
        for h in s.scalars(select(Handoff).where(Handoff.resident_key == resident_key, Handoff.ended_at.is_(None))):
            h.ended_at, h.ended_by = clock_now(), actor
            audit(s, actor, "handoff_end", ticket_id=h.ticket_id, subject=resident_ref(resident_key))
            ended += 1
    return ended > 0


def active_handoff(resident_key: str) -> Optional[dict]:
    with session_scope() as s:
        h = s.scalars(select(Handoff).where(Handoff.resident_key == resident_key,
                                            Handoff.ended_at.is_(None))).first()
        if h is None:
            return None
        t = s.get(Ticket, h.ticket_id) if h.ticket_id else None
        return _handoff_dict(s, h, t, already=True)
