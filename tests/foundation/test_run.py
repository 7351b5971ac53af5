"""`mingbai run` end to end: three real processes start on free ports, a Chinese message through
REST gets a reply, Ctrl-C stops all three, and a process that dies before it was ever ready is
reported (restarts once running: tests/foundation/test_supervisor.py, with fake children)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
MINGBAI = str(Path(sys.executable).parent / "mingbai")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _start(env: dict) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([MINGBAI, "run", "--timeout", "240"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    deadline = time.time() + 300
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C" in line or "✘" in line or time.time() > deadline:
            break
    return proc, lines


def _logs(home: Path) -> str:
    """The three processes' log tails, for a failure message."""
    out = []
    for name in ("rasa", "actions", "web"):
        f = home / "logs" / f"{name}.log"
        if f.exists():
            out.append(f"--- {name}.log\n" + "\n".join(f.read_text(errors="replace").splitlines()[-25:]))
    return "\n".join(out)


@pytest.fixture()
def run_env(tmp_path) -> dict:
    env = dict(os.environ)
    # Other fixtures (the shared Rasa stack) may point MINGBAI_RASA_URL at their own server:
    # the processes started here must talk to each other only.
    for leaked in ("MINGBAI_RASA_URL", "DATABASE_URL", "REDIS_URL", "AMQP_URL", "MINGBAI_DATABASE_URL",
                   "MINGBAI_REDIS_URL", "MINGBAI_AMQP_URL", "MINGBAI_INDEX_PATH", "MINGBAI_RASA_URLS",
                   "MINGBAI_PROFILE", "MINGBAI_WEB_WORKERS", "MINGBAI_RASA_REPLICAS"):
        env.pop(leaked, None)
    env.update(MINGBAI_HOME=str(tmp_path), MINGBAI_WEB_PORT=str(free_port()),
               MINGBAI_RASA_PORT=str(free_port()), MINGBAI_ACTION_PORT=str(free_port()))
    return env


