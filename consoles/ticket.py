"""One ticket's page (/console/t/<number>) and what staff do there: claim, reveal the masked
details (audited), reply, note, status, escalation, resolution, satisfaction, taking over the
conversation from the bot (handoff; live messages by SSE polling the messages table, so it works
across processes) and the 调解协议书 draft."""
from __future__ import annotations

import json
import logging
import time
from typing import Optional

from flask import Blueprint, Response, flash, g, redirect, render_template, request, stream_with_context, url_for

from bot import rasa_client
from consoles.access import load_ticket, login_required
from consoles.admin import CANNED, canned_replies
from consoles.templating import local_time, sla_badge
from mingbai.privacy import mask, mask_phone
from tickets import scope, service
from tickets.clock import local, now as clock_now
from tickets.lifecycle import NEXT_ROUTES, OUTCOMES, STATUS_LABELS, ConflictError, TransitionError, allowed

log = logging.getLogger(__name__)

bp = Blueprint("ticket", __name__, url_prefix="/console/t", template_folder="templates")

SSE_POLL_S = 0.5
# Each open stream holds a server thread: end it after a while, the browser reconnects
# (Last-Event-ID). Outside a handoff the page polls messages.json instead of streaming.
SSE_MAX_S = 120


def _canned() -> list[str]:
    """Canned replies edited on the admin page, else the built-in ones."""
    try:
        return list(canned_replies()) or CANNED
    except Exception:
        return CANNED


def _back(number: str, msg: Optional[str] = None, error: bool = False):
    if msg:
        flash(msg, "error" if error else "ok")
    return redirect(url_for("ticket.page", number=number))


@bp.get("/<number>")
@login_required
def page(number: str, reveal: bool = False):
    t = load_ticket(number)
    t["sla"] = sla_badge(t)
    msgs = service.transcript(t["resident_key"])
    if not reveal:
        for m in msgs:
            m["text"] = mask(m["text"])
        t["summary_shown"] = mask(t["summary"])
        t["phone_shown"] = mask_phone(t["phone"]) if t.get("phone") else ""
    else:
        t["summary_shown"] = t["summary"]
        t["phone_shown"] = t.get("phone") or ""
    who = f"{g.user['node_name'] or ''}{g.user['role']}{g.user['display_name']}"
    writable = scope.can_write(g.user, number)  # False: escalated away from the user's grid, read only
    return render_template(
        "console/ticket.html", t=t, msgs=msgs, notes=service.notes(number), user=g.user, reveal=reveal,
        writable=writable, canned=[c.format(who=who) for c in _canned()],
        next_statuses=allowed(t["status"]) if writable else [],
        outcomes=OUTCOMES, routes=NEXT_ROUTES, handoff=service.active_handoff(t["resident_key"]),
        last_id=msgs[-1]["id"] if msgs else 0, history=service.ticket_history(number))


@bp.post("/<number>/reveal")
@login_required
def reveal(number: str):
    t = load_ticket(number)
    from mingbai.db import session_scope
    from tickets.audit import audit

    with session_scope() as s:
        audit(s, f"staff:{g.user['username']}", "reveal_pii", ticket_id=t["id"], subject=number,
              detail={"reason": request.form.get("reason", "")[:200]})
    return page(number, reveal=True)


@bp.post("/<number>/claim")
@login_required
def claim(number: str):
    load_ticket(number, write=True)
    if service.claim(number, g.user["username"]):
        return _back(number, "已认领，请尽快受理。")
    return _back(number, "这张工单已经被别人认领了。", error=True)


@bp.post("/<number>/reply")
@login_required
def reply(number: str):
    load_ticket(number, write=True)
    try:
        ok = service.staff_reply(number, g.user["username"], request.form.get("text", ""))
    except service.TicketError as e:
        return _back(number, str(e), error=True)
    return _back(number, "已发送。" if ok else "已记录，但暂时没能送达居民，系统会重试。", error=not ok)


@bp.post("/<number>/note")
@login_required
def note(number: str):
    load_ticket(number, write=True)
    try:
        service.add_note(number, g.user["username"], request.form.get("text", ""))
    except service.TicketError as e:
        return _back(number, str(e), error=True)
    return _back(number, "备注已保存。")


def _change(number: str, to: str, **kw):
    try:
        service.change_status(number, to, f"staff:{g.user['username']}", **kw)
    except (TransitionError, ConflictError) as e:
        return _back(number, str(e), error=True)
    except service.TicketError as e:
        return _back(number, str(e), error=True)
    return _back(number, f"已改为「{STATUS_LABELS[to]}」。")


