"""Ticket state machine.

new → acknowledged → in_mediation → resolved (调解成功 / 调解未成功 + next route) → closed
any open state → escalated (next tier) → acknowledged (by the new tier) …; escalated → closed.
Illegal transitions raise TransitionError with a Chinese message; every change is audited.
Concurrent changes are caught by the ticket's version column (StaleDataError → ConflictError).
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.audit import audit
from tickets.clock import now as clock_now
from tickets.grids import tier_label
from tickets.models import TIER_COUNTY, Escalation, GridNode, StaffUser, Ticket
from tickets.notify import notify_staff, tell_resident
from tickets.policy import deadlines
from tickets.routing import on_duty_staff, route

STATUS_LABELS = {
    "new": "待受理",
    "acknowledged": "已受理",
    "in_mediation": "调解中",
    "resolved": "已办结",
    "escalated": "已上报",
    "closed": "已关闭",
}
TRANSITIONS: dict[str, set[str]] = {
    "new": {"acknowledged", "escalated"},
    "acknowledged": {"in_mediation", "escalated"},
    "in_mediation": {"resolved", "escalated"},
    "escalated": {"acknowledged", "escalated", "closed"},
    "resolved": {"closed"},
    "closed": set(),
}
OPEN = ("new", "acknowledged", "in_mediation", "escalated")
OUTCOMES = ("调解成功", "调解未成功")
NEXT_ROUTES = ("仲裁", "诉讼", "行政部门")
TIER_NAMES = {1: "网格", 2: "村/社区", 3: "乡镇/街道", 4: "县级矛调中心"}


class TransitionError(ValueError):
    """An illegal change; str(e) is a Chinese sentence fit for the console."""


class ConflictError(TransitionError):
    pass


def label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def allowed(current: str) -> list[str]:
    return sorted(TRANSITIONS.get(current, set()), key=list(STATUS_LABELS).index)


def check(ticket: Ticket, to: str) -> None:
    if to not in STATUS_LABELS:
        raise TransitionError(f"没有「{to}」这个状态。")
    if to not in TRANSITIONS.get(ticket.status, set()):
        options = "、".join(label(s) for s in allowed(ticket.status)) or "无（已结束）"
        raise TransitionError(
            f"工单 {ticket.number} 现在是「{label(ticket.status)}」，不能改为「{label(to)}」。可以改为：{options}。")


def transition(session: Session, ticket: Ticket, to: str, actor: str, *, outcome: Optional[str] = None,
               next_route: Optional[str] = None, resolution: Optional[str] = None,
               when: Optional[datetime] = None, note: Optional[str] = None) -> Ticket:
    when = when or clock_now()
    if to == "escalated":
        escalate(session, ticket, actor, reason="manual", when=when, note=note)
        return ticket
    check(ticket, to)
    before = ticket.status
    if to == "resolved":
        if outcome not in OUTCOMES:
            raise TransitionError("办结时要选择调解结果：调解成功 或 调解未成功。")
        if outcome == "调解未成功":
            if next_route not in NEXT_ROUTES:
                raise TransitionError("调解未成功时要写明下一步途径：仲裁、诉讼 或 行政部门。")
        else:
            next_route = None
        ticket.outcome, ticket.next_route = outcome, next_route
        ticket.resolution = resolution or ticket.resolution
        ticket.resolved_at = when
        ticket.answered_at = ticket.answered_at or when
    elif to == "acknowledged":
        ticket.acknowledged_at = when
    elif to == "in_mediation":
        ticket.answered_at = ticket.answered_at or when
    elif to == "closed":
        ticket.closed_at = when
    ticket.status = to
    ticket.updated_at = when
    audit(session, actor, "transition", ticket_id=ticket.id, subject=ticket.number,
          detail={"from": before, "to": to, "outcome": outcome, "next_route": next_route, "note": note})
    return ticket


def escalate(session: Session, ticket: Ticket, actor: str, *, reason: str = "manual",
             due_at: Optional[datetime] = None, when: Optional[datetime] = None,
             note: Optional[str] = None) -> Escalation:
    """Move the ticket to the next tier with someone on duty; fresh deadlines start at the breach
    time (`due_at`), so a late scheduler run still keeps the timeline exact."""
    when = when or clock_now()
    base = due_at or when
    if ticket.status not in OPEN:
        raise TransitionError(f"工单 {ticket.number} 已「{label(ticket.status)}」，不能再上报。")
    if ticket.tier >= TIER_COUNTY:
        raise TransitionError(f"工单 {ticket.number} 已在{TIER_NAMES[TIER_COUNTY]}，不能再上报。")
    origin = session.get(GridNode, ticket.grid_id or ticket.node_id)
    r = route(session, origin, ticket.domain, base, start_tier=ticket.tier + 1)
    before_tier, before_status, before_assignee = ticket.tier, ticket.status, ticket.assignee
    ticket.tier, ticket.node_id, ticket.assignee = r.tier, r.node.id, r.assignee
    ticket.status = "escalated"
    ticket.acknowledged_at = None
    ticket.answered_at = None
    ticket.ack_due, ticket.answer_due = deadlines(r.tier, ticket.urgency, base)
    ticket.updated_at = when
    esc = Escalation(ticket_id=ticket.id, from_tier=before_tier, to_tier=r.tier, reason=reason,
                     due_at=due_at, fired_at=when, actor=actor)
    session.add(esc)
    audit(session, actor, "escalate", ticket_id=ticket.id, subject=ticket.number,
          detail={"from_tier": before_tier, "to_tier": r.tier, "node": r.node.code, "reason": reason,
                  "from_status": before_status, "due_at": due_at.isoformat() if due_at else None,
                  "skipped": r.skipped, "assignee": r.assignee, "note": note})
    where = tier_label(r.node)
    staff = [r.assignee] if r.assignee else r.on_duty
    if not staff:  # nobody on duty at the county: its admins still see it
        staff = session.scalars(select(StaffUser.username).where(StaffUser.node_id == r.node.id)).all()
    why = {"ack_breach": "1小时内未受理", "answer_breach": "24小时内未答复"}.get(reason, "上报")
    notify_staff(session, list(staff) + [before_assignee],
                 f"工单 {ticket.number}（{ticket.domain}）因{why}，已转交{r.node.name}。", ticket.id)
    tell_resident(session, ticket.resident_key,
                  f"您反映的事情（编号 {ticket.number}）已转交{where}处理，工作人员会尽快联系您。")
    return esc


def sla_reminder(session: Session, ticket: Ticket, kind: str, due_at: datetime, when: datetime) -> Escalation:
    """A breach at the county (nowhere higher to go): remind its staff, then again once per
    answer period (daily for normal cases) until someone acts."""
    _ack, answer = deadlines(ticket.tier, ticket.urgency, due_at)
    if kind == "ack":
        ticket.ack_due = answer
    else:
        ticket.answer_due = answer
    ticket.updated_at = when
    esc = Escalation(ticket_id=ticket.id, from_tier=ticket.tier, to_tier=ticket.tier,
                     reason=f"{kind}_breach_top", due_at=due_at, fired_at=when, actor="system:sla")
    session.add(esc)
    audit(session, "system:sla", "sla_reminder", ticket_id=ticket.id, subject=ticket.number,
          detail={"kind": kind, "due_at": due_at.isoformat()})
    node = session.get(GridNode, ticket.node_id)
    staff = [ticket.assignee] if ticket.assignee else [u.username for u in on_duty_staff(session, node, when)]
    if not staff:
        staff = session.scalars(select(StaffUser.username).where(StaffUser.node_id == node.id)).all()
    notify_staff(session, staff, f"工单 {ticket.number} 已超时（{'受理' if kind == 'ack' else '答复'}），请尽快处理。",
                 ticket.id)
    return esc
