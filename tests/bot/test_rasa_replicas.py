"""bot.rasa_client over several Rasa replicas (the scale profile): turns go round the replicas,
a replica that cannot be reached is skipped (and tried last for a while), a call that reached a
replica is never sent again elsewhere. Loopback stubs only: no Rasa, no services."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.connectors.rasa_stub import RasaStub


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


@pytest.fixture()
def replicas_env(fresh_home, monkeypatch):
    from bot import rasa_client
    from mingbai.settings import reset_settings_cache

    stubs = [RasaStub(), RasaStub()]
    urls = [s.start() for s in stubs]

    def use(*u: str) -> None:
        monkeypatch.delenv("MINGBAI_RASA_URL", raising=False)
        monkeypatch.setenv("MINGBAI_RASA_URLS", ",".join(u))
        reset_settings_cache()
        rasa_client._down_until.clear()

    yield stubs, urls, use
    for s in stubs:
        s.stop()
    monkeypatch.delenv("MINGBAI_RASA_URLS", raising=False)
    reset_settings_cache()
    rasa_client._down_until.clear()


def test_settings_list_the_replicas(fresh_home, monkeypatch):
    from mingbai.settings import load_settings

    for k in ("MINGBAI_RASA_URL", "MINGBAI_RASA_URLS", "MINGBAI_PROFILE", "MINGBAI_RASA_REPLICAS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MINGBAI_RASA_PORT", "5105")
    assert load_settings().rasa_base_urls == ["http://127.0.0.1:5105"]
    monkeypatch.setenv("MINGBAI_PROFILE", "scale")
    s = load_settings()
    assert s.rasa_base_urls == ["http://127.0.0.1:5105", "http://127.0.0.1:5106"]
    assert (s.web_worker_count, s.rasa_replica_count) == (2, 2)
    assert s.scale_problems(), "the scale profile says what it lacks (DATABASE_URL, REDIS_URL)"
    monkeypatch.setenv("MINGBAI_RASA_URLS", "http://10.0.0.5:5005/, http://10.0.0.6:5005")
    assert load_settings().rasa_base_urls == ["http://10.0.0.5:5005", "http://10.0.0.6:5005"]


def test_turns_go_round_the_replicas(replicas_env):
    from bot import rasa_client

    stubs, urls, use = replicas_env
    use(*urls)
    for i in range(6):
        assert rasa_client.turn(f"wechat:o{i}", f"问题{i}")
    assert [s.total_turns() for s in stubs] == [3, 3]
    # The same resident's turns may land on either replica (one lock store, one tracker store).
    senders = [{k[0] for k in s.turns} for s in stubs]
    assert senders[0] and senders[1]


def test_the_tracker_read_before_a_turn_does_not_skew_the_rotation(replicas_env):
    """The gateway reads the form state, then sends the turn: two calls per turn must still
    spread the turns over both replicas (not every turn on the same one)."""
    from bot import rasa_client

    stubs, urls, use = replicas_env
    use(*urls)
    for i in range(6):
        rasa_client.form_state(f"wechat:o{i}")
        rasa_client.turn(f"wechat:o{i}", f"问题{i}")
    assert [s.total_turns() for s in stubs] == [3, 3]


def test_a_dead_replica_is_skipped_and_tried_last(replicas_env):
    from bot import rasa_client

    stubs, urls, use = replicas_env
    dead = _closed_port()
    use(dead, urls[0])
    for i in range(4):
        assert rasa_client.turn("wechat:o-same", f"问题{i}")  # never RasaUnavailable
    assert stubs[0].total_turns() == 4
    assert dead in rasa_client._down_until
    # While it is marked down, the live replica comes first for every call: no connect attempt.
    for _ in range(3):
        assert rasa_client.replicas()[0] == urls[0]
    assert rasa_client.is_up() and rasa_client.form_state("wechat:o-same") == (None, None)
    # Past DOWN_S it is tried in turn again (and found dead again, still without failing a turn).
    rasa_client._down_until[dead] = time.monotonic() - 1
    assert rasa_client.turn("wechat:o-same", "再问一次")
    assert stubs[0].total_turns() == 5


def test_all_replicas_down_raises_without_the_token(replicas_env):
    from bot import rasa_client
    from mingbai.settings import get_settings

    _stubs, _urls, use = replicas_env
    use(_closed_port(), _closed_port())
    with pytest.raises(rasa_client.RasaUnavailable) as ei:
        rasa_client.turn("wechat:o1", "你好")
    assert get_settings().secret("rasa_token") not in str(ei.value)
    assert rasa_client.is_up() is False


def test_a_call_that_reached_a_replica_is_not_repeated_elsewhere(replicas_env):
    """A read timeout means the replica had the request (the turn may have run): no second turn."""
    from bot import rasa_client

    stubs, urls, use = replicas_env
    slow = RasaStub()
    slow_url = slow.start()
    gate = threading.Event()
    slow.reply = lambda sender, message: (gate.wait(5), ["迟到的回答"])[1]
    try:
        use(slow_url, urls[0])
        rasa_client._rr["next"] = 0  # start at the slow one
        old = rasa_client.TURN_TIMEOUT
        rasa_client.TURN_TIMEOUT = (1, 0.5)
        try:
            with pytest.raises(rasa_client.RasaUnavailable):
                rasa_client.turn("wechat:o-slow", "你好")
        finally:
            rasa_client.TURN_TIMEOUT = old
        assert stubs[0].total_turns() == 0
    finally:
        gate.set()
        slow.stop()


def test_an_explicit_base_url_is_the_only_one(replicas_env):
    from bot import rasa_client

    stubs, urls, use = replicas_env
    use(*urls)
    for _ in range(3):
        rasa_client.turn("cli:local", "你好", base_url=urls[1])
    assert [s.total_turns() for s in stubs] == [0, 3]
    with pytest.raises(rasa_client.RasaUnavailable):
        rasa_client.turn("cli:local", "你好", base_url=_closed_port())
