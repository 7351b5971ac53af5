"""Who may use the console and which tickets they may see, shared by every console blueprint:
login_required / admin_required (signed-in staff, idle timeout, CSRF on POST) and the ticket
scope, whose one rule lives in tickets/scope.py (shared with the REST API)."""
from __future__ import annotations

import secrets
import time
from functools import wraps
from typing import Optional

from flask import abort, flash, g, redirect, request, session, url_for

from tickets import scope, service


def csrf_token() -> str:
    """The session's CSRF token (made on first use); every console form posts it back."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


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
            return redirect(url_for("auth.login", next=request.path))
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


def scope_ids() -> Optional[set[int]]:
    """Node ids the signed-in user oversees; None = everything (tickets.scope.node_ids)."""
    return scope.node_ids(g.user)


def load_ticket(number: str, *, write: bool = False) -> dict:
    """The ticket (phone included) if the user may see it — or, with write=True, work on it
    (tickets.scope: an escalated ticket is read-only for the grid it left); 404 when unknown,
    403 when out of scope."""
    try:
        t = service.get_ticket(number, with_phone=True)
    except service.TicketError:
        abort(404)
    allowed = scope.can_write if write else scope.can_see
    if not allowed(g.user, number):
        abort(403)
    return t