@pytest.mark.rasa
def test_run_starts_answers_and_stops(run_env, tmp_path):
    proc, lines = _start(run_env)
    try:
        out = "".join(lines)
        assert "已启动" in out, out
        assert f"/chat" in out and run_env["MINGBAI_WEB_PORT"] in out
        kids = [int(k) for k in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                               text=True).stdout.split()]
        assert len(kids) == 3
        token = (tmp_path / ".api_token").read_text().strip()
        r = requests.post(f"http://127.0.0.1:{run_env['MINGBAI_WEB_PORT']}/api/v1/messages",
                          json={"sender": "run-test", "text": "你好"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 200, r.text
        replies = r.json()["replies"]
        assert replies and any("\u4e00" <= ch <= "\u9fff" for ch in "".join(map(str, replies)))
        # The first reply is the privacy notice; agreeing sends the greeting on through Rasa.
        r = requests.post(f"http://127.0.0.1:{run_env['MINGBAI_WEB_PORT']}/api/v1/messages",
                          json={"sender": "run-test", "text": "同意"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        from connectors.gateway import BOT_DOWN

        assert r.status_code == 200 and r.json()["replies"], r.text
        assert BOT_DOWN not in r.json()["replies"], _logs(tmp_path)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    time.sleep(0.5)
    assert not [k for k in kids if _alive(k)], "children left running after Ctrl-C"


def test_run_reports_busy_port(run_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(run_env["MINGBAI_WEB_PORT"])))
        s.listen()
        p = subprocess.run([MINGBAI, "run"], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "端口已被占用" in p.stderr


def test_scale_profile_needs_postgres_and_redis(run_env):
    """Several web workers and Rasa replicas must share state: without DATABASE_URL (PostgreSQL)
    and REDIS_URL the scale profile refuses to start and says what to set."""
    p = subprocess.run([MINGBAI, "run", "--profile", "scale"], cwd=ROOT, env=run_env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1 and "DATABASE_URL" in p.stderr and "REDIS_URL" in p.stderr, p.stderr


def test_run_reports_a_process_that_dies(run_env):
    # The web process cannot reach its database and exits: the runner must say so and stop the rest.
    run_env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    proc, lines = _start(run_env)
    proc.wait(timeout=120)
    out = "".join(lines) + (proc.stdout.read() or "")
    assert proc.returncode == 1
    assert "✘ web 退出了" in out, out
    kids = subprocess.run(["pgrep", "-f", f"--port {run_env['MINGBAI_ACTION_PORT']}"], capture_output=True, text=True)
    assert not kids.stdout.strip(), "the other processes are stopped"
    # a setup error is not restarted: the state file says the run failed, for `mingbai doctor`
    import json

    state = json.loads((Path(run_env["MINGBAI_HOME"]) / "run-state.json").read_text(encoding="utf-8"))
    assert state["state"] == "failed" and state["processes"]["web"]["restarts"] == 0


def test_run_without_rasa_model_says_what_to_do(run_env, tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    run_env["MINGBAI_RASA_MODELS_PATH"] = str(empty)
    p = subprocess.run([MINGBAI, "run"], cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "mingbai rasa train" in p.stderr


@pytest.mark.rasa
@pytest.mark.postgres
def test_run_on_the_scale_path(run_env, tmp_path):
    """DATABASE_URL / REDIS_URL / AMQP_URL: app tables and Rasa's tracker in PostgreSQL, Rasa's
    lock store in Redis, Rasa's events on RabbitMQ — all real servers on this machine."""
    import pika
    import psycopg2

    db = "mingbai_scale_test"
    admin = psycopg2.connect("postgresql://root@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS {db}")
        c.execute(f"CREATE DATABASE {db}")
    amqp = "amqp://guest:guest@127.0.0.1:5672/%2F"
    ch = pika.BlockingConnection(pika.URLParameters(amqp)).channel()
    ch.queue_declare("mingbai_rasa_events", durable=True)
    ch.queue_purge("mingbai_rasa_events")
    run_env.update(DATABASE_URL=f"postgresql://root@127.0.0.1:5432/{db}", REDIS_URL="redis://127.0.0.1:6379/3",
                   AMQP_URL=amqp)
    proc, lines = _start(run_env)
    try:
        assert "已启动" in "".join(lines), "".join(lines)
        token = (tmp_path / ".api_token").read_text().strip()
        r = requests.post(f"http://127.0.0.1:{run_env['MINGBAI_WEB_PORT']}/api/v1/messages",
                          json={"sender": "scale", "text": "你好"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 200 and r.json()["replies"]
        r = requests.post(f"http://127.0.0.1:{run_env['MINGBAI_WEB_PORT']}/api/v1/messages",
                          json={"sender": "scale", "text": "同意"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 200
        from connectors.gateway import BOT_DOWN

        assert BOT_DOWN not in r.json()["replies"], _logs(tmp_path)
        # A turn may finish after the HTTP reply (the gateway answers a question asked before
        # consent in the background): poll instead of sleeping a fixed time.
        counts, method, body = (0, 0), None, b""
        deadline = time.time() + 60
        while time.time() < deadline:
            with psycopg2.connect(run_env["DATABASE_URL"]) as conn, conn.cursor() as c:
                c.execute("SELECT count(*) FROM messages")
                n_messages = c.fetchone()[0]
                c.execute("SELECT count(*) FROM events")
                counts = (n_messages, c.fetchone()[0])
            if method is None:
                method, _props, body = ch.basic_get("mingbai_rasa_events", auto_ack=True)
            if counts[0] >= 2 and counts[1] > 0 and method is not None:
                break
            time.sleep(1)
        assert counts[0] >= 2, "the transcript is in PostgreSQL"
        assert counts[1] > 0, "Rasa's tracker store is in PostgreSQL\n" + _logs(tmp_path)
        assert method is not None and b"event" in body, "Rasa events reach RabbitMQ"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        ch.connection.close()
        with admin.cursor() as c:
            c.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            c.execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()
