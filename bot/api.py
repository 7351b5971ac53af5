"""POST /api/v1/classify — the same objects as `mingbai classify`.

Body: {"text": "...", "id": optional}            -> {"id", "domain", "subtype", "confidence", "intent"}
  or  {"items": [{"id": ..., "text": ...}, ...]} -> {"results": [...]}   (at most 200 items)

Auth: `Authorization: Bearer <token>` as for /api/v1/tickets (tickets.api.require_token).
`mingbai classify` calls bot.cli_classify directly and needs no token.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from tickets.api import require_token

bp = Blueprint("bot", __name__)

MAX_ITEMS = 200
MAX_TEXT = 4000


@bp.post("/api/v1/classify")
@require_token
def api_classify():
    from bot.cli_classify import classify_items

    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="请求格式不对：请发送 JSON，例如 {\"text\": \"邻居占了我家的地\"}"), 400
    if "items" in data:
        items = data.get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
            return jsonify(error=f"items 必须是 1 到 {MAX_ITEMS} 条的列表"), 400
        if not all(isinstance(i, dict) and isinstance(i.get("text"), str) for i in items):
            return jsonify(error="每一条都要有 text 文字"), 400
        rows = [{"id": i.get("id"), "text": i["text"][:MAX_TEXT]} for i in items]
        return jsonify(results=classify_items(rows))
    text = data.get("text")
    if not isinstance(text, str):
        return jsonify(error="text 必须是文字"), 400
    return jsonify(classify_items([{"id": data.get("id"), "text": text[:MAX_TEXT]}])[0])
