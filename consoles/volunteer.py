"""Volunteer / staff console (/console): queues with SLA countdowns, claim, transcript (PII masked,
reveal audited), live messages during a handoff (SSE polling the messages table, so it works
across processes), replies, notes, status, escalation, resolution, satisfaction, the 调解协议书
draft and the monthly 平安报表 for maintainers."""
from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import datetime
from functools import wraps
from typing import Optional

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)

from bot import rasa_client
from mingbai.privacy import mask, mask_phone
from tickets import service
from tickets.clock import local, now as clock_now
from tickets.lifecycle import NEXT_ROUTES, OPEN, OUTCOMES, STATUS_LABELS, ConflictError, TransitionError, allowed

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")  # vendored Chart.js for the report

CANNED = [
    "您好，我是{who}，已经收到您反映的情况，正在了解，请放心。",
    "请问您方便留个电话吗？电话里说更清楚。",
    "我们约个时间当面谈谈，您看明天上午方便吗？",
    "已经联系了对方，正在协调，有进展马上告诉您。",
    "这件事我们会尽快处理，请您先保存好相关的凭证（欠条、合同、照片、聊天记录）。",
    "这件事已经调解好了，感谢您的配合。",
]
SSE_POLL_S = 0.5
# Each open stream holds a server thread: end it after a while, the browser reconnects
# (Last-Event-ID). Outside a handoff the page polls messages.json instead of streaming.
SSE_MAX_S = 120


# Auth --------------------------------------------------------------------------------------------

def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@bp.app_context_processor
def _ctx():
    return {"console_csrf": _csrf_token, "status_labels": STATUS_LABELS}


def _idle_expired() -> bool:
    """Console sessions end after console_idle_minutes without a request."""
    from mingbai.settings import get_settings

    now = int(time.time())
    seen = session.get("staff_seen")
    if not isinstance(seen, int) or now - seen > get_settings().console_idle_minutes * 60:
        return True
    if now - seen >= 30:  # refresh at most every 30 s (each refresh rewrites the cookie)
        session["staff_seen"] = now
    return False


def login_required(fn):
    @wraps(fn)
    def wrapper(*a, **kw):
        from tickets.users import get_user

        name = session.get("staff")
        if not isinstance(name, str):  # only the server signs the cookie; still, never trust its types
            name = None
        if name and _idle_expired():
            session.pop("staff", None)
            session.pop("staff_seen", None)
            flash("长时间未操作，已自动退出，请重新登录。", "error")
            name = None
        user = get_user(name) if name else None
        if user is None:
            return redirect(url_for("console.login", next=request.path))
        g.user = user
        if request.method == "POST" and request.form.get("csrf") != session.get("csrf"):
            abort(400, "表单已过期，请刷新页面再试")
        return fn(*a, **kw)
    return wrapper


def admin_required(fn):
    @wraps(fn)
    @login_required
    def wrapper(*a, **kw):
        if g.user["role"] != "管理员":
            abort(403)
        return fn(*a, **kw)
    return wrapper


_DUMMY_HASH: Optional[str] = None


