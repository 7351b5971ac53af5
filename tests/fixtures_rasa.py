"""Session-scoped real Rasa stack for tests marked `@pytest.mark.rasa`.

Trains once if the model is stale (mingbai.rasa_runtime.train), then starts a real Rasa server
and a real action server on free ports, waits for /status, yields their URLs and stops them.
Rasa takes about a minute to load: every test shares this one stack.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = float(os.environ.get("MINGBAI_TEST_RASA_START_TIMEOUT", "300"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s:\n" + log.read_text(errors="replace")[-3000:])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group: Sanic workers included
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _share_built_index(home: Path) -> None:
    """Reuse the knowledge index `make setup` built instead of rebuilding it per session."""
    built_home = Path(os.environ.get("MINGBAI_BUILT_HOME", ROOT / "var"))
    built = built_home / "index"
    target = home / "index"
    vectors = built_home / "cache" / "kb-vectors.sqlite"
    if vectors.exists() and not (home / "cache" / vectors.name).exists():
        (home / "cache").mkdir(parents=True, exist_ok=True)
        shutil.copy2(vectors, home / "cache" / vectors.name)
    if (built / "meta.json").exists() and not (target / "meta.json").exists():
        if target.exists() and not any(target.iterdir()):
            target.rmdir()
        if not target.exists():
            shutil.copytree(built, target)


@pytest.fixture(scope="session")
def rasa_stack(session_home, tmp_path_factory):
    from mingbai import rasa_runtime
    from mingbai.db import init_db
    from mingbai.settings import get_settings, reset_settings_cache

    reset_settings_cache()
    settings = get_settings()
    init_db(settings.db_url)
    _share_built_index(Path(settings.home))
    try:
        model = rasa_runtime.train(quiet=True)
    except Exception as e:  # a broken model or a missing runtime is a test failure, not a skip
        pytest.fail(f"Rasa model could not be trained: {e}")

    logs = tmp_path_factory.mktemp("rasa-logs")
    rasa_port, action_port = free_port(), free_port()
    env = rasa_runtime.rasa_env()
    env.update(MINGBAI_RASA_PORT=str(rasa_port), MINGBAI_ACTION_PORT=str(action_port))

    action_log = logs / "actions.log"
    actions = subprocess.Popen(
        [sys.executable, "-m", "mingbai.cli", "serve-actions", "--port", str(action_port)],
        cwd=ROOT, env=env, stdout=action_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    rasa_log = logs / "rasa.log"
    rasa = subprocess.Popen(
        rasa_runtime.server_cmd(rasa_port, action_port, model=model),
        cwd=ROOT, env=env, stdout=rasa_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{rasa_port}"
    action_url = f"http://127.0.0.1:{action_port}"
    try:
        _wait(f"{action_url}/health", actions, action_log, 120)
        _wait(f"{base}/status", rasa, rasa_log, START_TIMEOUT)
        # Warm the action server (classifier, knowledge index) outside any test's timing.
        requests.post(f"{base}/webhooks/rest/webhook", params={"token": rasa_runtime.rasa_token()},
                      json={"sender": "warmup", "message": "借钱不还怎么办"}, timeout=300)
        os.environ["MINGBAI_RASA_URL"] = base
        # Tests that switch MINGBAI_HOME must keep talking to this server with its token.
        os.environ["MINGBAI_RASA_TOKEN"] = rasa_runtime.rasa_token()
        reset_settings_cache()
        yield {"rasa": base, "actions": action_url, "model": str(model),
               "logs": {"rasa": str(rasa_log), "actions": str(action_log)}}
    finally:
        os.environ.pop("MINGBAI_RASA_URL", None)
        os.environ.pop("MINGBAI_RASA_TOKEN", None)
        reset_settings_cache()
        _stop(rasa)
        _stop(actions)
