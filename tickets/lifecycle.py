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
from tickets.models import TIER_COUNTY, AuditLog, Escalation, GridNode, StaffUser, Ticket
from tickets.notify import notify_staff, tell_resident
from tickets.policy import limits
from tickets.routing import clock_mode, deadlines_for, on_duty_staff, route

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


def _limit_words(tier: int, urgency: str, kind: str) -> str:
    ack, answer = limits(tier, urgency)
    td = ack if kind == "ack" else answer
    mins = int(td.total_seconds() // 60)
    span = f"{mins // 60} 小时" if mins % 60 == 0 else f"{mins} 分钟"
    return span + ("（工作时间）" if clock_mode(urgency) == "business" else "")


def _when_words(dt: Optional[datetime]) -> str:
    from tickets.clock import local

    return local(dt).strftime("%m-%d %H:%M") if dt else ""


def escalate(session: Session, ticket: Ticket, actor: str, *, reason: str = "manual",
             due_at: Optional[datetime] = None, when: Optional[datetime] = None,
             note: Optional[str] = None) -> Escalation:
    """Move the ticket to the next tier that may keep it (tickets.routing); fresh deadlines start
    at the breach time (`due_at`), in the new node's working time, so a late scheduler run still
    keeps the timeline exact. The escalation row says why, in words (Escalation.note)."""
    when = when or clock_now()
    base = due_at or when
    if ticket.status not in OPEN:
        raise TransitionError(f"工单 {ticket.number} 已「{label(ticket.status)}」，不能再上报。")
    if ticket.tier >= TIER_COUNTY:
        raise TransitionError(f"工单 {ticket.number} 已在{TIER_NAMES[TIER_COUNTY]}，不能再上报。")
    if reason.startswith("ack") and ticket.ack_sla is None:
        ticket.ack_sla = "missed"
    if reason.startswith("answer") and ticket.answer_sla is None:
        ticket.answer_sla = "missed"
    origin = session.get(GridNode, ticket.grid_id or ticket.node_id)
    r = route(session, origin, ticket.domain, base, start_tier=ticket.tier + 1, urgency=ticket.urgency)
    before_tier, before_status, before_assignee = ticket.tier, ticket.status, ticket.assignee
    from_name = TIER_NAMES.get(before_tier, str(before_tier))
    if reason == "ack_breach":
        why_words = f"{from_name}未在{_limit_words(before_tier, ticket.urgency, 'ack')}内受理（{_when_words(due_at)} 到期）"
    elif reason == "answer_breach":
        why_words = f"{from_name}未在{_limit_words(before_tier, ticket.urgency, 'answer')}内答复（{_when_words(due_at)} 到期）"
    elif reason == "manual":
        why_words = f"{actor} 手动上报" + (f"：{note}" if note else "")
    else:
        why_words = reason
    ticket.tier, ticket.node_id, ticket.assignee = r.tier, r.node.id, r.assignee
    ticket.status = "escalated"
    ticket.acknowledged_at = None
    ticket.answered_at = None
    ticket.ack_due, ticket.answer_due = r.ack_due, r.answer_due
    ticket.updated_at = when
    text = f"{why_words} → {r.reason}"
    esc = Escalation(ticket_id=ticket.id, from_tier=before_tier, to_tier=r.tier, reason=reason,
                     due_at=due_at, fired_at=when, actor=actor, note=text[:2000])
    session.add(esc)
    audit(session, actor, "escalate", ticket_id=ticket.id, subject=ticket.number,
          detail={"from_tier": before_tier, "to_tier": r.tier, "node": r.node.code, "reason": reason,
                  "from_status": before_status, "due_at": due_at.isoformat() if due_at else None,
                  "skipped": r.skipped, "assignee": r.assignee, "note": note, "why": text,
                  "ack_due": r.ack_due.isoformat() if r.ack_due else None})
    where = tier_label(r.node)
    staff = [r.assignee] if r.assignee else r.on_duty
    if not staff:  # nobody on duty at the county: its admins still see it
        staff = session.scalars(select(StaffUser.username).where(StaffUser.node_id == r.node.id)).all()
    why = {"ack_breach": "超时未受理", "answer_breach": "超时未答复"}.get(reason, "上报")
    notify_staff(session, list(staff) + [before_assignee],
                 f"工单 {ticket.number}（{ticket.domain}）因{why}，已转交{r.node.name}。", ticket.id)
    tell_resident(session, ticket.resident_key,
                  f"您反映的事情（编号 {ticket.number}）已转交{where}处理，工作人员会尽快联系您。")
    return esc


def sla_reminder(session: Session, ticket: Ticket, kind: str, due_at: datetime, when: datetime) -> Escalation:
    """A breach at the county (nowhere higher to go): remind its staff, then again once per
    answer period (in working time for normal cases) until someone acts."""
    node = session.get(GridNode, ticket.node_id)
    _ack, answer = deadlines_for(session, node, ticket.tier, ticket.urgency, due_at)
    if kind == "ack":
        ticket.ack_due = answer
        if ticket.ack_sla is None:
            ticket.ack_sla = "missed"
    else:
        ticket.answer_due = answer
        if ticket.answer_sla is None:
            ticket.answer_sla = "missed"
    ticket.updated_at = when
    words = "受理" if kind == "ack" else "答复"
    esc = Escalation(ticket_id=ticket.id, from_tier=ticket.tier, to_tier=ticket.tier,
                     reason=f"{kind}_breach_top", due_at=due_at, fired_at=when, actor="system:sla",
                     note=f"县级矛调中心{words}超时（{_when_words(due_at)} 到期），已无更高层级，提醒承办人；"
                          f"下次提醒 {_when_words(answer)}")
    session.add(esc)
    audit(session, "system:sla", "sla_reminder", ticket_id=ticket.id, subject=ticket.number,
          detail={"kind": kind, "due_at": due_at.isoformat()})
    staff = [ticket.assignee] if ticket.assignee else [u.username for u in on_duty_staff(session, node, when)]
    if not staff:
        staff = session.scalars(select(StaffUser.username).where(StaffUser.node_id == node.id)).all()
    notify_staff(session, staff, f"工单 {ticket.number} 已超时（{words}），请尽快处理。", ticket.id)
    return esc


# The intake (tickets.intake._create) routes a new case with its urgency, takes the Route's
# working-time deadlines and writes the routing steps to the audit log ("route"), which
# history() below reads. (A before_flush hook used to patch this up after the fact.)


def history(session: Session, ticket: Ticket) -> list[dict]:
    """The ticket's routing and escalation steps, oldest first, each with its reason in words
    (for the ticket page / API): [{"at", "from_tier", "to_tier", "kind", "why"}]."""
    out = []
    for a in session.scalars(select(AuditLog).where(AuditLog.ticket_id == ticket.id,
                                                    AuditLog.action == "route").order_by(AuditLog.id)):
        d = a.detail or {}
        out.append({"at": a.at, "from_tier": None, "to_tier": d.get("tier"), "kind": "route",
                    "why": d.get("why") or ""})
    for e in session.scalars(select(Escalation).where(Escalation.ticket_id == ticket.id).order_by(Escalation.id)):
        out.append({"at": e.fired_at, "from_tier": e.from_tier, "to_tier": e.to_tier, "kind": e.reason,
                    "why": e.note or e.reason})
    return sorted(out, key=lambda h: h["at"])
