"""The tickets area's Python API (docs/ARCHITECTURE.md "tickets"), used by the bot's actions,
the connectors' gateway, the console and the REST API.

Errors meant for people are `TicketError` (a ValueError) with a Chinese message.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from mingbai import outbox
from mingbai.db import session_scope
from mingbai.privacy import mask
from tickets.audit import audit, resident_ref
from tickets.clock import local, now as clock_now
from tickets.db import tx
from tickets.feedback import forget as forget_feedback
from tickets.grids import tier_label, top_node
from tickets.lifecycle import (
    OPEN,
    STATUS_LABELS,
    TIER_NAMES,
    ConflictError,
    TransitionError,
    history,
    transition,
)
from tickets.models import (
    FORGOTTEN_SUMMARY,
    AuditLog,
    Conversation,
    GridNode,
    Handoff,
    Message,
    Resident,
    StaffNotification,
    Ticket,
    TicketCounter,
    TicketNote,
)
from tickets.notify import notify_staff, send
from tickets.policy import URGENCIES, deadlines
from tickets.routing import on_duty_staff, resolve_node, route

log = logging.getLogger(__name__)
CONVERSATION_GAP = timedelta(hours=6)
DEFAULT_DOMAIN = "综合咨询"


class TicketError(ValueError):
    """A refusal with a Chinese message (unknown ticket, no consent, bad input)."""


def _channel(resident_key: str) -> str:
    return resident_key.split(":", 1)[0] if ":" in resident_key else ""


def _resident(s: Session, resident_key: str, channel: str = "") -> Resident:
    if not resident_key or len(resident_key) > 160:
        raise TicketError("居民标识无效")
    r = s.get(Resident, resident_key)
    if r is None:
        # insert-or-ignore: two first messages of a new resident may arrive at once
        _insert_ignore(s, Resident, dict(resident_key=resident_key, channel=channel or _channel(resident_key),
                                         created_at=clock_now(), updated_at=clock_now()))
        r = s.get(Resident, resident_key)
    return r


def _insert_ignore(s: Session, model, values: dict) -> None:
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    s.execute(insert(model).values(**values).on_conflict_do_nothing())


def _iso(dt: Optional[datetime]) -> Optional[str]:
    return dt.isoformat() if dt else None


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
        "ack_due": _iso(t.ack_due), "answer_due": _iso(t.answer_due),
        "acknowledged_at": _iso(t.acknowledged_at), "answered_at": _iso(t.answered_at),
        "assignee": t.assignee, "outcome": t.outcome, "next_route": t.next_route, "resolution": t.resolution,
        "satisfaction": t.satisfaction, "consent": t.consent, "created_at": _iso(t.created_at), "updated_at": _iso(t.updated_at),
        "resolved_at": _iso(t.resolved_at), "closed_at": _iso(t.closed_at),
    }
    if with_phone:
        d["phone"] = t.phone
    return d


# Transcript ----------------------------------------------------------------

def record_message(resident_key: str, direction: str, text: str, author: str, channel: str) -> None:
    """Append to the transcript. Never loses a message to a concurrent ticket update: the
    follow-up bookkeeping (answered / satisfaction) runs in its own transaction."""
    if direction not in ("in", "out"):
        raise TicketError("direction 只能是 in 或 out")
    when = clock_now()
    with session_scope() as s:
        _resident(s, resident_key, channel)
        conv = s.scalars(select(Conversation).where(Conversation.resident_key == resident_key)
                         .order_by(Conversation.id.desc()).limit(1)).first()
        if conv is None or when - conv.last_at > CONVERSATION_GAP:
            conv = Conversation(resident_key=resident_key, channel=channel or _channel(resident_key),
                                started_at=when, last_at=when)
            s.add(conv)
            s.flush()
        else:
            conv.last_at = when
        s.add(Message(conversation_id=conv.id, resident_key=resident_key, direction=direction,
                      author=author or "system", channel=channel or _channel(resident_key),
                      text=text or "", created_at=when))
    try:
        if direction == "out" and (author or "").startswith("staff:"):
            _mark_answered(resident_key, when)
        elif direction == "in" and author == "resident" and (text or "").strip() in {"1", "2", "3", "4", "5"}:
            _take_satisfaction(resident_key, int(text.strip()))
    except Exception:
        log.exception("transcript bookkeeping failed for %s", resident_key)


def _mark_answered(resident_key: str, when: datetime) -> None:
    for _ in range(3):
        try:
            with tx() as s:
                for t in s.scalars(select(Ticket).where(Ticket.resident_key == resident_key,
                                                        Ticket.status.in_(OPEN), Ticket.answered_at.is_(None))):
                    t.answered_at = when
            return
        except StaleDataError:
            continue


def _take_satisfaction(resident_key: str, score: int) -> None:
    with tx() as s:
        t = s.scalars(select(Ticket).where(Ticket.resident_key == resident_key,
                                           Ticket.satisfaction_asked_at.is_not(None),
                                           Ticket.satisfaction.is_(None))
                      .order_by(Ticket.satisfaction_asked_at.desc())).first()
        if t is not None:
            t.satisfaction = score
            audit(s, f"resident", "satisfaction", ticket_id=t.id, subject=t.number, detail={"score": score})


def transcript(resident_key: str, after_id: int = 0, limit: int = 500) -> list[dict]:
    with session_scope() as s:
        rows = s.scalars(select(Message).where(Message.resident_key == resident_key, Message.id > after_id)
                         .order_by(Message.id).limit(limit)).all()
        return [{"id": m.id, "direction": m.direction, "author": m.author, "channel": m.channel,
                 "text": m.text, "created_at": _iso(m.created_at)} for m in rows]


# Consent, location, forgetting ----------------------------------------------

def has_consent(resident_key: str) -> bool:
    with session_scope() as s:
        r = s.get(Resident, resident_key)
        return bool(r and r.consent)


def record_consent(resident_key: str, granted: bool) -> None:
    with session_scope() as s:
        r = _resident(s, resident_key)
        r.consent, r.consent_at, r.updated_at = bool(granted), clock_now(), clock_now()
        audit(s, "resident", "consent", subject=resident_ref(resident_key), detail={"granted": bool(granted)})


def set_location(resident_key: str, label: Optional[str] = None, lat: Optional[float] = None,
                 lon: Optional[float] = None) -> dict:
    """Remember where the resident is; returns the grid it maps to (grid None when unknown)."""
    with session_scope() as s:
        r = _resident(s, resident_key)
        if label:
            r.location_label = label[:200]
        if lat is not None and lon is not None:
            r.lat, r.lon = float(lat), float(lon)
        node = resolve_node(s, label or r.location_label, r.lat, r.lon)
        r.grid_code = node.code if node else r.grid_code
        r.updated_at = clock_now()
        return {"grid": node.code if node else None, "grid_name": node.name if node else None}


def forget_resident(resident_key: str) -> int:
    """删除我的信息: delete the transcript, handoffs and profile; tickets keep only what the
    mediation record needs, with the summary, parties, phone and place wiped, the idempotency key
    (it can spell the resident's id: handoff:<key>:…, emergency:<key>:…) replaced, and the
    resolution and internal notes masked. Returns rows touched. Rasa's tracker is the bot's to
    wipe (bot.rasa_client.delete_conversation; tickets never imports the bot)."""
    n = 0
    with tx() as s:
        n += s.execute(delete(Message).where(Message.resident_key == resident_key)).rowcount or 0
        n += s.execute(delete(Conversation).where(Conversation.resident_key == resident_key)).rowcount or 0
        n += s.execute(delete(Handoff).where(Handoff.resident_key == resident_key)).rowcount or 0
        n += forget_feedback(s, resident_key)  # 有帮助/没帮助 and the 未解答 inbox's questions
        ghost = "forgotten:" + resident_ref(resident_key).split("#", 1)[1]
        ticket_ids = []
        for t in s.scalars(select(Ticket).where(Ticket.resident_key == resident_key)):
            t.resident_key, t.summary, t.parties = ghost, FORGOTTEN_SUMMARY, None
            t.phone = t.location = t.preferred_time = None
            t.idempotency_key = f"forgotten:{t.id}"  # unique, and no longer derived from the resident
            if t.resolution:
                t.resolution = mask(t.resolution)
            ticket_ids.append(t.id)
            n += 1
        if ticket_ids:  # staff notes may quote the resident's number or address
            for note in s.scalars(select(TicketNote).where(TicketNote.ticket_id.in_(ticket_ids))):
                masked = mask(note.text)
                if masked != note.text:
                    note.text = masked
                    n += 1
        r = s.get(Resident, resident_key)
        if r is not None:
            s.delete(r)
            n += 1
        # Texts queued or sent to the resident (the outbox) go too. The channels' own rows (the
        # 48-hour window, dedup) are the connectors' to clear: the gateway does right after.
        n += outbox.forget(s, resident_key)
        # the audit log keeps only a hash: it must not re-identify the resident
        audit(s, "resident", "forget", subject=resident_ref(resident_key), detail={"rows": n})
    return n


# Tickets --------------------------------------------------------------------

def _next_number(s: Session, grid_code: str, year: int) -> tuple[int, str]:
    for _ in range(5):
        res = s.execute(update(TicketCounter).where(TicketCounter.grid_code == grid_code, TicketCounter.year == year)
                        .values(last=TicketCounter.last + 1))
        if res.rowcount:
            seq = s.scalar(select(TicketCounter.last).where(TicketCounter.grid_code == grid_code,
                                                             TicketCounter.year == year))
            return seq, f"{year}-{grid_code}-{seq:04d}"
        _insert_ignore(s, TicketCounter, dict(grid_code=grid_code, year=year, last=0))
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


def open_ticket(resident_key: str, *, domain: str, subtype: Optional[str] = None, summary: str,
                parties: Optional[list] = None, location: Optional[str] = None, phone: Optional[str] = None,
                preferred_time: Optional[str] = None, consent: bool = True, urgency: str = "normal",
                idempotency_key: Optional[str] = None) -> dict:
    """Open a ticket (idempotent: the same intake twice gives the same ticket, `created` False).

    consent=False (the resident did not agree to pass the case to a mediator): the case is only
    recorded for the statistics — summary masked, no phone/parties/place, status closed, nobody
    notified, no SLA. Saying 转人工 later opens a real one (start_handoff)."""
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
                               None, urgency, when, record_only=True)
            return _create(resident_key, key, domain, subtype, summary, parties, location, phone,
                           preferred_time, urgency, when)
        except IntegrityError:
            continue  # the same key won a race: loop returns the winner's ticket
    raise TicketError("登记失败，请稍后再试。")


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
            urgency, when, record_only: bool = False) -> dict:
    with tx() as s:
        r = _resident(s, resident_key)
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
        # The urgency decides the tier (urgent cases out of hours go up / to 值班) and the clock;
        # the Route's deadlines are in the owning node's working time (tickets.routing).
        rt = route(s, origin, domain, when, urgency=urgency)
        year = local(when).year
        seq, number = _next_number(s, origin.code, year)
        ack_due, answer_due = rt.ack_due, rt.answer_due
        if ack_due is None or answer_due is None:  # defensive: a Route always has them
            ack_due, answer_due = deadlines(rt.tier, urgency, when)
        t = Ticket(number=number, year=year, seq=seq, idempotency_key=key, resident_key=resident_key,
                   channel=_channel(resident_key), domain=domain, subtype=subtype, summary=summary[:4000],
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
                           "why": rt.reason, "ack_due": _iso(rt.ack_due), "answer_due": _iso(rt.answer_due)}))


def get_ticket(number: str, *, with_phone: bool = False) -> dict:
    with session_scope() as s:
        t = _get(s, number)
        return ticket_dict(s, t, with_phone=with_phone)


def _get(s: Session, number: str) -> Ticket:
    t = s.scalars(select(Ticket).where(Ticket.number == number)).first()
    if t is None:
        raise TicketError(f"没有找到工单 {number}")
    return t


def ticket_history(number: str) -> list[dict]:
    """The ticket's routing and escalation steps for the console (tickets.lifecycle.history):
    [{"at" (ISO), "kind", "from_tier", "to_tier", "from_name", "to_name", "why"}], oldest first."""
    with session_scope() as s:
        t = _get(s, number)
        return [{**h, "at": _iso(h["at"]), "from_name": TIER_NAMES.get(h["from_tier"], "") if h["from_tier"] else "",
                 "to_name": TIER_NAMES.get(h["to_tier"], "") if h["to_tier"] else ""} for h in history(s, t)]


def tickets_for_resident(resident_key: str) -> list[dict]:
    with session_scope() as s:
        rows = s.scalars(select(Ticket).where(Ticket.resident_key == resident_key).order_by(Ticket.id.desc())).all()
        nodes = {n.id: n for n in s.scalars(select(GridNode))} if len(rows) > 2 else None
        return [ticket_dict(s, t, nodes=nodes) for t in rows]


def list_tickets(*, status: Optional[str] = None, node_ids: Optional[set[int]] = None,
                 assignee: Optional[str] = None, unassigned: bool = False, open_only: bool = False,
                 resident_key: Optional[str] = None, limit: int = 200) -> list[dict]:
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


def change_status(number: str, to: str, actor: str, **kw) -> dict:
    try:
        with tx() as s:
            t = _get(s, number)
            transition(s, t, to, actor, **kw)
            s.flush()
            out = ticket_dict(s, t)
        return out
    except StaleDataError:
        raise ConflictError("工单刚被别人改过，请刷新后再试。") from None


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
        t = _get(s, number)
        s.add(TicketNote(ticket_id=t.id, author=username, text=text[:4000], created_at=clock_now()))
        audit(s, f"staff:{username}", "note", ticket_id=t.id, subject=number)


def notes(number: str) -> list[dict]:
    with session_scope() as s:
        t = _get(s, number)
        rows = s.scalars(select(TicketNote).where(TicketNote.ticket_id == t.id).order_by(TicketNote.id))
        return [{"author": n.author, "text": n.text, "created_at": _iso(n.created_at)} for n in rows]


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


def _guard(fn):
    """A concurrent change of the same ticket (version mismatch) becomes a polite ConflictError."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except StaleDataError:
            raise ConflictError("工单刚被别人改过，请刷新后再试。") from None
    return wrapper


@_guard
def ask_satisfaction(number: str, username: str) -> bool:
    text = "这件事已经处理完了。请您给我们的服务打个分：回复 1 到 5 的数字，5 分最满意。"
    with tx() as s:
        t = _get(s, number)
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
        t = _get(s, number)
        t.satisfaction = int(score)
        audit(s, actor, "satisfaction", ticket_id=t.id, subject=number, detail={"score": int(score)})


# Handoff --------------------------------------------------------------------

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
        t = _get(s, number)
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
            "started_at": _iso(h.started_at), "already": already,
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


def unread_notifications(username: str, limit: int = 20) -> list[dict]:
    with session_scope() as s:
        rows = s.scalars(select(StaffNotification).where(StaffNotification.username == username,
                                                         StaffNotification.read_at.is_(None))
                         .order_by(StaffNotification.id.desc()).limit(limit))
        return [{"id": n.id, "text": n.text, "created_at": _iso(n.created_at), "ticket_id": n.ticket_id}
                for n in rows]


def mark_notifications_read(username: str) -> int:
    with session_scope() as s:
        res = s.execute(update(StaffNotification).where(StaffNotification.username == username,
                                                        StaffNotification.read_at.is_(None))
                        .values(read_at=clock_now()))
        return res.rowcount or 0


__all__ = [
    "TicketError", "TransitionError", "ConflictError", "record_message", "has_consent", "record_consent",
    "forget_resident", "set_location", "open_ticket", "start_handoff", "end_handoff", "in_handoff",
    "tickets_for_resident", "get_ticket", "list_tickets", "change_status", "claim", "add_note", "staff_reply",
    "ask_satisfaction", "set_satisfaction", "transcript", "active_handoff", "mark_notifications_read",
    "ticket_history",
]
