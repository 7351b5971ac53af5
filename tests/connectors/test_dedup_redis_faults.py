"""One answer per WeChat MsgId while Redis is unreachable, restarted empty or hung, and after a
crashed turn is taken over: the SQL row decides, Redis is only a fast path in front of it.

Redis here is a redis-server of the test's own (its own port and temp dir, no persistence),
killed, restarted and paused inside the test; the shared Redis on 6379 is never touched."""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors import deferred, gateway
from connectors.store import DeferredTurn, InboundDedup, utcnow
from mingbai.db import session_scope
from tests.connectors import wxsim
from tests.connectors.conftest import consent, count, wait_until

_ids = itertools.count(int(time.time() * 1000) + 11_000_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A throwaway redis-server: no RDB, no AOF, so a restart comes back empty."""

    def __init__(self, workdir) -> None:
        self.port = _free_port()
        self.dir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self.up, timeout=10), "redis-server did not start"

    def up(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except redis.exceptions.RedisError:
            return False

    def kill(self) -> None:  # a crash: the keys are gone
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:  # hung: connections open, nothing answers
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_timeout=2)


@pytest.fixture()
def own_redis(tmp_path, wx_env, monkeypatch):
    from mingbai.settings import reset_settings_cache

    if not shutil.which("redis-server"):
        pytest.skip("no redis-server binary")
    r = OwnRedis(tmp_path)
    r.start()
    monkeypatch.setenv("REDIS_URL", r.url)
    reset_settings_cache()
    yield r
    r.kill()


def _post(live, openid: str, text: str, msg_id: int):
    return live.post(wxsim.build(wxsim.text_xml(openid, text, msg_id)))


def _inbound(rk: str, text: str) -> int:
    from tickets.models import Message

    with session_scope() as s:
        rows = s.scalars(select(Message).where(Message.resident_key == rk, Message.direction == "in")).all()
        return sum(1 for m in rows if m.text == text)


def _set_lease(monkeypatch, seconds: float) -> None:
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_DEDUP_LEASE_S", str(seconds))
    reset_settings_cache()


def _wechat_retries(live, openid: str, text: str, m: int) -> list[bytes]:
    """WeChat's three tries of one MsgId: each 5 s after the previous one started."""
    out = []
    for i in range(3):
        t0 = time.monotonic()
        out.append(_post(live, openid, text, m).content)
        if i < 2:
            time.sleep(max(0.0, 5.0 - (time.monotonic() - t0)))
    return out


# ---------------------------------------------------------------------------------------------


def test_redis_unreachable_slow_turn_answered_once(live, rasa, fake_api, monkeypatch):
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens
    reset_settings_cache()
    openid, text, m = "o-rdown", "宅基地被占了怎么办", next(_ids)
    rk = f"wechat:{openid}"
    consent(rk)
    rasa.delay_s = 6.0  # past the passive window: the answer goes through the API
    assert _wechat_retries(live, openid, text, m) == [b"success"] * 3
    got = fake_api.wait_for(1, timeout=15, touser=openid)
    time.sleep(1.0)
    assert len(fake_api.contents(openid)) == 1 and text in got[0]
    assert rasa.turns[(rk, text)] == 1
    assert _inbound(rk, text) == 1


def test_redis_restarted_empty_mid_turn_answered_once(live, rasa, fake_api, own_redis):
    openid, text, m = "o-rrestart", "工资被拖欠半年了怎么办", next(_ids)
    rk = f"wechat:{openid}"
    consent(rk)
    rasa.delay_s = 8.0
    assert _post(live, openid, text, m).content == b"success"  # the turn runs on
    assert own_redis.client().get(f"mingbai:dedup:wechat:{m}") == b"p"
    own_redis.kill()  # Redis crashes while the turn runs …
    assert _post(live, openid, text, m).content == b"success"  # a retry while it is down
    own_redis.start()  # … and comes back without the key
    assert _post(live, openid, text, m).content == b"success"  # a retry against the empty Redis
    got = fake_api.wait_for(1, timeout=15, touser=openid)
    own_redis.kill()
    own_redis.start()  # the "done" key lost too: the SQL row still says done
    assert _post(live, openid, text, m).content == b"success"
    time.sleep(1.0)
    assert len(fake_api.contents(openid)) == 1 and text in got[0]
    assert rasa.turns[(rk, text)] == 1
    assert _inbound(rk, text) == 1


def test_hung_redis_does_not_cost_a_live_turn_its_lease(client, own_redis, monkeypatch):
    """Redis stops answering (each call times out) while a turn runs: the turn's SQL lease must
    stay fresh, so no retry takes the message over and runs it a second time."""
    _set_lease(monkeypatch, 2)
    key = f"hung-{next(_ids)}"
    assert gateway.claim("wechat", key, "wechat:o-hung")
    own_redis.pause()
    ages: list[float] = []
    won: list[bool] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            with session_scope() as s:
                at = s.scalar(select(InboundDedup.updated_at).where(InboundDedup.msg_key == key))
            at = at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)
            ages.append((utcnow() - at).total_seconds())
            time.sleep(0.05)

    def retry(delay: float):
        time.sleep(delay)  # staggered: the retries reach the database at every phase of the lease
        while not stop.is_set():
            won.append(gateway.claim("wechat", key, "wechat:o-hung"))
            time.sleep(0.1)

    threads = [threading.Thread(target=sample)] + [threading.Thread(target=retry, args=(i * 0.4,)) for i in range(5)]
    try:
        for t in threads:
            t.start()
        time.sleep(8.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        own_redis.resume()
        gateway.finish("wechat", key, ["ok"])
    assert won and not any(won), f"{sum(won)} of {len(won)} retries took over a live turn"
    assert max(ages) < 2.0, f"the lease lapsed for {max(ages):.1f} s while the turn was alive"


def test_retry_after_crashed_turn_records_the_message_once(client, rasa):
    """The process died mid-turn after recording the resident's message: the retry that takes
    the turn over answers it, and the transcript still holds the message once."""
    from tickets import service

    openid, text, m = "o-crash-rec", "邻居占了我家的地怎么办", next(_ids)
    rk = f"wechat:{openid}"
    consent(rk)
    _crashed_row("wechat", str(m), rk)
    service.record_message(rk, "in", text, "resident", "wechat")  # what the dead turn got to do
    r = _send(client, openid, text, m)
    reply = wxsim.read_reply(r.data, "aes")
    assert reply and text in reply["Content"]  # answered, not dropped
    assert _inbound(rk, text) == 1

    # A turn that died before recording anything: the takeover records the message.
    text2, m2 = "离婚后孩子抚养费怎么算", next(_ids)
    _crashed_row("wechat", str(m2), rk)
    assert text2 in wxsim.read_reply(_send(client, openid, text2, m2).data, "aes")["Content"]
    assert _inbound(rk, text2) == 1


def test_takeover_while_bot_down_queues_the_message_once(client, rasa, fake_api, monkeypatch):
    """The dead turn had queued the act for the bot (Rasa down) before dying; the retry that
    takes it over must not queue it again, or the resident gets two late answers."""
    from mingbai.settings import reset_settings_cache

    openid, text, m = "o-crash-q", "查进度", next(_ids)
    rk = f"wechat:{openid}"
    consent(rk)
    monkeypatch.setenv("MINGBAI_RASA_URL", "http://127.0.0.1:9")  # Rasa down
    reset_settings_cache()
    _crashed_row("wechat", str(m), rk)
    from connectors.message import InboundMessage

    deferred.put(InboundMessage(rk, "wechat", text=text, msg_key=str(m)), text)  # the dead turn's
    _send(client, openid, text, m)
    assert count(DeferredTurn, resident_key=rk) == 1
    monkeypatch.setenv("MINGBAI_RASA_URL", rasa.url)  # Rasa back
    reset_settings_cache()

    def drained() -> bool:
        deferred.drain()
        return deferred.backlog() == 0

    assert wait_until(drained, timeout=15, step=0.2)
    fake_api.wait_for(1, timeout=10, touser=openid)
    time.sleep(1.0)
    late = [t for t in fake_api.contents(openid) if t.startswith(deferred.LATE.split("{")[0])]
    assert len(late) == 1, fake_api.contents(openid)
    assert rasa.intents[(rk, "/check_ticket_status")] == 1


def test_late_notice_then_one_answer_when_the_bot_times_out(live, rasa, fake_api, monkeypatch):
    """What issue 12's benchmark saw in the Redis window: Rasa (its lock store in Redis) holds a
    turn past the client's read timeout. The act is queued, the notice goes out late through the
    API (the passive window is gone) and the replayed answer follows: one notice, one answer."""
    from bot import rasa_client

    monkeypatch.setattr(rasa_client, "TURN_TIMEOUT", (3.05, 5.0))
    openid, text, m = "o-timeout", "查进度", next(_ids)
    rk = f"wechat:{openid}"
    consent(rk)
    rasa.delay_s = 6.0
    assert _wechat_retries(live, openid, text, m) == [b"success"] * 3
    rasa.delay_s = 0.0

    def drained() -> bool:
        deferred.drain()
        return deferred.backlog() == 0

    assert wait_until(drained, timeout=20, step=0.2)
    got = fake_api.wait_for(2, timeout=10, touser=openid)
    time.sleep(1.0)
    got = fake_api.contents(openid)
    assert [t for t in got if t.startswith(deferred.NOTICE[:8])] == [deferred.NOTICE]
    answers = [t for t in got if not t.startswith(deferred.NOTICE[:8])]
    assert len(answers) == 1 and answers[0].startswith(deferred.LATE.split("{")[0]), got
    assert count(DeferredTurn, resident_key=rk) == 0


# ---------------------------------------------------------------------------------------------


def _send(client, openid: str, text: str, m: int):
    cb = wxsim.build(wxsim.text_xml(openid, text, m))
    return client.post(cb.path, data=cb.body, content_type="text/xml")


def _crashed_row(channel: str, key: str, resident_key: str, age_s: float = 60.0) -> None:
    """What a process that died mid-turn leaves behind: the claim row, never finished."""
    with session_scope() as s:
        s.add(InboundDedup(channel=channel, msg_key=key, resident_key=resident_key, state="processing",
                           created_at=utcnow() - timedelta(seconds=age_s),
                           updated_at=utcnow() - timedelta(seconds=age_s)))
