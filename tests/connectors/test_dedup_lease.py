"""Dedup claim with a lease: a turn whose worker crashed (row left in `processing`, no renewal)
is taken over by a retry of the same message — by exactly one — instead of being dropped; a live
turn, however slow, is not; a finished one answers with its stored replies."""
from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from connectors import gateway
from connectors.store import InboundDedup, utcnow
from mingbai.db import session_scope
from tests.connectors import wxsim
from tests.connectors.conftest import consent
from tests.tickets.fixtures import pg_available, pg_db  # noqa: F401

_ids = itertools.count(int(time.time() * 1000) + 9_000_000)


def _crashed_row(channel: str, key: str, resident_key: str, age_s: float = 60.0) -> None:
    """What a process that died mid-turn leaves behind: the claim row, never finished."""
    with session_scope() as s:
        s.add(InboundDedup(channel=channel, msg_key=key, resident_key=resident_key, state="processing",
                           created_at=utcnow() - timedelta(seconds=age_s),
                           updated_at=utcnow() - timedelta(seconds=age_s)))


def _age(channel: str, key: str, age_s: float) -> None:
    with session_scope() as s:
        s.execute(update(InboundDedup).where(InboundDedup.channel == channel, InboundDedup.msg_key == key)
                  .values(updated_at=utcnow() - timedelta(seconds=age_s)))


def test_wechat_retry_takes_over_a_crashed_turn(client, rasa):
    openid = "o-lease"
    consent(f"wechat:{openid}")
    m = next(_ids)
    _crashed_row("wechat", str(m), f"wechat:{openid}")
    cb = wxsim.build(wxsim.text_xml(openid, "工伤认定要多久", m))
    r = client.post(cb.path, data=cb.body, content_type="text/xml")
    reply = wxsim.read_reply(r.data, "aes")
    assert reply and "工伤认定要多久" in reply["Content"]  # answered, not dropped
    assert rasa.turns[(f"wechat:{openid}", "工伤认定要多久")] == 1
    # and the next retry is a plain duplicate of a finished turn
    cb = wxsim.build(wxsim.text_xml(openid, "工伤认定要多久", m))
    assert client.post(cb.path, data=cb.body, content_type="text/xml").data == b"success"
    assert rasa.turns[(f"wechat:{openid}", "工伤认定要多久")] == 1


def test_rest_retry_fresh_vs_crashed_claim(client, rasa):
    from tests.connectors.test_rest_webchat_terminal import _auth

    consent("rest:lease-1")
    key = "rest:lease-1:call-1"
    _crashed_row("rest", key, "rest:lease-1", age_s=1.0)  # another process is on it right now
    body = {"sender": "lease-1", "text": "押金不退怎么办", "msg_id": "call-1"}
    j = client.post("/api/v1/messages", json=body, headers=_auth()).get_json()
    assert j["duplicate"] is True and rasa.turns[("rest:lease-1", "押金不退怎么办")] == 0
    _age("rest", key, 60.0)  # … and that process died: no renewal since
    j = client.post("/api/v1/messages", json=body, headers=_auth()).get_json()
    assert j["duplicate"] is False and j["replies"] == ["关于“押金不退怎么办”：这是测试回答。"]
    again = client.post("/api/v1/messages", json=body, headers=_auth()).get_json()
    assert again["duplicate"] is True and again["replies"] == j["replies"]  # finished: stored replies
    assert rasa.turns[("rest:lease-1", "押金不退怎么办")] == 1


def test_live_turn_renews_its_lease(client, monkeypatch):
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_DEDUP_LEASE_S", "2")
    reset_settings_cache()
    assert gateway.claim("rest", "slow-1", "rest:slow")
    try:
        time.sleep(3.5)  # longer than the lease: a slow turn, still alive
        assert not gateway.claim("rest", "slow-1", "rest:slow")
    finally:
        gateway.finish("rest", "slow-1", ["ok"])
    assert not gateway.claim("rest", "slow-1", "rest:slow")  # finished
    _crashed_row("rest", "dead-1", "rest:dead", age_s=2.5)
    assert gateway.claim("rest", "dead-1", "rest:dead")  # no renewal for longer than the lease
    gateway.finish("rest", "dead-1", [])


def _race(key: str, n: int = 8) -> list[bool]:
    barrier = threading.Barrier(n)
    out: list[bool] = []
    lock = threading.Lock()

    def go():
        barrier.wait()
        won = gateway.claim("rest", key, "rest:race")
        with lock:
            out.append(won)

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    gateway.finish("rest", key, [])
    return out


def test_concurrent_takeovers_one_wins(client):
    _crashed_row("rest", "race-1", "rest:race")
    assert sorted(_race("race-1")) == [False] * 7 + [True]


@pytest.mark.postgres
def test_concurrent_takeovers_one_wins_on_postgres(wx_env, pg_db):  # noqa: F811
    from mingbai.db import init_db
    from mingbai.settings import get_settings

    if not pg_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    assert get_settings().db_url.startswith("postgresql")
    init_db()
    _crashed_row("rest", "race-pg", "rest:race")
    assert sorted(_race("race-pg")) == [False] * 7 + [True]
    _crashed_row("rest", "fresh-pg", "rest:race", age_s=0.0)
    assert not any(_race("fresh-pg"))


@pytest.mark.redis
def test_redis_key_never_blocks_a_takeover(client, monkeypatch):
    import redis

    from mingbai.settings import reset_settings_cache

    url = "redis://127.0.0.1:6379/15"
    try:
        r = redis.Redis.from_url(url, socket_connect_timeout=1)
        r.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setenv("REDIS_URL", url)
    reset_settings_cache()
    key = f"redis-lease-{next(_ids)}"
    rkey = f"mingbai:dedup:rest:{key}"
    # A crashed owner's key is still there (e.g. set by the old code for 3 days): the DB decides.
    _crashed_row("rest", key, "rest:r")
    r.set(rkey, "1", ex=3600)
    assert gateway.claim("rest", key, "rest:r")
    assert r.get(rkey) == b"p" and 0 < r.ttl(rkey) <= 10  # the lease, not days
    assert not gateway.claim("rest", key, "rest:r")  # the live owner keeps it
    gateway.finish("rest", key, ["done"])
    assert r.get(rkey) == b"d" and r.ttl(rkey) > 86400
    assert not gateway.claim("rest", key, "rest:r")
    # A failed DB write after the NX must not leave the key behind (every retry would be refused).
    key2 = f"redis-lease-{next(_ids)}"

    def broken(*a, **kw):
        raise RuntimeError("database away")

    monkeypatch.setattr(gateway, "_claim_db", broken)
    with pytest.raises(RuntimeError):
        gateway.claim("rest", key2, "rest:r")
    assert not r.exists(f"mingbai:dedup:rest:{key2}")
    monkeypatch.undo()
