"""The scale profile's web app: `mingbai run --profile scale` starts two web workers (waitress
processes) on one listening socket that the runner binds and hands down, each also on a port of
its own for its health probe; both answer /healthz. Needs PostgreSQL and Redis on 127.0.0.1 (the
profile refuses to start without them). Rasa and the action server are not started here."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import requests

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DB = "mingbai_scale_web_test"
PG_ADMIN = os.environ.get("MINGBAI_TEST_PG", "postgresql://root@127.0.0.1:5432/test").rsplit("/", 1)[0] + "/postgres"


def _three_free_ports() -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 2 < 65535 and all(_free(base + i) for i in (1, 2)):
            return base
    raise RuntimeError("no three free ports in a row")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


@pytest.fixture()
def scale_env(fresh_home, monkeypatch):
    psycopg2 = pytest.importorskip("psycopg2")
    redis = pytest.importorskip("redis")
    try:
        admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
        redis.Redis(db=13, socket_timeout=2).ping()
    except Exception:  # noqa: BLE001
        pytest.skip("PostgreSQL or Redis not running on 127.0.0.1")
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute(f"CREATE DATABASE {DB}")
    port = _three_free_ports()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://root@127.0.0.1:5432/{DB}")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/13")
    monkeypatch.setenv("MINGBAI_PROFILE", "scale")
    monkeypatch.setenv("MINGBAI_WEB_PORT", str(port))
    monkeypatch.setenv("MINGBAI_WARM", "0")  # this test is about the workers, not the models
    monkeypatch.setenv("MINGBAI_SLA_DISABLED", "1")
    from mingbai.db import reset_engines
    from mingbai.settings import get_settings, reset_settings_cache

    reset_settings_cache()
    reset_engines()
    yield get_settings()
    reset_engines()
    with admin.cursor() as c:
        c.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DB}'")
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.close()
    monkeypatch.undo()
    reset_settings_cache()
    reset_engines()


def test_scale_web_starts_two_workers_on_one_port(scale_env):
    from mingbai import run

    s = scale_env
    assert s.scale and s.web_worker_count == 2 and not s.scale_problems()
    for name in ("api_token", "secret_key", "rasa_token"):  # as `mingbai run` does before the workers
        s.secret(name)
    listener = run.open_listener("127.0.0.1", s.web_port)
    procs = [p for p in run.build_procs(s, listener.fileno()) if p.name.startswith("web")]
    assert [p.name for p in procs] == ["web", "web-2"]
    sup = run.Supervisor(procs, s.run_state_path, health_interval=0.5, start_timeout=240, tick=0.2,
                         out=lambda msg, err: None)
    stop = threading.Event()
    th = threading.Thread(target=sup.run, args=(stop,), daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 240
        while sup.state != "running" and time.monotonic() < deadline and th.is_alive():
            time.sleep(0.5)
        logs = "\n".join(p.log_tail(30) for p in procs)
        assert sup.state == "running", logs
        pids = [p.popen.pid for p in procs]
        assert len(set(pids)) == 2 and all(p.alive() for p in procs)
        # One public port, answered by the workers together …
        http = requests.Session()
        http.trust_env = False
        for _ in range(6):
            r = requests.get(f"http://127.0.0.1:{s.web_port}/healthz", timeout=10, proxies={"http": None})
            assert r.status_code == 200 and r.json() == {"status": "ok"}
        # … each worker also answers on its own loopback port (the per-worker health probe) …
        for i in (1, 2):
            r = http.get(f"http://127.0.0.1:{s.web_health_port(i)}/healthz", timeout=10)
            assert r.status_code == 200
        # … and both hold the very socket the runner bound (one accept queue, no SO_REUSEPORT).
        shared = f"socket:[{os.fstat(listener.fileno()).st_ino}]"
        assert all(shared in _socket_inodes(pid) for pid in pids)
    finally:
        stop.set()
        th.join(timeout=60)
        listener.close()
    assert not any(p.alive() for p in procs)
