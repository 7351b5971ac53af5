"""`mingbai run`'s supervision (mingbai.run.Supervisor) against small fake children — python's
http.server and tiny scripts, never the real Rasa: a dead process comes back with exponential
backoff, a frozen one is killed and restarted, the counts land in run-state.json (and in
`mingbai doctor`), and SIGTERM / Ctrl-C stop every child's whole process group."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mingbai.run import Job, Proc, Supervisor

ROOT = Path(__file__).resolve().parents[2]
FAST = dict(backoff_base=0.2, backoff_max=0.8, health_interval=0.1, health_timeout=0.5, tick=0.05,
            stop_grace=3, stuck_grace=0.5, start_timeout=20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def http_proc(name: str, tmp_path: Path) -> Proc:
    port = free_port()
    return Proc(name, [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                f"http://127.0.0.1:{port}/", tmp_path / f"{name}.log")


def wait_for(cond, timeout: float = 15, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Running:
    """A supervisor in a background thread (signals are the main thread's; tests use the Event)."""

    def __init__(self, sup: Supervisor):
        self.sup, self.stop, self.rc = sup, threading.Event(), None
        self.lines: list[str] = []
        sup._out = lambda msg, err: self.lines.append(msg)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.rc = self.sup.run(self.stop)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.sup.state == "running" or self.rc is not None, what="all ready")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def state(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_dead_process_restarts_with_backoff_and_count(tmp_path):
    web, other = http_proc("web", tmp_path), http_proc("other", tmp_path)
    state_path = tmp_path / "run-state.json"
    sup = Supervisor([web, other], state_path, **FAST)
    with Running(sup) as r:
        assert state(state_path)["state"] == "running"
        other_pid = other.popen.pid
        pids, gaps = [web.popen.pid], []
        for _ in range(4):
            old = web.popen.pid
            os.killpg(old, signal.SIGKILL)
            died = time.monotonic()
            wait_for(lambda: web.popen is not None and web.popen.pid != old, what="restart")
            gaps.append(time.monotonic() - died)
            wait_for(lambda: web.ready, what="ready again")
            pids.append(web.popen.pid)
        assert web.delays == [0.2, 0.4, 0.8, 0.8]  # doubled, capped at backoff_max
        assert all(g >= d - 0.05 for g, d in zip(gaps, web.delays)), gaps
        assert len(set(pids)) == 5 and not any(_alive(p) for p in pids[:-1])
        assert other.popen.pid == other_pid and other.restarts == 0  # the others never stopped
        st = wait_for(lambda: (lambda d: d if d["web"]["status"] == "ready" else None)(state(state_path)["processes"]),
                      what="state file says ready")
        assert st["web"]["restarts"] == 4 and st["web"]["total_restarts"] == 4
        assert st["web"]["status"] == "ready" and st["web"]["pid"] == web.popen.pid
        assert st["other"]["restarts"] == 0
        assert any("web 意外退出" in line and "0.2 秒后重启" in line for line in r.lines)

        from mingbai.doctor import run_state_checks

        checks = {c.name.strip(): c for c in run_state_checks(state_path)}
        assert "运行中" in checks["mingbai run"].detail
        assert "本次重启 4 次" in checks["进程 web"].detail and checks["进程 web"].ok
    assert r.rc == 0
    assert state(state_path)["state"] == "stopped"
    assert not _alive(web.popen.pid) and not _alive(other.popen.pid)
    # The next run carries the total over; doctor says it is not running.
    sup2 = Supervisor([http_proc("web", tmp_path)], state_path, **FAST)
    assert sup2.procs[0].total_restarts == 4
    from mingbai.doctor import run_state_checks

    assert "未在运行" in run_state_checks(state_path)[0].detail


def test_backoff_resets_after_staying_healthy(tmp_path):
    web = http_proc("web", tmp_path)
    sup = Supervisor([web], tmp_path / "run-state.json", **{**FAST, "backoff_reset": 0.6})
    with Running(sup):
        for _ in range(2):  # two quick deaths: 0.2 then 0.4
            old = web.popen.pid
            os.killpg(old, signal.SIGKILL)
            wait_for(lambda: web.popen is not None and web.popen.pid != old and web.ready, what="restart")
        assert web.delays == [0.2, 0.4] and web.next_delay == 0.8
        wait_for(lambda: web.next_delay == 0.2, timeout=5, what="backoff reset")
        old = web.popen.pid
        os.killpg(old, signal.SIGKILL)
        wait_for(lambda: web.popen is not None and web.popen.pid != old, what="restart")
        assert web.delays == [0.2, 0.4, 0.2]


def test_stuck_process_is_killed_and_restarted(tmp_path):
    web = http_proc("web", tmp_path)
    state_path = tmp_path / "run-state.json"
    sup = Supervisor([web], state_path, **{**FAST, "health_failures": 3, "health_timeout": 0.2})
    with Running(sup) as r:
        frozen = web.popen.pid
        os.kill(frozen, signal.SIGSTOP)  # alive, but no longer answers its health URL
        wait_for(lambda: web.popen is not None and web.popen.pid != frozen and web.ready, what="restart")
        assert not _alive(frozen)
        assert web.restarts == 1 and "无响应" in web.last_reason
        assert state(state_path)["processes"]["web"]["restarts"] == 1
        assert any("连续 3 次健康检查失败" in line for line in r.lines)


def test_process_that_dies_before_ready_stops_everything(tmp_path):
    (tmp_path / "bad.log").write_text("配置错误: DATABASE_URL 无法连接 13812345678\n")
    bad = Proc("bad", [sys.executable, "-c", "import sys; sys.exit(3)"], "http://127.0.0.1:1/", tmp_path / "bad.log")
    good = http_proc("good", tmp_path)
    sup = Supervisor([bad, good], tmp_path / "run-state.json", **FAST)
    lines: list[str] = []
    sup._out = lambda msg, err: lines.append(msg)
    assert sup.run(threading.Event()) == 1
    out = "\n".join(lines)
    assert "✘ bad 退出了 (exit 3)" in out and "DATABASE_URL 无法连接" in out
    assert "13812345678" not in out and "138****5678" in out  # the tail is masked
    assert not _alive(good.popen.pid)
    assert bad.restarts == 0 and state(tmp_path / "run-state.json")["state"] == "failed"


def test_periodic_job_runs_and_is_recorded(tmp_path):
    web = http_proc("web", tmp_path)
    job = Job("tick", [sys.executable, "-c", "print('purged')"], every_s=0.3, log_path=tmp_path / "tick.log")
    state_path = tmp_path / "run-state.json"
    with Running(Supervisor([web], state_path, jobs=[job], **FAST)):
        wait_for(lambda: job.runs >= 2 and job.popen is None, what="two runs")
        assert job.last_exit == 0
        assert state(state_path)["jobs"]["tick"]["runs"] >= 2
    assert "purged" in (tmp_path / "tick.log").read_text()


SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mingbai.run import Proc, Supervisor, run_with_signals

    tmp, p1, p2 = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    # "family" forks a grandchild in the same group: stopping must reach it too
    family = ("import subprocess, sys, http.server, socketserver;"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
              "http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind='127.0.0.1')")
    procs = [Proc("plain", [sys.executable, "-m", "http.server", p1, "--bind", "127.0.0.1"],
                  f"http://127.0.0.1:{p1}/", tmp / "plain.log"),
             Proc("family", [sys.executable, "-c", family, p2], f"http://127.0.0.1:{p2}/", tmp / "family.log")]
    sup = Supervisor(procs, tmp / "run-state.json", backoff_base=0.2, health_interval=0.2, tick=0.05,
                     stop_grace=3, start_timeout=20)
    sys.exit(run_with_signals(sup, on_ready=lambda: print("READY", flush=True)))
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_all_children_and_their_groups(tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path), str(free_port()), str(free_port())],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "READY" in line or "✘" in line:
                break
        assert "READY" in "".join(lines), "".join(lines)
        kids = [int(k) for k in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                               text=True).stdout.split()]
        assert len(kids) == 2
        grandkids = wait_for(lambda: [int(k) for k in subprocess.run(
            ["pgrep", "-g", ",".join(map(str, kids))], capture_output=True, text=True).stdout.split()
            if int(k) not in kids], what="grandchild")
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
        out = "".join(lines) + proc.stdout.read()
        assert "已停止" in out
        time.sleep(0.2)
        assert not [k for k in kids + grandkids if _alive(k)], "children left running"
        assert state(tmp_path / "run-state.json")["state"] == "stopped"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_run_resumes_article_vectors_only_while_some_are_missing(fresh_home, monkeypatch):
    """Setup leaves the articles' meaning vectors to a background build; a reboot may stop it.
    `mingbai run` then resumes it as a niced job — and adds no job once every article has one."""
    from knowledge import index
    from mingbai import run as runmod
    from mingbai.settings import get_settings

    s = get_settings()
    assert "kb-vectors" not in [j.name for j in runmod.build_jobs(s)]  # no index yet: nothing to resume
    monkeypatch.setattr(index, "is_built", lambda d: True)
    monkeypatch.setattr(index, "missing_vectors", lambda d: 2)
    job = {j.name: j for j in runmod.build_jobs(s)}["kb-vectors"]
    assert job.cmd[:3] == ["nice", "-n", "10"] and job.cmd[-3:] == ["vectors", "--if-idle", "--quiet"]
    monkeypatch.setattr(index, "missing_vectors", lambda d: 0)
    assert "kb-vectors" not in [j.name for j in runmod.build_jobs(s)]
