"""Append-only audit log helper."""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy.orm import Session

from tickets.clock import now
from tickets.models import AuditLog


def audit(session: Session, actor: str, action: str, *, ticket_id: Optional[int] = None,
          subject: Optional[str] = None, detail: Optional[dict[str, Any]] = None) -> None:
    session.add(AuditLog(at=now(), actor=actor, action=action, ticket_id=ticket_id,
                         subject=subject, detail=detail))
