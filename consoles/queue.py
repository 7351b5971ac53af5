"""The console's home (/console/): the staff member's own tickets and the open tickets of their grid
with SLA countdowns, unread notifications, and the queue version the page polls to refresh."""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, g, redirect, render_template, url_for

from consoles.access import login_required, scope_ids
from consoles.templating import sla_badge
from tickets import service

bp = Blueprint("queue", __name__, url_prefix="/console", template_folder="templates")


@bp.get("/")
@login_required
def index():
    me = g.user["username"]
    mine = [t for t in service.list_tickets(assignee=me) if t["status"] != "closed"]
    ids = scope_ids()
    grid = [t for t in service.list_tickets(node_ids=ids, open_only=True) if t["assignee"] != me]
    for t in mine + grid:
        t["sla"] = sla_badge(t)
    notes = service.unread_notifications(me, 5)
    return render_template("console/queue.html", mine=mine, grid=grid, notes=notes, user=g.user,
                           version=_queue_version(ids))


def _queue_version(ids: Optional[set[int]]) -> str:
    from sqlalchemy import func, select

    from mingbai.db import session_scope
    from tickets.models import Ticket

    with session_scope() as s:
        q = select(func.count(), func.max(Ticket.updated_at), func.max(Ticket.id))
        if ids is not None:
            q = q.where(Ticket.node_id.in_(ids))
        n, upd, mx = s.execute(q).one()
    return f"{n}:{mx}:{upd.isoformat() if hasattr(upd, 'isoformat') else upd}"


@bp.post("/notifications/read")
@login_required
def notifications_read():
    service.mark_notifications_read(g.user["username"])
    return redirect(url_for("queue.index"))


@bp.get("/queue/version")
@login_required
def version():
    return {"version": _queue_version(scope_ids())}
