"""What staff do with a ticket: change its status, claim it, write notes, reply to the resident,
ask for and record satisfaction. A concurrent change of the same ticket becomes a ConflictError."""
from __future__ import annotations

import functools

from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from mingbai.db import session_scope
from tickets.audit import audit
from tickets.clock import iso, now as clock_now
from tickets.db import tx
from tickets.lifecycle import OPEN, ConflictError, transition
from tickets.models import Ticket, TicketNote
from tickets.notify import send
from tickets.records import TicketError, by_number, get_ticket, ticket_dict
from tickets.transcript import record_message


def _guard(fn):
    """A concurrent change of the same ticket (version mismatch) becomes a polite ConflictError."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except StaleDataError:
            raise ConflictError("工单刚被别人改过，请刷新后再试。") from None
    return wrapper


@_guard
def change_status(number: str, to: str, actor: str, **kw) -> dict:
    with tx() as s:
        t = by_number(s, number)
        transition(s, t, to, actor, **kw)
        s.flush()
        out = ticket_dict(s, t)
    return out


def claim(number: str, username: str) -> bool:
    """Take an unassigned ticket. Atomic: of two staff claiming at once exactly one wins."""
    with tx() as s:
        tid = s.scalar(select(Ticket.id).where(Ticket.number == number))
        if tid is None:
            raise TicketError(f"没有找到工单 {number}")
        res = s.execute(update(Ticket).where(Ticket.id == tid, Ticket.assignee.is_(None),
                                             Ticket.status.in_(OPEN))
                        .values(assignee=username, version=Ticket.version + 1, updated_at=clock_now())
                        .execution_options(synchronize_session=False))
        won = res.rowcount == 1
        if won:
            audit(s, f"staff:{username}", "claim", ticket_id=tid, subject=number)
        return won


def add_note(number: str, username: str, text: str) -> None:
    text = (text or "").strip()
    if not text:
        raise TicketError("备注不能为空")
    with session_scope() as s:
        t = by_number(s, number)
        s.add(TicketNote(ticket_id=t.id, author=username, text=text[:4000], created_at=clock_now()))
        audit(s, f"staff:{username}", "note", ticket_id=t.id, subject=number)


def notes(number: str) -> list[dict]:
    with session_scope() as s:
        t = by_number(s, number)
        rows = s.scalars(select(TicketNote).where(TicketNote.ticket_id == t.id).order_by(TicketNote.id))
        return [{"author": n.author, "text": n.text, "created_at": iso(n.created_at)} for n in rows]


def staff_reply(number: str, username: str, text: str) -> bool:
    """A staff member writes to the resident: into the transcript, then out by their channel."""
    text = (text or "").strip()
    if not text:
        raise TicketError("回复不能为空")
    t = get_ticket(number)
    if t["resident_key"].startswith("forgotten:"):
        raise TicketError("这位居民已删除个人信息，无法再联系。")
    record_message(t["resident_key"], "out", text, f"staff:{username}", t["channel"])
    with session_scope() as s:
        audit(s, f"staff:{username}", "reply", ticket_id=t["id"], subject=number)
    return send(t["resident_key"], text)


@_guard
def ask_satisfaction(number: str, username: str) -> bool:
    text = "这件事已经处理完了。请您给我们的服务打个分：回复 1 到 5 的数字，5 分最满意。"
    with tx() as s:
        t = by_number(s, number)
        if t.status not in ("resolved", "closed"):
            raise TicketError("办结以后才能请居民评价。")
        t.satisfaction_asked_at = clock_now()
        audit(s, f"staff:{username}", "ask_satisfaction", ticket_id=t.id, subject=number)
        key, channel = t.resident_key, t.channel
    record_message(key, "out", text, "system", channel)
    return send(key, text)


@_guard
def set_satisfaction(number: str, score: int, actor: str) -> None:
    if int(score) not in range(1, 6):
        raise TicketError("满意度只能是 1 到 5")
    with tx() as s:
        t = by_number(s, number)
        t.satisfaction = int(score)
        audit(s, actor, "satisfaction", ticket_id=t.id, subject=number, detail={"score": int(score)})
