"""Intake: a resident's case becomes a ticket — idempotent, numbered per grid and year, routed to
the tier that keeps it, its deadlines set and its staff notified."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mingbai.db import session_scope
from mingbai.privacy import mask
from tickets.audit import audit
from tickets.clock import iso, local, now as clock_now
from tickets.db import insert_ignore, tx
from tickets.grids import tier_label, top_node
from tickets.lifecycle import OPEN
from tickets.models import AuditLog, GridNode, Ticket, TicketCounter
from tickets.notify import notify_staff
from tickets.policy import URGENCIES, deadlines
from tickets.records import TicketError, ticket_dict
from tickets.residents import channel_of, resident_row
from tickets.routing import resolve_node, route
from tickets.scope import OutOfScope

DEFAULT_DOMAIN = "综合咨询"


def open_ticket(resident_key: str, *, domain: str, subtype: Optional[str] = None, summary: str,
                parties: Optional[list] = None, location: Optional[str] = None, phone: Optional[str] = None,
                preferred_time: Optional[str] = None, consent: bool = True, urgency: str = "normal",
                idempotency_key: Optional[str] = None, within: Optional[set[int]] = None) -> dict:
    """Open a ticket (idempotent: the same intake twice gives the same ticket, `created` False).

    consent=False (the resident did not agree to pass the case to a mediator): the case is only
    recorded for the statistics — summary masked, no phone/parties/place, status closed, nobody
    notified, no SLA. Saying 转人工 later opens a real one (start_handoff).

    within: the node ids the new ticket's grid must be among (tickets.scope.node_ids of the staff
    member opening it); None = anywhere. Outside them: OutOfScope, nothing written."""
    if urgency not in URGENCIES:
        raise TicketError(f"紧急程度只能是 {'/'.join(URGENCIES)}")
    summary = (summary or "").strip()
    if not summary:
        raise TicketError("请简单说一下是什么事情。")
    domain = _domain(domain, subtype)
    when = clock_now()
    key = (idempotency_key or _auto_key(resident_key, domain, subtype, summary, when))[:200]
    if isinstance(parties, str):
        parties = [parties]
    for attempt in range(3):
        existing = _by_key(key)
        if existing is not None:
            return existing
        if idempotency_key is None:
            same = _recent_same(resident_key, domain, summary, when)
            if same is not None:
                return same
        try:
            if not consent:
                return _create(resident_key, key, domain, subtype, mask(summary), None, location, None,
                               None, urgency, when, within, record_only=True)
            return _create(resident_key, key, domain, subtype, summary, parties, location, phone,
                           preferred_time, urgency, when, within)
        except IntegrityError:
            continue  # the same key won a race: loop returns the winner's ticket
    raise TicketError("登记失败，请稍后再试。")


def _next_number(s: Session, grid_code: str, year: int) -> tuple[int, str]:
    for _ in range(5):
        res = s.execute(update(TicketCounter).where(TicketCounter.grid_code == grid_code, TicketCounter.year == year)
                        .values(last=TicketCounter.last + 1))
        if res.rowcount:
            seq = s.scalar(select(TicketCounter.last).where(TicketCounter.grid_code == grid_code,
                                                             TicketCounter.year == year))
            return seq, f"{year}-{grid_code}-{seq:04d}"
        insert_ignore(s, TicketCounter, dict(grid_code=grid_code, year=year, last=0))
    raise RuntimeError("could not allocate a ticket number")


def _auto_key(resident_key: str, domain: str, subtype: Optional[str], summary: str, when: datetime) -> str:
    raw = "|".join([resident_key, domain, subtype or "", " ".join(summary.split()), local(when).date().isoformat()])
    return "auto:" + hashlib.sha256(raw.encode()).hexdigest()


def _domain(domain: Optional[str], subtype: Optional[str]) -> str:
    if domain:
        return domain.strip()[:32]
    return _taxonomy_subtypes().get(subtype or "", DEFAULT_DOMAIN)


def _taxonomy_subtypes() -> dict:
    import yaml
    from mingbai.settings import PROJECT_ROOT

    try:
        data = yaml.safe_load((PROJECT_ROOT / "knowledge" / "taxonomy.yml").read_text(encoding="utf-8"))
        return data.get("subtypes") or {}
    except Exception:
        return {}


def _by_key(key: str) -> Optional[dict]:
    with session_scope() as s:
        t = s.scalars(select(Ticket).where(Ticket.idempotency_key == key)).first()
        return {**ticket_dict(s, t), "created": False} if t else None


def _recent_same(resident_key: str, domain: str, summary: str, when: datetime) -> Optional[dict]:
    # The summary is encrypted at rest (a new nonce each time): SQL cannot compare it, so the
    # resident's few open tickets of the last day are compared here.
    with session_scope() as s:
        for t in s.scalars(select(Ticket).where(Ticket.resident_key == resident_key, Ticket.domain == domain,
                                                Ticket.status.in_(OPEN),
                                                Ticket.created_at >= when - timedelta(hours=24))
                           .order_by(Ticket.id)):
            if t.summary == summary:
                return {**ticket_dict(s, t), "created": False}
        return None


def _create(resident_key, key, domain, subtype, summary, parties, location, phone, preferred_time,
            urgency, when, within: Optional[set[int]] = None, record_only: bool = False) -> dict:
    with tx() as s:
        r = resident_row(s, resident_key)
        # The intake form asked for consent. An emergency case is shared to protect life
        # (PIPL art. 13) without that question, so it must not record a consent.
        if not record_only and not r.consent and urgency != "emergency":
            r.consent, r.consent_at = True, when
        if location and not r.location_label and not record_only:
            r.location_label = location[:200]
        origin = resolve_node(s, location or r.location_label, r.lat, r.lon)
        if origin is None and r.grid_code:
            origin = s.scalars(select(GridNode).where(GridNode.code == r.grid_code)).first()
        if origin is None:
            origin = top_node(s)
        if origin is None:
            raise TicketError("系统还没有导入网格，请联系管理员（mingbai grid import）。")
        if within is not None and origin.id not in within:
            # raised inside the transaction: the resident's row changes above roll back too
            raise OutOfScope(f"{origin.name}不在您的辖区，不能在那里登记工单。")
        # The urgency decides the tier (urgent cases out of hours go up / to 值班) and the clock;
        # the Route's deadlines are in the owning node's working time (tickets.routing).
        rt = route(s, origin, domain, when, urgency=urgency)
        year = local(when).year
        seq, number = _next_number(s, origin.code, year)
        ack_due, answer_due = rt.ack_due, rt.answer_due
        if ack_due is None or answer_due is None:  # defensive: a Route always has them
            ack_due, answer_due = deadlines(rt.tier, urgency, when)
        t = Ticket(number=number, year=year, seq=seq, idempotency_key=key, resident_key=resident_key,
                   channel=channel_of(resident_key), domain=domain, subtype=subtype, summary=summary[:4000],
                   parties=parties, location=None if record_only else (location or r.location_label), phone=phone,
                   preferred_time=preferred_time, grid_code=origin.code, grid_id=origin.id, tier=rt.tier,
                   node_id=rt.node.id, status="closed" if record_only else "new", urgency=urgency,
                   ack_due=ack_due, answer_due=answer_due, assignee=None if record_only else rt.assignee,
                   consent=not record_only, created_at=when, updated_at=when,
                   closed_at=when if record_only else None,
                   resolution="居民未同意转交调解员，仅作登记。" if record_only else None)
        s.add(t)
        s.flush()
        if record_only:
            audit(s, "system:intake", "record_only", ticket_id=t.id, subject=number, detail={"domain": domain})
            return {**ticket_dict(s, t), "created": True}
        _audit_route(s, t, rt)
        audit(s, "system:intake", "open", ticket_id=t.id, subject=number,
              detail={"tier": rt.tier, "node": rt.node.code, "assignee": rt.assignee, "skipped": rt.skipped,
                      "urgency": urgency, "domain": domain})
        who = [rt.assignee] if rt.assignee else rt.on_duty
        flag = {"urgent": "【紧急】", "emergency": "【特急】"}.get(urgency, "")
        notify_staff(s, who, f"{flag}新工单 {number}：{domain}，{tier_label(rt.node)}待受理。", t.id)
        return {**ticket_dict(s, t), "created": True}


def _audit_route(s: Session, t: Ticket, rt) -> None:
    """The routing steps of a new ticket, in words: the first line of its history
    (tickets.lifecycle.history reads the "route" audit entries)."""
    s.add(AuditLog(at=t.created_at, actor="system:routing", action="route", ticket_id=t.id, subject=t.number,
                   detail={"tier": rt.tier, "node": rt.node.code, "assignee": rt.assignee,
                           "skipped": rt.skipped, "on_call": rt.on_call, "urgency": rt.urgency,
                           "why": rt.reason, "ack_due": iso(rt.ack_due), "answer_due": iso(rt.answer_due)}))
