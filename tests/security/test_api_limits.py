"""Hole 5: rate limits on the web chat, /api/v1/messages, /api/v1/ask and /api/v1/classify,
and an API token on /api/v1/ask and /api/v1/classify."""
from __future__ import annotations

import pytest

from tests.security.conftest import api_headers


@pytest.mark.parametrize("path, body", [
    ("/api/v1/ask", {"text": "老板拖欠工资怎么办"}),
    ("/api/v1/classify", {"text": "宅基地被邻居占了"}),
])
def test_ask_and_classify_need_a_token(client, path, body):
    assert client.post(path, json=body).status_code == 401
    assert client.post(path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_ask_rate_limited_per_token(client, monkeypatch):
    import knowledge.answer

    monkeypatch.setattr(knowledge.answer, "ask", lambda text, domain=None: {"answer": "ok"})
    codes = [client.post("/api/v1/ask", json={"text": "问"}, headers=api_headers()).status_code for _ in range(130)]
    assert codes[0] == 200 and codes[-1] == 429
    r = client.post("/api/v1/ask", json={"text": "问"}, headers=api_headers())
    assert r.get_json()["error"]


def test_classify_rate_limited(client, monkeypatch):
    import bot.cli_classify

    monkeypatch.setattr(bot.cli_classify, "classify_items",
                        lambda rows, with_intent=True: [{"id": r.get("id"), "domain": "x"} for r in rows])
    codes = [client.post("/api/v1/classify", json={"text": "问"}, headers=api_headers()).status_code
             for _ in range(130)]
    assert codes[0] == 200 and codes[-1] == 429


def test_rest_messages_rate_limited(wx_env, rasa, monkeypatch):
    from mingbai import web
    from tests.connectors.conftest import make_app

    # The same mechanism with a small number, so the test stays fast (3000/min with the token).
    monkeypatch.setitem(web.RATE_LIMITS, "rest_channel.post_message", [(("20 per minute", "5 per minute"), "token_or_ip")])
    client = make_app().test_client()
    codes = [client.post("/api/v1/messages", json={"sender": "flood", "text": f"你好{i}"},
                         headers=api_headers()).status_code for i in range(25)]
    assert codes[0] == 200 and codes[19] == 200 and codes[-1] == 429


def test_unauthenticated_rest_guessing_is_limited(client):
    codes = [client.post("/api/v1/messages", json={"sender": "x", "text": "t"},
                         headers={"Authorization": f"Bearer guess{i}"}).status_code for i in range(5)]
    assert set(codes) == {401}
    codes = [client.post("/api/v1/messages", json={"sender": "x", "text": "t"}).status_code for _ in range(130)]
    assert codes[-1] == 429


def test_webchat_rate_limited_per_session(client, rasa):
    client.get("/chat")
    codes = [client.post("/chat/api/send", json={"text": f"你好{i}"}).status_code for i in range(25)]
    assert codes[0] == 200 and 429 in codes
    r = client.post("/chat/api/send", json={"text": "再来"})
    assert r.status_code == 429 and "频繁" in r.get_json()["error"]


def test_webchat_cookie_dropping_still_limited_per_ip(app, rasa):
    codes = []
    for i in range(130):
        c = app.test_client()  # a new session every time
        codes.append(c.post("/chat/api/send", json={"text": f"你好{i}"}).status_code)
    assert 429 in codes


@pytest.mark.redis
def test_limits_use_redis_when_configured(wx_env, monkeypatch):
    """MINGBAI_REDIS_URL: the counters live in Redis, shared by every web process."""
    import redis

    from mingbai.settings import reset_settings_cache
    from tests.connectors.conftest import make_app

    url = "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except Exception:
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setenv("MINGBAI_REDIS_URL", url)
    reset_settings_cache()
    try:
        app1, app2 = make_app(), make_app()  # two "processes"
        import knowledge.answer

        monkeypatch.setattr(knowledge.answer, "ask", lambda text, domain=None: {"answer": "ok"})
        c1, c2 = app1.test_client(), app2.test_client()
        for _ in range(120):
            assert c1.post("/api/v1/ask", json={"text": "问"}, headers=api_headers()).status_code == 200
        assert c2.post("/api/v1/ask", json={"text": "问"}, headers=api_headers()).status_code == 429
        assert redis.Redis.from_url(url).keys("*mingbai*")
    finally:
        redis.Redis.from_url(url).flushdb()
        monkeypatch.delenv("MINGBAI_REDIS_URL")
        reset_settings_cache()
