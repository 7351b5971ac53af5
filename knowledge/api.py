"""POST /api/v1/ask {"text": ..., "domain": optional} -> the knowledge.ask object.

Auth: `Authorization: Bearer <token>` as for /api/v1/tickets (tickets.api.require_token).
`mingbai ask` calls knowledge.answer directly and needs no token."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from tickets.api import require_token

bp = Blueprint("knowledge", __name__)


@bp.post("/api/v1/ask")
@require_token
def api_ask():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="请求格式不对：请发送 JSON，例如 {\"text\": \"老板拖欠工资怎么办\"}"), 400
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        return jsonify(error="text 必须是文字"), 400
    domain = data.get("domain")
    from knowledge.answer import ask

    return jsonify(ask(text, domain if isinstance(domain, str) else None))
