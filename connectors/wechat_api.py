"""WeChat / WeCom server APIs: one shared access_token, customer-service sends, the retry worker.

The access_token lives 2 h and refreshing it invalidates the old one, so every process reads it
from one DB row (connector_access_token); only the process that wins a compare-and-set on
`version` refreshes it, the others wait for the new value.

Outgoing WeChat/WeCom messages sit in connector_outbox until sent, so a restart loses nothing:
  pending/failed --send--> sent
                 --45015 (48 h window closed)--> held  (released when the resident writes again)
                 --45047 (20 messages per window used up)--> held  (likewise)
                 --45009 (daily API quota)--> failed, retried an hour later
                 --48001 (no API permission)--> passive_wait (goes out with the next passive reply)
                 --too many attempts--> dead
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Optional

import requests
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from connectors.gateway import purge_dedup, window_open
from connectors.message import user_of
from connectors.split import split_for
from connectors.store import AccessToken
from mingbai import outbox
from mingbai.db import session_scope
from mingbai.outbox import Outbox, utcnow
from mingbai.settings import get_settings

log = logging.getLogger(__name__)

TOKEN_EXPIRED = {40001, 42001, 40014}
OUTSIDE_WINDOW = 45015
NOT_AUTHORISED = 48001
OUT_OF_COUNT = 45047   # customer-service messages per window used up: wait for the resident
DAILY_QUOTA = 45009    # the account's daily API quota: try again later
RATE_LIMITED = {OUT_OF_COUNT, DAILY_QUOTA}
QUOTA_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 8
HTTP_TIMEOUT = 8
# How long a staff / system send waits for the first delivery attempt, so the console can say
# 「已发送」 only for texts that really went out (held / failed ones are reported as not yet sent).
CONFIRM_WAIT_S = outbox.CONFIRM_WAIT_S
UNDELIVERED = ("queued", "pending", "failed", "held", "passive_wait", "dead")


class ApiError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str = "", path: str = ""):
        from mingbai.privacy import redact_secrets

        errmsg = redact_secrets(str(errmsg or ""))[:200]
        super().__init__(" ".join(p for p in (str(errcode), errmsg, path) if p))
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "?"


def _safe_http_error(e: Exception, url: str) -> ApiError:
    """A transport error as something safe to log and store: its type and the URL *path*.
    requests puts the full URL (appid/secret, access_token) into its messages; drop them."""
    return ApiError(-4, type(e).__name__, _path(url))


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_http = threading.local()


def _session() -> requests.Session:
    s = getattr(_http, "s", None)
    if s is None:
        s = _http.s = requests.Session()
        s.trust_env = False  # the API base is configured explicitly; no proxies from the environment
    return s


# --------------------------------------------------------------------------------------------
# access_token shared by all processes


class _App:
    def __init__(self, kind: str):
        st = get_settings()
        self.kind = kind
        if kind == "wechat":
            self.base = st.wechat_api_base.rstrip("/")
            self.name = f"wechat:{st.wechat_appid}"
            self.token_url = f"{self.base}/cgi-bin/token"
            self.token_params = {"grant_type": "client_credential", "appid": st.wechat_appid,
                                 "secret": st.wechat_secret}
            self.configured = bool(st.wechat_appid and st.wechat_secret)
        else:
            self.base = st.wecom_api_base.rstrip("/")
            self.name = f"wecom:{st.wecom_corpid}:{st.wecom_agentid}"
            self.token_url = f"{self.base}/cgi-bin/gettoken"
            self.token_params = {"corpid": st.wecom_corpid, "corpsecret": st.wecom_secret}
            self.configured = bool(st.wecom_corpid and st.wecom_secret)


def _fetch_token(app: _App) -> tuple[str, int]:
    try:
        r = _session().get(app.token_url, params=app.token_params, timeout=HTTP_TIMEOUT)
        data = r.json()
    except (requests.RequestException, ValueError) as e:
        raise _safe_http_error(e, app.token_url) from None  # no chained message with the secret
    if not isinstance(data, dict) or "access_token" not in data and not data.get("errcode"):
        raise ApiError(-5, "unexpected token response", _path(app.token_url))
    if data.get("errcode"):
        raise ApiError(int(data["errcode"]), data.get("errmsg", ""), _path(app.token_url))
    return data["access_token"], int(data.get("expires_in", 7200))


def get_token(kind: str = "wechat", *, invalid: Optional[str] = None, wait_s: float = 8.0) -> str:
    """The current token; refreshes it once (across processes) when missing, near expiry, or
    equal to `invalid` (the token an API call just rejected)."""
    app = _App(kind)
    if not app.configured:
        raise ApiError(-2, f"{kind} app id/secret not configured")
    lease = timedelta(seconds=10)
    deadline = time.monotonic() + wait_s
    while True:
        with session_scope() as s:
            row = s.get(AccessToken, app.name)
            if row is not None:
                token, expires, version = row.token, _aware(row.expires_at), row.version
                refreshing_since = _aware(row.updated_at)
        if row is None:
            try:
                with session_scope() as s:
                    s.add(AccessToken(name=app.name, token="", version=0,
                                      expires_at=utcnow() - timedelta(seconds=1),
                                      updated_at=utcnow() - lease))
            except IntegrityError:
                pass
            continue
        if token and expires > utcnow() + timedelta(seconds=300) and token != invalid:
            return token
        # A refresh started less than `lease` ago and has not written yet: wait for it.
        if refreshing_since <= utcnow() - lease:
            with session_scope() as s:  # compare-and-set: exactly one process wins the refresh
                won = s.execute(
                    update(AccessToken)
                    .where(AccessToken.name == app.name, AccessToken.version == version)
                    .values(version=version + 1, updated_at=utcnow())
                ).rowcount == 1
            if won:
                try:
                    new, ttl = _fetch_token(app)
                except Exception:
                    with session_scope() as s:  # free the lease so the next caller may try
                        s.execute(update(AccessToken).where(AccessToken.name == app.name)
                                  .values(updated_at=utcnow() - lease))
                    raise
                with session_scope() as s:
                    s.execute(
                        update(AccessToken)
                        .where(AccessToken.name == app.name)
                        # updated_at doubles as the refresh lease: moving it back releases the lease
                        .values(token=new, expires_at=utcnow() + timedelta(seconds=ttl),
                                updated_at=utcnow() - lease)
                    )
                return new
        if time.monotonic() > deadline:
            raise ApiError(-3, "timed out waiting for the access_token refresh")
        time.sleep(0.05)


def _post(kind: str, path: str, payload: dict) -> dict:
    """POST with the shared token; on token expiry refresh once and retry."""
    import json

    token = get_token(kind)
    url = f"{_App(kind).base}{path}"
    for attempt in range(2):
        try:
            r = _session().post(
                url,
                params={"access_token": token},
                data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=HTTP_TIMEOUT,
            )
            data = r.json()
        except (requests.RequestException, ValueError) as e:
            raise _safe_http_error(e, url) from None  # the URL carries the access_token
        if not isinstance(data, dict):
            raise ApiError(-5, "unexpected response", path)
        code = int(data.get("errcode", 0) or 0)
        if code in TOKEN_EXPIRED and attempt == 0:
            token = get_token(kind, invalid=token)
            continue
        if code:
            raise ApiError(code, data.get("errmsg", ""), path)
        return data
    raise ApiError(-1, "token refresh did not help", path)


def send_custom_text(openid: str, text: str) -> dict:
    """WeChat customer-service message (message/custom/send)."""
    return _post("wechat", "/cgi-bin/message/custom/send",
                 {"touser": openid, "msgtype": "text", "text": {"content": text}})


def send_wecom_text(userid: str, text: str) -> dict:
    st = get_settings()
    return _post("wecom", "/cgi-bin/message/send",
                 {"touser": userid, "msgtype": "text", "agentid": int(st.wecom_agentid or 0),
                  "text": {"content": text}, "safe": 0})


# --------------------------------------------------------------------------------------------
# The outbox: enqueue and a worker thread


def enqueue(resident_key: str, channel: str, text: str, *, author: str = "bot",
            dedup_key: Optional[str] = None, status: str = "pending") -> Optional[int]:
    """Store one outgoing message; a repeated dedup_key is ignored (exactly-once enqueue)."""
    try:
        with session_scope() as s:
            row = Outbox(resident_key=resident_key, channel=channel, text=text, author=author,
                         status=status, dedup_key=dedup_key, next_try=utcnow())
            s.add(row)
            s.flush()
            rid = row.id
    except IntegrityError:
        return None
    if channel in ("wechat", "wecom"):
        ensure_worker()
        _wake.set()
        if author != "bot" and status == "pending" and not _confirmed(rid):
            # Staff replies and notices: report "not delivered yet" (held by the platform's
            # limits, failed, or still queued) instead of letting the console say 「已发送」.
            # The row stays in the outbox and goes out later.
            return None
    return rid


def _confirmed(rid: int, wait_s: Optional[float] = None) -> bool:
    """Wait briefly for the worker's first attempt on row `rid`; True only once it was sent."""
    return outbox.wait_sent(rid, CONFIRM_WAIT_S if wait_s is None else wait_s)


