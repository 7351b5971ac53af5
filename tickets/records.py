"""Tickets as callers see them: the ticket dict, lookups by number, a ticket's history, the
resident's tickets and the filtered lists behind the queues and the API.

TicketError lives here, at the bottom of the subject modules, because every one of them raises it.
"""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from mingbai.db import session_scope
from tickets.clock import iso
from tickets.grids import tier_label
from tickets.lifecycle import OPEN, STATUS_LABELS, TIER_NAMES, history
from tickets.models import GridNode, Ticket


class TicketError(ValueError):
    """A refusal with a Chinese message (unknown ticket, no consent, bad input)."""


def ticket_dict(s: Session, t: Ticket, *, with_phone: bool = False,
                nodes: Optional[dict[int, GridNode]] = None) -> dict[str, Any]:
    nodes = nodes if nodes is not None else {}
    node = (nodes.get(t.node_id) or s.get(GridNode, t.node_id)) if t.node_id else None
    grid = (nodes.get(t.grid_id) or s.get(GridNode, t.grid_id)) if t.grid_id else None
    d = {
        "id": t.id, "number": t.number, "status": t.status, "status_label": STATUS_LABELS[t.status],
        "tier": t.tier, "tier_name": TIER_NAMES.get(t.tier, ""), "node": node.code if node else None,
        "node_name": node.name if node else None, "handled_by": tier_label(node),
        "grid": t.grid_code, "grid_name": grid.name if grid else None,
        "resident_key": t.resident_key, "channel": t.channel, "domain": t.domain, "subtype": t.subtype,
        "summary": t.summary, "parties": t.parties or [], "location": t.location,
        "preferred_time": t.preferred_time, "urgency": t.urgency,
        "ack_due": iso(t.ack_due), "answer_due": iso(t.answer_due),
        "acknowledged_at": iso(t.acknowledged_at), "answered_at": iso(t.answered_at),
        "assignee": t.assignee, "outcome": t.outcome, "next_route": t.next_route, "resolution": t.resolution,
        "satisfaction": t.satisfaction, "consent": t.consent, "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
        "resolved_at": iso(t.resolved_at), "closed_at": iso(t.closed_at),
    }
    if with_phone:
        d["phone"] = t.phone
    return d


def by_number(s: Session, number: str) -> Ticket:
    """The ticket row; TicketError when there is none."""
    t = s.scalars(select(Ticket).where(Ticket.number == number)).first()
    if t is None:
        raise TicketError(f"没有找到工单 {number}")
    return t


def get_ticket(number: str, *, with_phone: bool = False) -> dict:
    with session_scope() as s:
        t = by_number(s, number)
        return ticket_dict(s, t, with_phone=with_phone)


def ticket_history(number: str) -> list[dict]:
    """The ticket's routing and escalation steps for the console (tickets.lifecycle.history):
    [{"at" (ISO), "kind", "from_tier", "to_tier", "from_name", "to_name", "why"}], oldest first."""
    with session_scope() as s:
        t = by_number(s, number)
        return [{**h, "at": iso(h["at"]), "from_name": TIER_NAMES.get(h["from_tier"], "") if h["from_tier"] else "",
                 "to_name": TIER_NAMES.get(h["to_tier"], "") if h["to_tier"] else ""} for h in history(s, t)]


def tickets_for_resident(resident_key: str) -> list[dict]:
    with session_scope() as s:
        rows = s.scalars(select(Ticket).where(Ticket.resident_key == resident_key).order_by(Ticket.id.desc())).all()
        nodes = {n.id: n for n in s.scalars(select(GridNode))} if len(rows) > 2 else None
        return [ticket_dict(s, t, nodes=nodes) for t in rows]


def list_tickets(*, status: Optional[str] = None, node_ids: Optional[set[int]] = None,
                 assignee: Optional[str] = None, unassigned: bool = False, open_only: bool = False,
                 resident_key: Optional[str] = None, limit: int = 200) -> list[dict]:
    """The queues' and the API's lists; node_ids (tickets.scope.node_ids) keeps the tickets
    whose current node is among them, None = every node."""
    with session_scope() as s:
        q = select(Ticket)
        if status:
            q = q.where(Ticket.status == status)
        if open_only:
            q = q.where(Ticket.status.in_(OPEN))
        if node_ids is not None:
            q = q.where(Ticket.node_id.in_(node_ids))
        if assignee:
            q = q.where(Ticket.assignee == assignee)
        if unassigned:
            q = q.where(Ticket.assignee.is_(None))
        if resident_key:
            q = q.where(Ticket.resident_key == resident_key)
        q = q.order_by(Ticket.ack_due).limit(limit)
        nodes = {n.id: n for n in s.scalars(select(GridNode))}  # one query, not two per row
        return [ticket_dict(s, t, nodes=nodes) for t in s.scalars(q)]
