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


def resident_ref(resident_key: str) -> str:
    """How the audit log names a resident: a hash, so the append-only log never has to be
    rewritten when a resident asks to be forgotten (the hash still proves consent for a key)."""
    import hashlib

    return "resident#" + hashlib.sha256(resident_key.encode()).hexdigest()[:16]
