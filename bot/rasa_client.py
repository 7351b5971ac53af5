"""Talking to the Rasa server(s) over HTTP (settings.rasa_base_urls).

turn()   — one resident message through the REST channel; returns Rasa's messages
           ([{"recipient_id", "text"}, {"recipient_id", "custom": {...}}, ...]).
pause()  — ConversationPaused: Rasa ignores the conversation (staff handoff).
resume() — ConversationResumed: the bot answers again.
delete_conversation() — 删除我的信息: wipe the conversation's tracker (events) in Rasa.

Rasa's HTTP API runs with --auth-token (mingbai.rasa_runtime.server_cmd): every call sends
?token=… (settings.secret("rasa_token")). Error messages never quote the URL (it holds the token).

Replicas (the scale profile: settings.rasa_base_urls has several): each turn starts at the next
replica (round robin; the other calls start where the next turn will, without moving it on) and
goes on to the next one when a replica cannot be reached (no connection); a replica that failed
is tried last for DOWN_S seconds. Any replica can take any resident's turn: they share the SQL
tracker store, and Rasa's RedisLockStore runs one turn per conversation at a time across
replicas (mingbai.rasa_runtime.scale_endpoints). A call that reached a replica and then timed
out or broke off is not sent again elsewhere: the turn may have run.
A call with an explicit `base_url` talks to that server only.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional
from urllib.parse import quote

import requests

from mingbai.settings import get_settings

log = logging.getLogger(__name__)

TURN_TIMEOUT = (3.05, 30)  # connect, read: actions may call the knowledge base
_session = requests.Session()
_adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
_session.mount("http://", _adapter)
_session.mount("https://", _adapter)


class RasaUnavailable(RuntimeError):
    """The Rasa server cannot be reached or answered with an error."""


DOWN_S = 5.0  # a replica that could not be reached is tried last for this long
_rr_lock = threading.Lock()
_rr = {"next": 0}
_down_until: dict[str, float] = {}  # base URL -> monotonic time


def replicas(base_url: Optional[str] = None, *, advance: bool = False) -> list[str]:
    """The order in which to try the Rasa servers for one call: `base_url` alone when given; else
    every replica, starting at the next one in turn, the ones that recently failed last.
    Only turns move the rotation on (`advance`): a turn's other calls (the tracker read before it,
    pause/resume) must not shift which replica the next turn gets, or every turn of a process
    would land on the same one."""
    if base_url:
        return [base_url.rstrip("/")]
    urls = get_settings().rasa_base_urls
    if len(urls) == 1:
        return urls
    with _rr_lock:
        start = _rr["next"] % len(urls)
        if advance:
            _rr["next"] = start + 1
    ring = urls[start:] + urls[:start]
    now = time.monotonic()
    return [u for u in ring if _down_until.get(u, 0.0) <= now] + [u for u in ring if _down_until.get(u, 0.0) > now]


def _mark(url: str, ok: bool) -> None:
    if ok:
        _down_until.pop(url, None)
    else:
        _down_until[url] = time.monotonic() + DOWN_S


def _request(method: str, path: str, *, base_url: Optional[str] = None, advance: bool = False,
             **kw) -> requests.Response:
    """One HTTP call to Rasa, on the first replica that accepts the connection (see the module
    doc). Raises RasaUnavailable (never quoting the URL) when none can be reached."""
    last: Optional[Exception] = None
    params = {**_auth(), **(kw.pop("params", None) or {})}
    order = replicas(base_url, advance=advance)
    for url in order:
        try:
            r = _session.request(method, f"{url}{path}", params=params, **kw)
        except requests.ConnectionError as e:
            _mark(url, False)
            if not _never_connected(e):
                raise _unreachable(e) from None  # it had the request: it may have run the turn
            last = e
            if len(order) > 1:
                log.warning("Rasa replica unreachable (%s); trying the next one", type(e).__name__)
            continue
        except requests.RequestException as e:
            raise _unreachable(e) from None
        _mark(url, True)
        return r
    raise _unreachable(last or requests.ConnectionError("no Rasa replica configured")) from None


def _never_connected(e: requests.ConnectionError) -> bool:
    """The request never reached the server: refused, unresolvable, or the connect timed out."""
    from urllib3.exceptions import NewConnectionError

    if isinstance(e, requests.ConnectTimeout):
        return True
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(reason, NewConnectionError) or isinstance(e.args[0] if e.args else None, NewConnectionError)


def _auth() -> dict:
    return {"token": get_settings().secret("rasa_token")}


def _unreachable(e: Exception) -> RasaUnavailable:
    # requests quotes the whole URL (with ?token=) in its messages: keep only the error type.
    return RasaUnavailable(f"Rasa unreachable: {type(e).__name__}")


def turn(sender_id: str, text: str, metadata: Optional[dict] = None, *, base_url: Optional[str] = None) -> list[dict]:
    payload: dict[str, Any] = {"sender": sender_id, "message": text}
    metadata = dict(metadata or {})
    try:  # lets a first contact in danger see the hotline before the privacy notice
        from bot.emergency import detect

        hit = detect(text, semantic=False)  # rules only: this just orders the first replies
        if hit:
            metadata["emergency"] = hit["kind"]
    except Exception:  # pragma: no cover - triage must never block a turn
        log.exception("emergency check failed")
    if metadata:
        payload["metadata"] = metadata
    r = _request("POST", "/webhooks/rest/webhook", base_url=base_url, advance=True, json=payload,
                 timeout=TURN_TIMEOUT)
    if r.status_code != 200:
        raise RasaUnavailable(f"Rasa answered {r.status_code}: {r.text[:200]}")
    try:
        out = r.json()
    except ValueError as e:
        raise RasaUnavailable("Rasa sent invalid JSON") from e
    return out if isinstance(out, list) else []


def _event(sender_id: str, event: dict, base_url: Optional[str] = None) -> None:
    r = _request("POST", f"/conversations/{quote(sender_id, safe=':@')}/tracker/events", base_url=base_url,
                 json=event, timeout=(3.05, 10))
    if r.status_code >= 300:
        raise RasaUnavailable(f"Rasa answered {r.status_code}: {r.text[:200]}")


def pause(sender_id: str, *, base_url: Optional[str] = None) -> None:
    _event(sender_id, {"event": "pause", "timestamp": time.time()}, base_url)


def resume(sender_id: str, *, base_url: Optional[str] = None) -> None:
    _event(sender_id, {"event": "resume", "timestamp": time.time()}, base_url)


DELETE_TIMEOUT = (3.05, 120)  # the PUT waits for Rasa's conversation lock (a running turn)


def delete_conversation(sender_id: str, *, base_url: Optional[str] = None, background: bool = False,
                        timeout: tuple = DELETE_TIMEOUT):
    """删除我的信息 for Rasa: make the conversation's tracker forget every event.

    Rasa 3.6 (open source) has no endpoint that deletes a tracker. PUT
    /conversations/{id}/tracker/events replaces the tracker's events with the list sent: we send a
    single `restart`, so the next message starts a new session (action_session_start) as for a new
    resident. The in-memory tracker store (and Redis/Mongo/Dynamo) saves the replaced tracker
    whole, so the old events are gone. Rasa's SQL tracker store only ever appends rows on save,
    so on the scale path (DATABASE_URL: Rasa's `events` table lives in the same PostgreSQL
    database, mingbai.rasa_runtime.scale_endpoints) the sender's rows are deleted directly too.
    Events that were already published to the event broker (RabbitMQ) cannot be recalled.

    The PUT takes Rasa's lock on the conversation. action_delete_data calls forget_resident
    *inside* a turn, while Rasa holds that lock and still has the old events in memory (it saves
    them when the turn ends): so `background=True` runs this in a thread that simply waits for the
    lock, i.e. for the turn to end, and then wipes. Returns that thread (join it in tests);
    otherwise True when both steps succeeded. Never raises: a failure is logged, and the caller's
    own forgetting goes on.
    """
    if background:
        th = threading.Thread(target=delete_conversation, args=(sender_id,),
                              kwargs={"base_url": base_url, "timeout": timeout},
                              name="mingbai-rasa-forget", daemon=True)
        th.start()
        return th
    ok = True
    try:
        r = _request("PUT", f"/conversations/{quote(sender_id, safe=':@')}/tracker/events", base_url=base_url,
                     json=[{"event": "restart", "timestamp": time.time()}], timeout=timeout)
        if r.status_code >= 300:
            ok = False
            log.warning("Rasa tracker not replaced: Rasa answered %s", r.status_code)
    except RasaUnavailable as e:
        ok = False
        log.warning("Rasa tracker not replaced: %s", e)
    try:
        n = _delete_sql_events(sender_id)
        if n:
            log.info("deleted %s rows of a forgotten conversation from Rasa's SQL tracker store", n)
    except Exception as e:  # noqa: BLE001 — never block the forgetting
        ok = False
        log.warning("Rasa's SQL tracker store not cleaned: %s", type(e).__name__)
    return ok


def _delete_sql_events(sender_id: str) -> int:
    """DELETE the sender's rows from Rasa's SQL tracker store (table `events`), when Rasa uses one:
    only with DATABASE_URL on PostgreSQL (mingbai.rasa_runtime.scale_endpoints)."""
    s = get_settings()
    if not (s.database_url or "").startswith("postgres"):
        return 0
    from sqlalchemy import inspect, text

    from mingbai.db import get_engine

    with get_engine(s.db_url).begin() as conn:
        insp = inspect(conn)
        if not insp.has_table("events"):
            return 0
        if not {"sender_id", "type_name", "data"} <= {c["name"] for c in insp.get_columns("events")}:
            return 0  # not Rasa's table
        return conn.execute(text("DELETE FROM events WHERE sender_id = :sid"), {"sid": sender_id}).rowcount or 0


def parse(text: str, *, base_url: Optional[str] = None, timeout: float = 10) -> dict:
    """POST /model/parse: {"intent": {"name", "confidence"}, ...}."""
    r = _request("POST", "/model/parse", base_url=base_url, json={"text": text}, timeout=(3.05, timeout))
    if r.status_code != 200:
        raise RasaUnavailable(f"Rasa answered {r.status_code}: {r.text[:200]}")
    return r.json()


def tracker(sender_id: str, *, base_url: Optional[str] = None, include_events: Optional[str] = None,
            timeout: float = 10) -> dict:
    """GET the conversation's tracker ({} when Rasa sends no JSON object); include_events="NONE" for
    slots and the active form only."""
    r = _request("GET", f"/conversations/{quote(sender_id, safe=':@')}/tracker", base_url=base_url,
                 params={"include_events": include_events} if include_events else None, timeout=(3.05, timeout))
    if r.status_code != 200:
        raise RasaUnavailable(f"Rasa answered {r.status_code}: {r.text[:200]}")
    try:
        data = r.json() if r.content else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def is_up(*, base_url: Optional[str] = None, timeout: float = 2) -> bool:
    """True when Rasa (`base_url`, else any replica) answers /status."""
    try:
        return _request("GET", "/status", base_url=base_url, timeout=timeout).status_code == 200
    except RasaUnavailable:
        return False


def payloads(messages: list[dict]) -> list[dict]:
    """The `custom` objects among Rasa's messages, in order."""
    return [m["custom"] for m in messages or [] if isinstance(m, dict) and isinstance(m.get("custom"), dict)]


def form_state(sender_id: str, *, base_url: Optional[str] = None) -> tuple[Optional[str], Optional[str]]:
    """(active form name, requested slot) of a conversation, (None, None) when no form is open.

    Asks for the tracker without events (a few ms). Raises RasaUnavailable when Rasa is down.
    """
    data = tracker(sender_id, base_url=base_url, include_events="NONE", timeout=5)
    loop = (data.get("active_loop") or {}).get("name")
    slot = (data.get("slots") or {}).get("requested_slot")
    return (loop or None), (slot if loop else None)
