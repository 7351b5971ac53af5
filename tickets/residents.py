"""Residents: their profile row, consent, where they are, and forgetting them (删除我的信息)."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mingbai import outbox
from mingbai.db import session_scope
from mingbai.privacy import mask
from tickets.audit import audit, resident_ref
from tickets.clock import now as clock_now
from tickets.db import insert_ignore, tx
from tickets.feedback import forget as forget_feedback
from tickets.models import FORGOTTEN_SUMMARY, Conversation, Handoff, Message, Resident, Ticket, TicketNote
from tickets.records import TicketError
from tickets.routing import resolve_node


def channel_of(resident_key: str) -> str:
    """The channel part of "{channel}:{channel_user_id}"."""
    return resident_key.split(":", 1)[0] if ":" in resident_key else ""


def resident_row(s: Session, resident_key: str, channel: str = "") -> Resident:
    """The resident's row, made on first sight."""
    if not resident_key or len(resident_key) > 160:
        raise TicketError("居民标识无效")
    r = s.get(Resident, resident_key)
    if r is None:
        # insert-or-ignore: two first messages of a new resident may arrive at once
        insert_ignore(s, Resident, dict(resident_key=resident_key, channel=channel or channel_of(resident_key),
                                        created_at=clock_now(), updated_at=clock_now()))
        r = s.get(Resident, resident_key)
    return r


def has_consent(resident_key: str) -> bool:
    with session_scope() as s:
        r = s.get(Resident, resident_key)
        return bool(r and r.consent)


def record_consent(resident_key: str, granted: bool) -> None:
    with session_scope() as s:
        r = resident_row(s, resident_key)
        r.consent, r.consent_at, r.updated_at = bool(granted), clock_now(), clock_now()
        audit(s, "resident", "consent", subject=resident_ref(resident_key), detail={"granted": bool(granted)})


def set_location(resident_key: str, label: Optional[str] = None, lat: Optional[float] = None,
                 lon: Optional[float] = None) -> dict:
    """Remember where the resident is; returns the grid it maps to (grid None when unknown)."""
    with session_scope() as s:
        r = resident_row(s, resident_key)
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