@bp.post("/<number>/status")
@login_required
def status(number: str):
    t = load_ticket(number, write=True)
    to = request.form.get("to", "")
    if to == "acknowledged" and not t["assignee"]:
        service.claim(number, g.user["username"])  # acknowledging means taking it
    return _change(number, to, note=request.form.get("note") or None)


@bp.post("/<number>/escalate")
@login_required
def escalate(number: str):
    load_ticket(number, write=True)
    return _change(number, "escalated", note=request.form.get("note") or None)


@bp.post("/<number>/resolve")
@login_required
def resolve(number: str):
    load_ticket(number, write=True)
    f = request.form
    return _change(number, "resolved", outcome=f.get("outcome"), next_route=f.get("next_route") or None,
                   resolution=f.get("resolution") or None)


@bp.post("/<number>/satisfaction/ask")
@login_required
def ask_satisfaction(number: str):
    load_ticket(number, write=True)
    try:
        service.ask_satisfaction(number, g.user["username"])
    except (service.TicketError, TransitionError) as e:
        return _back(number, str(e), error=True)
    return _back(number, "已请居民打分（回复 1–5）。")


@bp.post("/<number>/satisfaction")
@login_required
def satisfaction(number: str):
    load_ticket(number, write=True)
    try:
        score = int(request.form.get("score", "0"))
    except ValueError:
        score = 0
    try:
        service.set_satisfaction(number, score, f"staff:{g.user['username']}")
    except (service.TicketError, TransitionError) as e:
        return _back(number, str(e), error=True)
    return _back(number, "满意度已记录。")


@bp.post("/<number>/handoff/start")
@login_required
def handoff_start(number: str):
    t = load_ticket(number, write=True)
    service.start_handoff(t["resident_key"], "工作人员接管对话", number, actor=f"staff:{g.user['username']}")
    try:  # the console started it, so the console pauses the bot
        rasa_client.pause(t["resident_key"])
    except Exception as e:
        log.warning("could not pause the bot: %s", e)
    return _back(number, "已接管对话，机器人暂停回复。")


@bp.post("/<number>/handoff/end")
@login_required
def handoff_end(number: str):
    t = load_ticket(number, write=True)
    if service.end_handoff(t["resident_key"], f"staff:{g.user['username']}"):
        try:  # the console ended it, so the console resumes the bot
            rasa_client.resume(t["resident_key"])
        except Exception as e:  # RasaUnavailable when Rasa is down
            log.warning("could not resume the bot for this resident: %s", e)
    return _back(number, "已结束人工对话，机器人恢复回复。")


@bp.get("/<number>/stream")
@login_required
def stream(number: str):
    """Server-sent events: new transcript rows, polled from the DB so any process's writes show."""
    t = load_ticket(number)
    key = t["resident_key"]
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("after") or 0)
    except ValueError:
        after = 0

    def gen():
        nonlocal after
        start = last_beat = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - start < SSE_MAX_S:
            for m in service.transcript(key, after):
                after = m["id"]
                m["text"] = mask(m["text"])
                m["at"] = local_time(m["created_at"], "%H:%M")
                yield f"id: {m['id']}\nevent: message\ndata: {json.dumps(m, ensure_ascii=False)}\n\n"
            if time.monotonic() - last_beat > 15:
                last_beat = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(SSE_POLL_S)

    return Response(stream_with_context(gen()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/<number>/messages.json")
@login_required
def messages_json(number: str):
    t = load_ticket(number)
    try:
        after = int(request.args.get("after", "0"))
    except ValueError:
        after = 0
    rows = service.transcript(t["resident_key"], after)
    for m in rows:
        m["text"] = mask(m["text"])
        m["at"] = local_time(m["created_at"], "%H:%M")
    return {"messages": rows, "handoff": service.in_handoff(t["resident_key"])}


@bp.get("/<number>/agreement")
@login_required
def agreement(number: str):
    t = load_ticket(number)
    if t["status"] not in ("resolved", "closed") or t["outcome"] != "调解成功":
        return _back(number, "调解成功办结后才能生成调解协议书。", error=True)
    from consoles.agreement import article
    from mingbai.db import session_scope
    from tickets.audit import audit
    from tickets.grids import node_at_tier
    from tickets.models import GridNode, Ticket

    with session_scope() as s:
        audit(s, f"staff:{g.user['username']}", "agreement_draft", ticket_id=t["id"], subject=number)
        row = s.get(Ticket, t["id"])
        origin = s.get(GridNode, row.grid_id or row.node_id)
        # grids have no committee of their own: the village/community's (or higher) signs
        body = node_at_tier(s, origin, max(row.tier, 2)) if origin else None
        committee = f"{body.name}人民调解委员会" if body else "人民调解委员会"
    return render_template("console/agreement.html", t=t, art=article(), user=g.user, committee=committee,
                           today=local(clock_now()).strftime("%Y年%m月%d日"))