def _dummy_hash() -> str:
    """A password hash made like real ones (same method and cost), for unknown usernames."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        from werkzeug.security import generate_password_hash

        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def _check_password(username: str, password: str) -> Optional[dict]:
    """authenticate(), with the same password-hash work whether or not the user exists, so the
    response time does not tell an attacker which usernames are real."""
    from werkzeug.security import check_password_hash

    from tickets.users import authenticate, get_user

    if not username or get_user(username) is None:  # unknown or inactive: authenticate skips the hash
        check_password_hash(_dummy_hash(), password or "")
    return authenticate(username, password)


def _safe_next(nxt: str) -> str:
    # Only paths inside the console: no "//evil.example", no "/console\\..", no scheme.
    if nxt.startswith("/console") and not nxt.startswith("//") and "\\" not in nxt and "://" not in nxt:
        return nxt
    return url_for("console.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:80]
        guard = current_app.extensions.get("mingbai_login_guard")
        if guard is not None and guard.locked(username):
            _dummy_hash()
            error = (f"登录失败次数太多，这个账号已暂时锁定。请 {guard.minutes} 分钟后再试；"
                     "如果忘记了密码，请联系管理员重置。")
            return render_template("console/login.html", error=error), 429
        user = _check_password(username, request.form.get("password", ""))
        if user:
            if guard is not None:
                guard.succeeded(username)
            session.clear()  # a fresh session: no fixation
            session["staff"] = user["username"]
            session["staff_seen"] = int(time.time())
            _csrf_token()
            return redirect(_safe_next(request.args.get("next") or ""))
        if guard is not None:
            guard.failed(username)
        error = "用户名或密码不对"
    return render_template("console/login.html", error=error), status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("console.login"))


# Helpers -----------------------------------------------------------------------------------------

def _canned() -> list[str]:
    """Canned replies edited on the admin page, else the built-in ones."""
    try:
        from consoles.admin import canned_replies

        return list(canned_replies()) or CANNED
    except Exception:
        return CANNED


def _scope_ids() -> Optional[set[int]]:
    """Node ids the user oversees (their node and everything under it); None = everything."""
    if g.user["role"] == "管理员" and not g.user["node_id"]:
        return None
    from mingbai.db import session_scope
    from tickets.grids import descendants_ids
    from tickets.models import GridNode

    if not g.user["node_id"]:
        return set()  # a reviewer or a staff member without a grid oversees no tickets
    with session_scope() as s:
        node = s.get(GridNode, g.user["node_id"])
        return descendants_ids(s, node) if node else set()


def _can_see(t: dict) -> bool:
    if t["assignee"] == g.user["username"]:
        return True
    ids = _scope_ids()
    if ids is None:
        return True
    from mingbai.db import session_scope
    from sqlalchemy import select

    from tickets.models import Ticket

    with session_scope() as s:
        row = s.execute(select(Ticket.node_id, Ticket.grid_id).where(Ticket.id == t["id"])).first()
    return bool(row and (row[0] in ids or row[1] in ids))


def _load(number: str) -> dict:
    try:
        t = service.get_ticket(number, with_phone=True)
    except service.TicketError:
        abort(404)
    if not _can_see(t):
        abort(403)
    return t


def sla_badge(t: dict) -> Optional[dict]:
    """The deadline that matters now: acknowledge (待受理/已上报) or answer (未答复)."""
    if t["status"] in ("new", "escalated"):
        kind, due = "受理", t["ack_due"]
    elif t["status"] in OPEN and not t["answered_at"]:
        kind, due = "答复", t["answer_due"]
    else:
        return None
    left = (datetime.fromisoformat(due) - clock_now()).total_seconds()
    level = "late" if left < 0 else "soon" if left < 15 * 60 else "ok"
    return {"kind": kind, "due": due, "left": int(left), "level": level}


def _fmt_left(sec: int) -> str:
    late, sec = sec < 0, abs(sec)
    h, m = divmod(sec // 60, 60)
    txt = f"{h}小时{m}分" if h else f"{m}分"
    return f"超时{txt}" if late else f"剩{txt}"


@bp.app_template_filter("cn_time")
def _localtime(iso: Optional[str], fmt: str = "%m-%d %H:%M") -> str:
    if not iso:
        return ""
    return local(datetime.fromisoformat(iso)).strftime(fmt)


@bp.app_template_filter("cn_mask")
def _mask_filter(text: Optional[str]) -> str:
    return mask(text or "")


@bp.app_template_filter("cn_left")
def _left_filter(sec: int) -> str:
    return _fmt_left(sec)


def _back(number: str, msg: Optional[str] = None, error: bool = False):
    if msg:
        flash(msg, "error" if error else "ok")
    return redirect(url_for("console.ticket", number=number))


# Queues ------------------------------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    me = g.user["username"]
    mine = [t for t in service.list_tickets(assignee=me) if t["status"] != "closed"]
    ids = _scope_ids()
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
    return redirect(url_for("console.index"))


@bp.get("/queue/version")
@login_required
def queue_version():
    return {"version": _queue_version(_scope_ids())}


# One ticket --------------------------------------------------------------------------------------

@bp.get("/t/<number>")
@login_required
def ticket(number: str, reveal: bool = False):
    t = _load(number)
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
    return render_template(
        "console/ticket.html", t=t, msgs=msgs, notes=service.notes(number), user=g.user, reveal=reveal,
        canned=[c.format(who=who) for c in _canned()], next_statuses=allowed(t["status"]),
        outcomes=OUTCOMES, routes=NEXT_ROUTES, handoff=service.active_handoff(t["resident_key"]),
        last_id=msgs[-1]["id"] if msgs else 0, history=service.ticket_history(number))


@bp.post("/t/<number>/reveal")
@login_required
def reveal(number: str):
    t = _load(number)
    from mingbai.db import session_scope
    from tickets.audit import audit

    with session_scope() as s:
        audit(s, f"staff:{g.user['username']}", "reveal_pii", ticket_id=t["id"], subject=number,
              detail={"reason": request.form.get("reason", "")[:200]})
    return ticket(number, reveal=True)


@bp.post("/t/<number>/claim")
@login_required
def claim(number: str):
    _load(number)
    if service.claim(number, g.user["username"]):
        return _back(number, "已认领，请尽快受理。")
    return _back(number, "这张工单已经被别人认领了。", error=True)


@bp.post("/t/<number>/reply")
@login_required
def reply(number: str):
    _load(number)
    try:
        ok = service.staff_reply(number, g.user["username"], request.form.get("text", ""))
    except service.TicketError as e:
        return _back(number, str(e), error=True)
    return _back(number, "已发送。" if ok else "已记录，但暂时没能送达居民，系统会重试。", error=not ok)


@bp.post("/t/<number>/note")
@login_required
def note(number: str):
    _load(number)
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


@bp.post("/t/<number>/status")
@login_required
def status(number: str):
    t = _load(number)
    to = request.form.get("to", "")
    if to == "acknowledged" and not t["assignee"]:
        service.claim(number, g.user["username"])  # acknowledging means taking it
    return _change(number, to, note=request.form.get("note") or None)


@bp.post("/t/<number>/escalate")
@login_required
def escalate(number: str):
    _load(number)
    return _change(number, "escalated", note=request.form.get("note") or None)


@bp.post("/t/<number>/resolve")
@login_required
def resolve(number: str):
    _load(number)
    f = request.form
    return _change(number, "resolved", outcome=f.get("outcome"), next_route=f.get("next_route") or None,
                   resolution=f.get("resolution") or None)


@bp.post("/t/<number>/satisfaction/ask")
@login_required
def ask_satisfaction(number: str):
    _load(number)
    try:
        service.ask_satisfaction(number, g.user["username"])
    except (service.TicketError, TransitionError) as e:
        return _back(number, str(e), error=True)
    return _back(number, "已请居民打分（回复 1–5）。")


@bp.post("/t/<number>/satisfaction")
@login_required
def satisfaction(number: str):
    _load(number)
    try:
        score = int(request.form.get("score", "0"))
    except ValueError:
        score = 0
    try:
        service.set_satisfaction(number, score, f"staff:{g.user['username']}")
    except (service.TicketError, TransitionError) as e:
        return _back(number, str(e), error=True)
    return _back(number, "满意度已记录。")


@bp.post("/t/<number>/handoff/start")
@login_required
def handoff_start(number: str):
    t = _load(number)
    service.start_handoff(t["resident_key"], "工作人员接管对话", number, actor=f"staff:{g.user['username']}")
    try:  # the console started it, so the console pauses the bot
        rasa_client.pause(t["resident_key"])
    except Exception as e:
        log.warning("could not pause the bot: %s", e)
    return _back(number, "已接管对话，机器人暂停回复。")


@bp.post("/t/<number>/handoff/end")
@login_required
def handoff_end(number: str):
    t = _load(number)
    if service.end_handoff(t["resident_key"], f"staff:{g.user['username']}"):
        try:  # the console ended it, so the console resumes the bot
            rasa_client.resume(t["resident_key"])
        except Exception as e:  # RasaUnavailable when Rasa is down
            log.warning("could not resume the bot for this resident: %s", e)
    return _back(number, "已结束人工对话，机器人恢复回复。")


@bp.get("/t/<number>/stream")
@login_required
def stream(number: str):
    """Server-sent events: new transcript rows, polled from the DB so any process's writes show."""
    t = _load(number)
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
                m["at"] = _localtime(m["created_at"], "%H:%M")
                yield f"id: {m['id']}\nevent: message\ndata: {json.dumps(m, ensure_ascii=False)}\n\n"
            if time.monotonic() - last_beat > 15:
                last_beat = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(SSE_POLL_S)

    return Response(stream_with_context(gen()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/t/<number>/messages.json")
@login_required
def messages_json(number: str):
    t = _load(number)
    try:
        after = int(request.args.get("after", "0"))
    except ValueError:
        after = 0
    rows = service.transcript(t["resident_key"], after)
    for m in rows:
        m["text"] = mask(m["text"])
        m["at"] = _localtime(m["created_at"], "%H:%M")
    return {"messages": rows, "handoff": service.in_handoff(t["resident_key"])}


@bp.get("/t/<number>/agreement")
@login_required
def agreement(number: str):
    t = _load(number)
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


# Maintainer --------------------------------------------------------------------------------------

def _report_args():
    """?period=week|month|year&at=2026-W48|2026-11|2026&scope=QFZ (month= still works)."""
    from tickets.report import ReportError, build

    period = request.args.get("period") or "month"
    at = request.args.get("at") or request.args.get("month") or None
    if request.args.get("month") and not request.args.get("period"):
        period = "month"
    try:
        return build(period, at, request.args.get("scope") or None)
    except ReportError as e:
        abort(400, str(e))


@bp.get("/report")
@admin_required
def report():
    return render_template("console/report.html", r=_report_args(), user=g.user)


@bp.get("/report.csv")
@admin_required
def report_csv():
    from tickets.report import to_csv

    r = _report_args()
    name = f"pingan-{r['label']}{'-' + r['scope'] if r['scope'] else ''}.csv"
    return Response(to_csv(r), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