def undelivered(resident_key: str) -> list[dict]:
    """Texts for this resident that have not gone out (for the console: 待发送/已暂缓/发送失败)."""
    labels = {"queued": "待发送", "pending": "待发送", "failed": "发送失败，稍后重试", "held": "已暂缓（等居民再次发消息后发送）",
              "passive_wait": "等居民下次发消息时随回复发送", "dead": "发送失败"}
    with session_scope() as s:
        rows = s.scalars(select(Outbox).where(Outbox.resident_key == resident_key,
                                              Outbox.channel.in_(("wechat", "wecom")),
                                              Outbox.status.in_(UNDELIVERED)).order_by(Outbox.id)).all()
        return [{"id": r.id, "text": r.text, "status": r.status, "label": labels.get(r.status, r.status),
                 "error": r.last_error} for r in rows]


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


def _deliver(row: Outbox) -> tuple[str, Optional[str]]:
    """Send one row; returns (new status, error)."""
    user = user_of(row.resident_key)
    with session_scope() as s:  # keep the order: nothing overtakes a text held for this resident
        ahead = s.scalar(select(Outbox.id).where(Outbox.resident_key == row.resident_key,
                                                 Outbox.status == "held", Outbox.id < row.id).limit(1))
    if ahead is not None:
        return "held", f"waiting behind held message {ahead} (not sent)"
    try:
        if row.channel == "wechat":
            if not window_open(row.resident_key):
                return "held", f"{OUTSIDE_WINDOW} outside the 48 h window (not sent)"
            send_custom_text(user, row.text)
        elif row.channel == "wecom":
            send_wecom_text(user, row.text)
        else:
            return "pending", None
        return "sent", None
    except ApiError as e:
        if e.errcode in (OUTSIDE_WINDOW, OUT_OF_COUNT):
            # Both clear when the resident writes again (gateway.touch_window releases held rows).
            return "held", str(e)
        if e.errcode == DAILY_QUOTA:
            return "quota", str(e)
        if e.errcode == NOT_AUTHORISED:
            # Personal-subject accounts have no customer-service API: the text rides along with
            # the next passive reply instead (connectors.wechat.take_waiting).
            return ("passive_wait" if row.channel == "wechat" else "dead"), str(e)
        return "failed", str(e)
    except (requests.RequestException, ValueError) as e:  # defensive: _post/_fetch_token wrap these
        return "failed", type(e).__name__


