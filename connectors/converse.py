"""`mingbai converse --input IN.jsonl --output OUT.jsonl`.

Each input line ({"id", "text"}) is one message from a new resident, sent through the running stack:
the web app's REST channel (POST /api/v1/messages — the same gateway path as WeChat and the web
chat: dedup, consent, emergency, handoff, bot) when it is up, else straight to Rasa's REST webhook.
A new resident first gets the privacy notice; like a real one, we then answer 「同意」.

Output lines: {"id", "replies": [...], "outcome", "domain", "citations", "ticket_id"}; the structured
fields come from the actions' custom payloads (read back from the Rasa tracker on the web path).

A client of the channels like connectors/terminal.py (it was bot/cli_converse.py: it reads the
gateway's privacy notice, and the bot sits below the connectors).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Optional

import requests

from bot import rasa_client
from connectors import gateway
from mingbai.jsonl import iter_jsonl
from mingbai.settings import get_settings

OUTCOMES = {"answer", "intake", "handoff", "emergency", "status", "chitchat", "out_of_scope", "forget"}


def _web_url() -> str:
    s = get_settings()
    return f"http://127.0.0.1:{s.web_port}"


def web_up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _summarise(customs: list[dict]) -> dict:
    """The last custom payload with an outcome decides; citations/ticket from any of the turn's."""
    out = {"outcome": None, "domain": None, "citations": [], "ticket_id": None}
    for c in customs:
        if not isinstance(c, dict) or c.get("outcome") not in OUTCOMES:
            continue
        out["outcome"] = c["outcome"]
        if c.get("domain"):
            out["domain"] = c["domain"]
        if c.get("citations"):
            out["citations"] = c["citations"]
        if c.get("ticket_id"):
            out["ticket_id"] = c["ticket_id"]
    return out


def _tracker_customs(rasa_url: str, sender: str, since: float) -> list[dict]:
    try:
        tr = rasa_client.tracker(sender, base_url=rasa_url)
    except rasa_client.RasaUnavailable:
        return []
    customs = []
    for ev in tr.get("events") or []:
        if ev.get("event") == "bot" and float(ev.get("timestamp") or 0) >= since:
            custom = (ev.get("data") or {}).get("custom")
            if isinstance(custom, dict):
                customs.append(custom)
    return customs


def _via_web(url: str, token: str, sender: str, text: str, rasa_url: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    started = time.time() - 1

    results: list[dict] = []

    def post(t: str) -> list[str]:
        r = requests.post(f"{url}/api/v1/messages", json={"sender": sender, "text": t, "channel": "rest"},
                          headers=headers, timeout=60)
        r.raise_for_status()
        body = r.json()
        if isinstance(body.get("result"), dict) and body["result"].get("outcome"):
            results.append(body["result"])
        return list(body.get("replies") or [])

    replies = post(text)
    notice = getattr(gateway, "PRIVACY_NOTICE", None)
    emergency_now = bool(results and results[-1].get("outcome") == "emergency")
    if notice and any(notice in r for r in replies) and not emergency_now:
        replies += post("同意")  # a new resident consents; the gateway then answers the pending text
    if results:  # the gateway says what the turn was (it answers many messages without Rasa)
        result = {k: results[-1].get(k) for k in ("outcome", "domain", "citations", "ticket_id")}
        result["citations"] = result["citations"] or []
    else:  # an older web app: read the actions' payloads back from the Rasa tracker
        result = _summarise(_tracker_customs(rasa_url, f"rest:{sender}", started))
    return {"replies": replies, **result}


def _emergency(text: str) -> Optional[dict]:
    from bot.emergency import detect

    return detect(text)


def _via_rasa(rasa_url: str, sender: str, text: str) -> dict:
    msgs = rasa_client.turn(f"rest:{sender}", text, {"channel": "rest"}, base_url=rasa_url)
    replies = [m["text"] for m in msgs if isinstance(m, dict) and m.get("text")]
    return {"replies": replies, **_summarise(rasa_client.payloads(msgs))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai converse", description="每行一条新居民的消息，经运行中的系统对话")
    parser.add_argument("--input", required=True, help="JSONL，每行 {\"id\", \"text\"}")
    parser.add_argument("--output", required=True)
    parser.add_argument("--web-url", default=None, help="网页应用地址（默认 http://127.0.0.1:WEB_PORT）")
    parser.add_argument("--rasa-url", default=None, help="Rasa 地址（默认 settings.rasa_base_url）")
    parser.add_argument("--direct", action="store_true", help="不经网页应用，直接发给 Rasa REST 通道")
    args = parser.parse_args(argv)
    s = get_settings()
    web = (args.web_url or _web_url()).rstrip("/")
    rasa_url = (args.rasa_url or s.rasa_base_url).rstrip("/")
    use_web = not args.direct and web_up(web)
    if not use_web and not rasa_client.is_up(base_url=rasa_url):
        print(f"系统没有运行：网页 {web} 和 Rasa {rasa_url} 都连不上。请先运行 `mingbai run`。", file=sys.stderr)
        return 1
    print(f"经由 {'网页 REST 通道 ' + web if use_web else 'Rasa REST 通道 ' + rasa_url}", file=sys.stderr)
    token = s.secret("api_token") if use_web else ""
    run_id = uuid.uuid4().hex[:8]
    n = 0
    with open(args.output, "w", encoding="utf-8") as fout:
        for lineno, row, error in iter_jsonl(args.input):
            if error:
                print(error, file=sys.stderr)
                return 2
            rid = row.get("id", lineno)
            text = str(row.get("text") or "")
            sender = f"conv-{run_id}-{lineno}"
            try:
                res = _via_web(web, token, sender, text, rasa_url) if use_web else _via_rasa(rasa_url, sender, text)
            except (requests.RequestException, rasa_client.RasaUnavailable) as e:
                res = {"replies": [], "outcome": None, "domain": None, "citations": [], "ticket_id": None,
                       "error": str(e)[:200]}
            fout.write(json.dumps({"id": rid, **res}, ensure_ascii=False) + "\n")
            fout.flush()
            n += 1
    print(f"完成 {n} 条 -> {args.output}", file=sys.stderr)
    return 0
