"""Notices to residents (through their own channel) and to staff (console + optional push),
and the staff member's unread console notifications.

Everything that goes out is a row of the outbox (mingbai.outbox), written in the caller's
transaction: it is sent only if the change that caused it commits. The connectors drain the
outbox (tickets never imports them)."""
from __future__ import annotations

import logging
from typing import Iterable, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mingbai import outbox
from mingbai.db import session_scope
from tickets.clock import iso, now
from tickets.db import after_commit
from tickets.models import Message, StaffNotification, StaffUser

log = logging.getLogger(__name__)


def send(resident_key: str, text: str) -> bool:
    """One message out by the resident's channel, in its own transaction. True when it was
    accepted (on WeChat/WeCom: sent; held or failed texts stay queued and report False)."""
    try:
        return outbox.send(resident_key, text)
    except Exception:
        log.exception("outbox.send failed for %s", resident_key)
        return False


def tell_resident(session: Session, resident_key: str, text: str, author: str = "system") -> None:
    """Store the notice in the transcript and the outbox now; both commit (or not) together."""
    session.add(Message(resident_key=resident_key, direction="out", author=author,
                        channel=resident_key.split(":", 1)[0], text=text, created_at=now()))
    if outbox.put(session, resident_key, text) is not None:
        after_commit(session, outbox.wake)


def notify_staff(session: Session, usernames: Iterable[str], text: str, ticket_id: Optional[int] = None) -> None:
    names = sorted(set(u for u in usernames if u))
    if not names:
        return
    for u in names:
        session.add(StaffNotification(username=u, ticket_id=ticket_id, text=text, created_at=now()))
    keys = session.scalars(select(StaffUser.notify_key).where(
        StaffUser.username.in_(names), StaffUser.notify_key.is_not(None))).all()
    queued = [outbox.put(session, key, text) for key in keys]
    if any(r is not None for r in queued):
        after_commit(session, outbox.wake)


def unread_notifications(username: str, limit: int = 20) -> list[dict]:
    with session_scope() as s:
        rows = s.scalars(select(StaffNotification).where(StaffNotification.username == username,
                                                         StaffNotification.read_at.is_(None))
                         .order_by(StaffNotification.id.desc()).limit(limit))
        return [{"id": n.id, "text": n.text, "created_at": iso(n.created_at), "ticket_id": n.ticket_id}
                for n in rows]


def mark_notifications_read(username: str) -> int:
    with session_scope() as s:
        res = s.execute(update(StaffNotification).where(StaffNotification.username == username,
                                                        StaffNotification.read_at.is_(None))
                        .values(read_at=now()))
        return res.rowcount or 0