def accept_queued(limit: int = 50) -> int:
    """Rows other areas wrote with mingbai.outbox.put (status queued): split each to the channel's
    size limit and make the parts pending, in id order. The first part keeps the row (and its id,
    which mingbai.outbox.send waits on); the others follow as new rows. Returns rows accepted."""
    with session_scope() as s:
        ids = s.scalars(select(Outbox.id).where(Outbox.status == "queued").order_by(Outbox.id).limit(limit)).all()
    n = 0
    for rid in ids:
        with session_scope() as s:
            row = s.get(Outbox, rid)
            if row is None or row.status != "queued":
                continue
            parts = split_for(row.channel, row.text) or [row.text]
            won = s.execute(update(Outbox).where(Outbox.id == rid, Outbox.status == "queued")
                            .values(status="pending", text=parts[0], next_try=utcnow())).rowcount == 1
            if not won:  # another process accepted it meanwhile
                continue
            for i, part in enumerate(parts[1:], 1):
                s.add(Outbox(resident_key=row.resident_key, channel=row.channel, text=part, author=row.author,
                             status="pending", dedup_key=f"outbox:{rid}:{i}", next_try=utcnow()))
        n += 1
    return n


def process_due(limit: int = 20) -> int:
    """Accept queued rows, then claim due WeChat/WeCom rows with a lease and send them in id
    order. Returns rows handled."""
    accepted = accept_queued()
    now = utcnow()
    with session_scope() as s:
        ids = s.scalars(
            select(Outbox.id)
            .where(
                Outbox.channel.in_(("wechat", "wecom")),
                Outbox.status.in_(("pending", "failed")),
                Outbox.next_try <= now,
                or_(Outbox.locked_until.is_(None), Outbox.locked_until < now),
            )
            .order_by(Outbox.id)
            .limit(limit)
        ).all()
    handled = 0
    for rid in ids:
        lease = utcnow() + timedelta(seconds=60)
        with session_scope() as s:
            won = s.execute(
                update(Outbox)
                .where(Outbox.id == rid, Outbox.status.in_(("pending", "failed")),
                       or_(Outbox.locked_until.is_(None), Outbox.locked_until < utcnow()))
                .values(locked_until=lease)
            ).rowcount == 1
        if not won:
            continue
        with session_scope() as s:
            row = s.get(Outbox, rid)
            s.expunge(row)
        status, err = _deliver(row)
        attempts = row.attempts + 1
        values: dict = {"attempts": attempts, "locked_until": None, "last_error": err}
        if status == "sent":
            values.update(status="sent", sent_at=utcnow())
        elif status == "quota":  # the whole account is out of quota: not this row's fault
            values.update(status="failed", attempts=row.attempts, next_try=utcnow() + QUOTA_RETRY)
        elif status == "failed":
            if attempts >= MAX_ATTEMPTS:
                values.update(status="dead")
            else:
                values.update(status="failed", next_try=utcnow() + _backoff(attempts))
        else:
            values.update(status=status)
        with session_scope() as s:
            s.execute(update(Outbox).where(Outbox.id == rid).values(**values))
        if status != "sent":
            log.warning("outbox %s -> %s: %s", rid, values.get("status"), err)
        handled += 1
    return handled + accepted


_wake = outbox.wake_event  # mingbai.outbox.wake() (tickets' notices) and wake() below
_worker_lock = threading.Lock()
_worker: Optional[threading.Thread] = None


def _loop(interval: float) -> None:
    last_purge = 0.0
    while True:
        try:
            while process_due():
                pass
            # Messages queued while the bot was down (connectors.deferred): replayed once it is back.
            from connectors import deferred

            deferred.drain_due()
            if time.monotonic() - last_purge > 3600:
                purge_dedup()
                last_purge = time.monotonic()
        except Exception as e:  # e.g. the schema not migrated yet; try again next pass
            log.warning("outbox worker pass failed: %s", type(e).__name__)
        _wake.wait(interval)
        _wake.clear()


def ensure_worker(interval: float = 2.0) -> None:
    """Start this process's outbox worker once (daemon thread). Rows left by an earlier
    run are picked up on its first pass."""
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_loop, args=(interval,), name="mingbai-outbox", daemon=True)
            _worker.start()


def wake() -> None:
    _wake.set()
