"""Console sign-in (/console/login, /console/logout): password check that takes the same time for
unknown usernames, the per-username lockout (mingbai.web's LoginGuard), a fresh session on login and
only console paths as the place to go next."""
from __future__ import annotations

import secrets
import time
from typing import Optional

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from consoles.access import csrf_token

bp = Blueprint("auth", __name__, url_prefix="/console", template_folder="templates")

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
    return url_for("queue.index")


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
            csrf_token()
            return redirect(_safe_next(request.args.get("next") or ""))
        if guard is not None:
            guard.failed(username)
        error = "用户名或密码不对"
    return render_template("console/login.html", error=error), status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))
