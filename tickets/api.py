"""REST API for integrations: /api/v1/tickets… (Bearer token: a staff API token from
`mingbai user token`, or the installation's API token from settings, which acts as system:api)."""
from __future__ import annotations

import hmac
from functools import wraps

from flask import Blueprint, g, jsonify, request

from tickets import scope, service
from tickets.lifecycle import ConflictError, TransitionError

bp = Blueprint("tickets_api", __name__, url_prefix="/api/v1/tickets")

OPEN_FIELDS = ("domain", "subtype", "summary", "parties", "location", "phone", "preferred_time", "consent",
               "urgency", "idempotency_key")


def _error(msg: str, status: int):
    return jsonify(error=msg), status


def require_token(fn):
    @wraps(fn)
    def wrapper(*a, **kw):
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            return _error("需要 API 令牌 (Authorization: Bearer …)", 401)
        from mingbai.settings import get_settings

        # The installation's token first: no database needed (the /api/v1/ask and /classify
        # blueprints use this decorator too, also in apps without the tickets tables).
        if hmac.compare_digest(token.encode(), get_settings().secret("api_token").encode()):
            g.api_actor, g.api_user = "system:api", None
            return fn(*a, **kw)
        from tickets.users import user_for_token

        user = user_for_token(token)
        if user is not None:
            g.api_actor, g.api_user = f"staff:{user['username']}", user
        else:
            return _error("API 令牌无效", 401)
        return fn(*a, **kw)
    return wrapper


def _scope():
    """Node ids the token oversees (tickets.scope.node_ids); None = everything (the installation's
    token acts for the system)."""
    return None if g.api_user is None else scope.node_ids(g.api_user)


def _scoped(check):
    """403 unless `check(user, number)` allows it (tickets.scope); an unknown ticket passes on
    to the handler, which answers 404."""
    def decorator(fn):
        @wraps(fn)
        def wrapper(number, *a, **kw):
            if g.api_user is not None and check(g.api_user, number) is False:
                return _error("这张工单不在您的辖区", 403)
            return fn(number, *a, **kw)
        return wrapper
    return decorator


visible = _scoped(scope.can_see)    # reading: current node, origin grid or assignee
writable = _scoped(scope.can_write)  # working on it: current node or assignee (not the grid it left)


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("")
@require_token
def create():
    data = _body()
    key = data.get("resident_key")
    if not key or not data.get("summary"):
        return _error("需要 resident_key 和 summary", 400)
    kwargs = {k: data[k] for k in OPEN_FIELDS if k in data}
    kwargs.setdefault("domain", None)
    if request.headers.get("Idempotency-Key") and "idempotency_key" not in kwargs:
        kwargs["idempotency_key"] = request.headers["Idempotency-Key"]
    try:  # a staff token opens tickets only in its own grids
        t = service.open_ticket(key, **kwargs, within=_scope())
    except scope.OutOfScope as e:
        return _error(str(e), 403)
    except service.TicketError as e:
        return _error(str(e), 400)
    if g.api_user is not None and not t["created"] and not scope.can_see(g.api_user, t["number"]):
        return _error("这张工单不在您的辖区", 403)  # the same intake already exists, elsewhere
    return jsonify(t), 201 if t.get("created") else 200


@bp.get("")
@require_token
def index():
    a = request.args
    node_ids = _scope()
    if a.get("node"):
        from mingbai.db import session_scope
        from sqlalchemy import select

        from tickets.grids import descendants_ids
        from tickets.models import GridNode

        with session_scope() as s:
            node = s.scalars(select(GridNode).where(GridNode.code == a["node"])).first()
            if node is None:
                return _error(f"没有网格 {a['node']}", 404)
            wanted = descendants_ids(s, node)
            node_ids = wanted if node_ids is None else node_ids & wanted
    try:
        limit = min(int(a.get("limit", 100)), 1000)
    except ValueError:
        return _error("limit 必须是数字", 400)
    rows = service.list_tickets(status=a.get("status"), assignee=a.get("assignee"), node_ids=node_ids,
                                resident_key=a.get("resident_key"), open_only=a.get("open") in ("1", "true"),
                                unassigned=a.get("unassigned") in ("1", "true"), limit=limit)
    return jsonify(tickets=rows, count=len(rows))


@bp.get("/<number>")
@require_token
@visible
def show(number: str):
    try:
        return jsonify(service.get_ticket(number))
    except service.TicketError as e:
        return _error(str(e), 404)


@bp.get("/<number>/messages")
@require_token
@visible
def messages(number: str):
    from mingbai.privacy import mask

    try:
        t = service.get_ticket(number)
    except service.TicketError as e:
        return _error(str(e), 404)
    after = request.args.get("after", "0")
    rows = service.transcript(t["resident_key"], int(after) if after.isdigit() else 0)
    for m in rows:  # integrations get masked text; the console reveals with an audit entry
        m["text"] = mask(m["text"])
    return jsonify(messages=rows)


@bp.post("/<number>/status")
@require_token
@writable
def status(number: str):
    d = _body()
    if not d.get("to"):
        return _error("需要 to (目标状态)", 400)
    try:
        t = service.change_status(number, d["to"], g.api_actor, outcome=d.get("outcome"),
                                  next_route=d.get("next_route"), resolution=d.get("resolution"),
                                  note=d.get("note"))
    except service.TicketError as e:
        return _error(str(e), 404)
    except ConflictError as e:
        return _error(str(e), 409)
    except TransitionError as e:
        return _error(str(e), 409)
    return jsonify(t)


@bp.post("/<number>/escalate")
@require_token
@writable
def escalate(number: str):
    try:
        return jsonify(service.change_status(number, "escalated", g.api_actor, note=_body().get("note")))
    except service.TicketError as e:
        return _error(str(e), 404)
    except TransitionError as e:
        return _error(str(e), 409)


@bp.post("/<number>/claim")
@require_token
@writable
def claim(number: str):
    user = g.api_user or {}
    username = user.get("username") or _body().get("username")
    if not username:
        return _error("需要以工作人员的令牌认领, 或给出 username", 400)
    try:
        won = service.claim(number, username)
    except service.TicketError as e:
        return _error(str(e), 404)
    if not won:
        return _error("这张工单已经有人认领了", 409)
    return jsonify(service.get_ticket(number))


@bp.post("/<number>/notes")
@require_token
@writable
def note(number: str):
    try:
        service.add_note(number, g.api_actor.split(":", 1)[1], _body().get("text", ""))
    except service.TicketError as e:
        return _error(str(e), 400)
    return jsonify(ok=True), 201


@bp.post("/<number>/reply")
@require_token
@writable
def reply(number: str):
    if g.api_user is None:
        return _error("回复居民要用工作人员本人的令牌", 403)
    try:
        delivered = service.staff_reply(number, g.api_user["username"], _body().get("text", ""))
    except service.TicketError as e:
        return _error(str(e), 400)
    return jsonify(ok=True, delivered=delivered)
