"""Notices to residents (through their own channel) and to staff (console + optional push)."""
from __future__ import annotations

import logging
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.clock import now
from tickets.db import after_commit
from tickets.models import Message, StaffNotification, StaffUser

log = logging.getLogger(__name__)


def send(resident_key: str, text: str) -> bool:
    """connectors.outbound.send, imported lazily: the connectors area owns delivery."""
    try:
        from connectors import outbound
    except ImportError:
        log.error("connectors.outbound is not available; message to %s not delivered", resident_key)
        return False
    try:
        return bool(outbound.send(resident_key, text))
    except Exception:
        log.exception("outbound.send failed for %s", resident_key)
        return False


def tell_resident(session: Session, resident_key: str, text: str, author: str = "system") -> None:
    """Store the notice in the transcript now; deliver it once the transaction commits."""
    session.add(Message(resident_key=resident_key, direction="out", author=author,
                        channel=resident_key.split(":", 1)[0], text=text, created_at=now()))
    after_commit(session, lambda: send(resident_key, text))


def notify_staff(session: Session, usernames: Iterable[str], text: str, ticket_id: Optional[int] = None) -> None:
    names = sorted(set(u for u in usernames if u))
    if not names:
        return
    for u in names:
        session.add(StaffNotification(username=u, ticket_id=ticket_id, text=text, created_at=now()))
    keys = session.scalars(select(StaffUser.notify_key).where(
        StaffUser.username.in_(names), StaffUser.notify_key.is_not(None))).all()
    for key in keys:
        after_commit(session, lambda k=key: send(k, text))
