"""`mingbai run`: start Rasa (5005), the action server (5055) and the web app (8000) on the
embedded defaults, wait until all three answer, print the URLs, then keep them running until
Ctrl-C / SIGTERM stops all three.

Profiles (settings.profile, `--profile`, MINGBAI_PROFILE):
- embedded (default): the three processes above.
- scale: the same action server, `rasa_replicas` Rasa servers (default 2: ports rasa_port,
  rasa_port+1) on one SQL tracker store (PostgreSQL) and one RedisLockStore, and `web_workers`
  web processes (default 2) behind the one web port. Needs DATABASE_URL (PostgreSQL) and
  REDIS_URL; AMQP_URL adds Rasa's RabbitMQ event broker. The web workers are plain `mingbai
  serve-web` (waitress) processes sharing one listening socket that this runner binds and hands
  down (pass_fds), as gunicorn's arbiter does — gunicorn itself is not in requirements/app.lock,
  and waitress cannot fork workers of its own. Each worker also listens alone on
  127.0.0.1:web_port+N, where the health probe reaches that very worker. Everything the workers
  must share lives in PostgreSQL or Redis (docs/ARCHITECTURE.md, "Scale profile").

Startup: a process that exits before it was ever ready is a setup problem (bad DATABASE_URL, a
missing model, a busy port): restarting it would not help, so the runner reports it with the tail
of its log, stops the others and exits 1 (under systemd, Restart=on-failure tries again later).

Supervision, once all three were ready (`Supervisor`):
- a process that dies is restarted after 1 s, 2 s, 4 s … at most 60 s; the delay goes back to 1 s
  once the process has stayed healthy for 5 minutes;
- a process that is alive but fails its health URL `health_failures` checks in a row (one every
  `health_interval` s: MINGBAI_HEALTH_FAILURES / MINGBAI_HEALTH_INTERVAL) is stuck: it is killed
  (its whole process group) and restarted the same way; so is a restarted process that does not
  become ready within --timeout;
- each restart is logged with the dying process's log tail (personal data masked), and the
  restart counts, pids and states are kept in MINGBAI_HOME/run-state.json (`mingbai doctor`
  shows them);
- once a day the retention purge (`mingbai retention purge`) runs as a short child process.

Why a hand-written loop and not supervisord/circus: neither is installed (nor wanted as one more
daemon with its own config to keep in step with the ports, tokens and environment computed here),
systemd supervises `mingbai run` itself in production (deploy/mingbai.service), and what is
needed is small: restart with backoff, a health probe, a JSON state file, a clean group stop.
Every child runs in its own session/process group, so Ctrl-C in a terminal reaches only this
process, and stopping kills each child's whole group (Rasa's and gunicorn's own children too).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import requests

from mingbai.settings import PROJECT_ROOT, Settings, get_settings

STOP_GRACE_S = 10
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0
BACKOFF_RESET_S = 300.0  # healthy this long: the next restart waits BACKOFF_BASE_S again
HEALTH_TIMEOUT_S = 5.0
STUCK_GRACE_S = 5.0  # SIGTERM → SIGKILL for a stuck process
RETENTION_EVERY_S = 24 * 3600.0
RETENTION_FIRST_S = 600.0  # first purge 10 minutes after start: never slows the startup
VECTORS_EVERY_S = 3600.0  # `kb vectors` resumes; a no-op once every article has its vector
VECTORS_FIRST_S = 120.0  # after the models have loaded


def _iso(ts: Optional[float] = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), timezone.utc).isoformat(timespec="seconds")


def _masked(text: str) -> str:
    """A log tail may quote residents: mask phone numbers, ID numbers and tokens before printing."""
    try:
        from mingbai.privacy import scrub

        return scrub(text)
    except Exception:  # pragma: no cover - never lose the tail itself
        return text


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


@dataclass
class Proc:
    name: str
    cmd: list[str]
    health_url: str
    log_path: Path
    env: dict = field(default_factory=dict)
    pass_fds: tuple = ()  # file descriptors the child inherits (the web workers' shared socket)
    popen: subprocess.Popen | None = None
    # Supervision state (Supervisor) ------------------------------------------------------
    restarts: int = 0  # since this `mingbai run` started
    total_restarts: int = 0  # carried over from the previous run-state.json
    next_delay: float = BACKOFF_BASE_S
    next_start: Optional[float] = None  # monotonic time of a scheduled restart
    started_at: float = 0.0  # monotonic
    ready: bool = False  # answered its health URL since the latest start
    healthy_since: Optional[float] = None
    failed_checks: int = 0
    last_check: float = 0.0
    last_exit: Optional[int] = None
    last_reason: str = ""
    last_restart_at: Optional[str] = None
    delays: list = field(default_factory=list)  # every restart delay chosen, in order

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab", buffering=0)
        try:
            self.popen = subprocess.Popen(
                self.cmd, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env}, start_new_session=True, pass_fds=self.pass_fds,
            )
        finally:
            log.close()  # the child holds its own copy
        self.started_at = time.monotonic()
        self.ready, self.healthy_since, self.failed_checks, self.last_check = False, None, 0, 0.0
        self.next_start = None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def healthy(self, timeout: float = 2) -> bool:
        try:
            return requests.get(self.health_url, timeout=timeout).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                text = f.read().decode("utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the whole process group (SIGCONT too, so a stopped one can act on it)."""
        if self.popen and self.popen.poll() is None:
            _killpg(self.popen.pid, signal.SIGTERM)
            _killpg(self.popen.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL to the whole group: also the children a dead leader left behind."""
        if self.popen:
            _killpg(self.popen.pid, signal.SIGKILL)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - uninterruptible sleep
                pass

    def terminate(self, grace: float) -> None:
        self.stop()
        deadline = time.monotonic() + grace
        while self.popen and self.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kill()


@dataclass
class Job:
    """A periodic short child process (the daily retention purge): never restarted on failure,
    only run again at its next time."""

    name: str
    cmd: list[str]
    every_s: float
    log_path: Path
    first_after_s: float = 0.0
    env: dict = field(default_factory=dict)
    popen: subprocess.Popen | None = None
    next_run: float = 0.0  # monotonic
    runs: int = 0
    last_exit: Optional[int] = None
    last_run_at: Optional[str] = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab", buffering=0) as log:
            log.write(f"\n=== {_iso()} {' '.join(self.cmd[1:])}\n".encode())
            self.popen = subprocess.Popen(self.cmd, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, **self.env}, start_new_session=True)
        self.runs += 1
        self.last_run_at = _iso()


class Supervisor:
    """Starts `procs`, waits until all are ready, then keeps them running (see the module doc).

    Drive it with `run(stop)` (stop: a threading.Event set by the signal handlers or a test)."""

    def __init__(self, procs: list[Proc], state_path: Optional[Path] = None, *, jobs: list[Job] = (),
                 backoff_base: float = BACKOFF_BASE_S, backoff_max: float = BACKOFF_MAX_S,
                 backoff_reset: float = BACKOFF_RESET_S, health_interval: float = 10.0,
                 health_failures: int = 3, health_timeout: float = HEALTH_TIMEOUT_S,
                 start_timeout: float = 300.0, stop_grace: float = STOP_GRACE_S,
                 stuck_grace: float = STUCK_GRACE_S, tick: float = 0.5,
                 out: Optional[Callable[[str, bool], None]] = None) -> None:
        self.procs, self.jobs, self.state_path = list(procs), list(jobs), state_path
        self.backoff_base, self.backoff_max, self.backoff_reset = backoff_base, backoff_max, backoff_reset
        self.health_interval, self.health_failures = health_interval, health_failures
        self.health_timeout, self.start_timeout = health_timeout, start_timeout
        self.stop_grace, self.stuck_grace, self.tick = stop_grace, stuck_grace, tick
        self.state = "starting"
        self.started_at = _iso()
        self._out = out or self._print
        previous = self._read_state()
        for p in self.procs:
            p.next_delay = backoff_base
            p.total_restarts = int(((previous.get("processes") or {}).get(p.name) or {}).get("total_restarts") or 0)
        now = time.monotonic()
        for j in self.jobs:
            j.next_run = now + j.first_after_s

    # Output and state ---------------------------------------------------------------------
    @staticmethod
    def _print(msg: str, err: bool) -> None:
        print(msg, file=sys.stderr if err else sys.stdout, flush=True)

    def say(self, msg: str, err: bool = False) -> None:
        self._out(msg, err)

    def _read_state(self) -> dict:
        if not self.state_path:
            return {}
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def snapshot(self) -> dict:
        def status(p: Proc) -> str:
            if self.state == "stopped" or (p.popen is None and p.next_start is None):
                return "stopped"
            if p.popen is None:
                return "waiting"  # dead, restart scheduled
            if p.popen.poll() is not None:
                return "exited"
            if not p.ready:
                return "starting"
            return "unhealthy" if p.failed_checks else "ready"

        return {
            "supervisor_pid": os.getpid(), "state": self.state, "started_at": self.started_at,
            "updated_at": _iso(),
            "processes": {p.name: {
                "status": status(p), "pid": p.popen.pid if p.alive() else None, "restarts": p.restarts,
                "total_restarts": p.total_restarts, "last_exit": p.last_exit, "last_reason": p.last_reason,
                "last_restart_at": p.last_restart_at, "next_delay_s": p.next_delay,
                "log": str(p.log_path)} for p in self.procs},
            "jobs": {j.name: {"runs": j.runs, "running": j.popen is not None and j.popen.poll() is None,
                              "last_run_at": j.last_run_at, "last_exit": j.last_exit,
                              "log": str(j.log_path)} for j in self.jobs},
        }

    def write_state(self) -> None:
        if not self.state_path:
            return
        try:
            tmp = self.state_path.with_name(self.state_path.name + ".tmp")
            tmp.write_text(json.dumps(self.snapshot(), ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.state_path)
        except OSError as e:  # a full disk must not stop the supervision
            self.say(f"! 无法写入 {self.state_path}: {e}", err=True)

    # Lifecycle ------------------------------------------------------------------------------
    def start_all(self) -> None:
        for p in self.procs:
            p.start()
            self.say(f"  启动 {p.name:8s} pid {p.popen.pid}  日志 {p.log_path}")
        self.write_state()

    def wait_ready(self, stop: threading.Event, timeout: Optional[float] = None) -> Optional[int]:
        """Startup: None once every process answered its health URL; 1 when one exited first or
        the timeout passed (reported); None as well when `stop` was set meanwhile."""
        timeout = self.start_timeout if timeout is None else timeout
        started = time.monotonic()
        while not stop.is_set():
            pending = [p for p in self.procs if not p.ready]
            if not pending:
                return None
            for p in self.procs:
                if p.popen.poll() is not None:
                    p.last_exit, p.last_reason = p.popen.returncode, "exited before ready"
                    self.say(f"\n✘ {p.name} 退出了 (exit {p.popen.returncode})。日志最后几行:\n"
                             f"{_masked(p.log_tail())}", err=True)
                    self.state = "failed"
                    return 1
                if not p.ready and p.healthy(self.health_timeout):
                    p.ready, p.healthy_since = True, time.monotonic()
                    self.say(f"  ✔ {p.name} 就绪 ({time.monotonic() - started:.0f}s)")
                    self.write_state()
            if time.monotonic() - started > timeout:
                names = sorted(p.name for p in self.procs if not p.ready)
                log_dir = self.procs[0].log_path.parent if self.procs else ""
                self.say(f"\n✘ 等待超时: {names} 没有就绪。查看日志: {log_dir}", err=True)
                self.state = "failed"
                return 1
            stop.wait(self.tick)
        return None

    def _died(self, p: Proc, reason: str, now: float) -> None:
        """Schedule the restart of a dead (or just killed) process, with backoff, and say so."""
        rc = p.popen.returncode if p.popen else None
        tail = p.log_tail()
        p.kill()  # whatever the dead leader left behind in its group
        delay = p.next_delay
        p.next_delay = min(delay * 2, self.backoff_max)
        p.delays.append(delay)
        p.restarts += 1
        p.total_restarts += 1
        p.last_exit, p.last_reason = rc, reason
        p.popen, p.ready, p.healthy_since, p.next_start = None, False, None, now + delay
        self.say(f"\n✘ [{_iso()}] {p.name} {reason} (exit {rc})，{delay:g} 秒后重启 (第 {p.restarts} 次)。"
                 f"日志最后几行:\n{_masked(tail)}", err=True)
        self.write_state()

    def _check(self, p: Proc, now: float) -> None:
        if now - p.last_check < self.health_interval:
            return
        p.last_check = now
        if p.healthy(self.health_timeout):
            if not p.ready:
                p.ready = True
                self.say(f"  ✔ [{_iso()}] {p.name} 已恢复 (pid {p.popen.pid})")
                self.write_state()
            if p.failed_checks:
                p.failed_checks = 0
                self.write_state()
            if p.healthy_since is None:
                p.healthy_since = now
            if p.next_delay != self.backoff_base and now - p.healthy_since >= self.backoff_reset:
                p.next_delay = self.backoff_base  # stayed up long enough: forgive the old crashes
                self.write_state()
            return
        p.healthy_since = None
        if p.ready:
            p.failed_checks += 1
            self.write_state()
            if p.failed_checks < self.health_failures:
                return
            reason = f"无响应 (连续 {p.failed_checks} 次健康检查失败)，已强制结束"
        elif now - p.started_at > self.start_timeout:
            reason = f"启动后 {self.start_timeout:g} 秒仍未就绪，已强制结束"
        else:
            return  # still starting
        self.say(f"\n! [{_iso()}] {p.name} {reason.split('，')[0]}：结束进程组 {p.popen.pid}", err=True)
        p.terminate(self.stuck_grace)
        self._died(p, reason, time.monotonic())

    def _run_jobs(self, now: float) -> None:
        for j in self.jobs:
            if j.popen is not None and j.popen.poll() is not None:
                j.last_exit, j.popen = j.popen.returncode, None
                if j.last_exit:
                    self.say(f"! [{_iso()}] 定时任务 {j.name} 失败 (exit {j.last_exit})，日志 {j.log_path}", err=True)
                self.write_state()
            if j.popen is None and now >= j.next_run:
                j.next_run = now + j.every_s
                try:
                    j.start()
                except OSError as e:
                    j.last_exit = -1
                    self.say(f"! 定时任务 {j.name} 无法启动: {e}", err=True)
                self.write_state()

    def step(self) -> None:
        """One supervision pass over every process and job."""
        for p in self.procs:
            now = time.monotonic()
            if p.popen is None:
                if p.next_start is not None and now >= p.next_start:
                    p.last_restart_at = _iso()
                    try:
                        p.start()
                    except OSError as e:  # the binary vanished: try again later
                        p.next_start = now + p.next_delay
                        self.say(f"! {p.name} 无法启动: {e}", err=True)
                        continue
                    self.say(f"  ↻ [{_iso()}] 重启 {p.name} pid {p.popen.pid} (第 {p.restarts} 次)")
                    self.write_state()
                continue
            if p.popen.poll() is not None:
                self._died(p, "意外退出", now)
                continue
            self._check(p, now)
        self._run_jobs(time.monotonic())

    def stop_all(self) -> None:
        self.state = "stopping"
        self.write_state()
        for p in [*self.procs, *self.jobs]:
            if p.popen and p.popen.poll() is None:
                _killpg(p.popen.pid, signal.SIGTERM)
                _killpg(p.popen.pid, signal.SIGCONT)
        deadline = time.monotonic() + self.stop_grace
        for p in [*self.procs, *self.jobs]:
            while p.popen and p.popen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if p.popen:
                _killpg(p.popen.pid, signal.SIGKILL)  # stragglers and the group's other members
                try:
                    p.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:  # pragma: no cover
                    pass
        for p in self.procs:
            p.next_start = None
        self.state = "stopped"
        self.write_state()

    def run(self, stop: threading.Event, on_ready: Optional[Callable[[], None]] = None) -> int:
        """Start, wait until ready, supervise until `stop` is set, stop everything. Exit status."""
        self.start_all()
        rc = self.wait_ready(stop)
        if rc is not None:
            self.stop_all()
            self.state = "failed"
            self.write_state()
            return rc
        if not stop.is_set():
            self.state = "running"
            self.write_state()
            if on_ready:
                on_ready()
        while not stop.is_set():
            self.step()
            stop.wait(self.tick)
        self.say("\n正在停止 …")
        self.stop_all()
        self.say("已停止。")
        return 0


def run_with_signals(sup: Supervisor, on_ready: Optional[Callable[[], None]] = None) -> int:
    """`sup.run` in the main thread until Ctrl-C (SIGINT) or SIGTERM (systemd stop) arrives."""
    stop = threading.Event()

    def _on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    return sup.run(stop, on_ready=on_ready)


def build_procs(s: Settings, listener_fd: Optional[int] = None) -> list[Proc]:
    """The processes of the profile: Rasa replica(s), the action server, the web worker(s).
    `listener_fd`: the web port's listening socket (`open_listener`), needed for more than one
    web worker; the first replica and worker keep the names `rasa` and `web`."""
    from mingbai import rasa_runtime

    model = rasa_runtime.model_path()
    if not model.exists():
        raise FileNotFoundError(f"Rasa 模型不存在: {model}。请先运行 mingbai rasa train (或 make setup)")
    mingbai_bin = str(Path(sys.executable).parent / "mingbai")
    env = _child_env(s)
    procs = []
    for i, port in enumerate(s.rasa_replica_ports, 1):
        name = "rasa" if i == 1 else f"rasa-{i}"
        procs.append(Proc(name, rasa_runtime.server_cmd(port, s.action_port), rasa_runtime.status_url(port),
                          s.log_dir / f"{name}.log", {**rasa_runtime.rasa_env(), **env}))
    procs.append(Proc("actions", [mingbai_bin, "serve-actions", "--port", str(s.action_port)],
                      f"http://127.0.0.1:{s.action_port}/health", s.log_dir / "actions.log", env))
    if s.web_worker_count == 1 and listener_fd is None:
        procs.append(Proc("web", [mingbai_bin, "serve-web", "--port", str(s.web_port)],
                          f"http://127.0.0.1:{s.web_port}/healthz", s.log_dir / "web.log", env))
        return procs
    if listener_fd is None:
        raise RuntimeError("several web workers need the shared listening socket (open_listener)")
    for i in range(1, s.web_worker_count + 1):
        name = "web" if i == 1 else f"web-{i}"
        own = s.web_health_port(i)
        procs.append(Proc(name, [mingbai_bin, "serve-web", "--fd", str(listener_fd), "--health-port", str(own),
                                 "--log-name", name],
                          f"http://127.0.0.1:{own}/healthz", s.log_dir / f"{name}.log", env,
                          pass_fds=(listener_fd,)))
    return procs


def open_listener(host: str, port: int, backlog: int = 1024):
    """Bind and listen on the web port once, here, for every web worker to accept from."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _child_env(s: Settings) -> dict:
    # MALLOC_ARENA_MAX: glibc gives threads that allocate arenas of their own, which stay mapped;
    # two arenas keep each threaded server ~15 MB smaller under load at no measurable cost in speed.
    return {"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"), "OMP_NUM_THREADS": str(s.threads),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "MINGBAI_HOME": str(s.home), "MINGBAI_PROFILE": s.profile}


def ensure_pg_database(url: str) -> Optional[str]:
    """Create DATABASE_URL's database when the PostgreSQL server does not have it yet (the first
    scale run on a machine: one command). Returns the name created, None when it was there.
    Raises when the server cannot be reached."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg2
    from psycopg2 import sql

    dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)
    try:
        psycopg2.connect(dsn, connect_timeout=5).close()
        return None
    except psycopg2.OperationalError as e:
        if "does not exist" not in str(e):
            raise
    u = urlsplit(dsn)
    name = u.path.lstrip("/")
    admin = psycopg2.connect(urlunsplit(u._replace(path="/postgres", query="")), connect_timeout=5)
    try:
        admin.autocommit = True
        with admin.cursor() as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()
    return name


def ports_of(s: Settings) -> list[int]:
    """Every port `mingbai run` will listen on for this profile."""
    ports = [*s.rasa_replica_ports, s.action_port, s.web_port]
    if s.web_worker_count > 1:
        ports += [s.web_health_port(i) for i in range(1, s.web_worker_count + 1)]
    return ports


def build_jobs(s: Settings) -> list[Job]:
    """The daily retention purge (tickets.retention), unless MINGBAI_RETENTION_DAYS=0; and, while some
    articles in force lack meaning vectors (setup leaves them to the background; a reboot may have
    stopped that), `kb vectors` niced, which resumes from its cache and skips when another build runs."""
    mingbai_bin = str(Path(sys.executable).parent / "mingbai")
    jobs = []
    if s.retention_days > 0:
        jobs.append(Job("retention", [mingbai_bin, "retention", "purge"], RETENTION_EVERY_S,
                        s.log_dir / "retention.log", first_after_s=RETENTION_FIRST_S, env=_child_env(s)))
    if _vectors_missing(s):
        jobs.append(Job("kb-vectors", ["nice", "-n", "10", mingbai_bin, "kb", "vectors", "--if-idle", "--quiet"],
                        VECTORS_EVERY_S, s.log_dir / "kb-vectors.log", first_after_s=VECTORS_FIRST_S,
                        env=_child_env(s)))
    return jobs


def _vectors_missing(s: Settings) -> bool:
    try:
        from knowledge import index

        if not index.is_built(s.index_dir):
            return False
        return index.missing_vectors(s.index_dir) > 0
    except Exception:  # a damaged index is `mingbai doctor`'s to report, not a reason not to start
        return False


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai run", description="启动全部服务并保持运行")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    parser.add_argument("--profile", choices=["embedded", "scale"], default=None,
                        help="embedded (默认) 或 scale (多个网页进程 + 两个 Rasa，需要 PostgreSQL 和 Redis)")
    args = parser.parse_args(argv)
    if args.profile:  # the children read it from the environment too
        os.environ["MINGBAI_PROFILE"] = args.profile
        from mingbai.settings import reset_settings_cache

        reset_settings_cache()
    s = get_settings()
    s.ensure_dirs()
    if s.web_worker_count > 1 or s.rasa_replica_count > 1:
        missing = s.scale_problems()
        if missing:
            print("✘ scale 配置 (多个网页进程 / Rasa 副本) 需要共享的数据库和 Redis，请设置:\n  "
                  + "\n  ".join(missing), file=sys.stderr)
            return 1
        try:
            created = ensure_pg_database(s.database_url)
        except Exception as e:  # noqa: BLE001 — say what is wrong and stop
            print(f"✘ 连不上 PostgreSQL: {type(e).__name__}: {_masked(str(e))[:300]}", file=sys.stderr)
            return 1
        if created:
            print(f"已创建数据库 {created}")
        try:
            import redis

            redis.Redis.from_url(s.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
        except Exception as e:  # noqa: BLE001
            print(f"✘ 连不上 Redis ({type(e).__name__})：请启动 redis-server 或改 REDIS_URL", file=sys.stderr)
            return 1
    busy = [p for p in ports_of(s) if _port_busy(p)]
    if busy:
        print(f"端口已被占用: {busy}。请先停止占用的程序，或用 MINGBAI_RASA_PORT / MINGBAI_ACTION_PORT / "
              "MINGBAI_WEB_PORT 换端口。", file=sys.stderr)
        return 1
    # Create the secrets now: the URLs printed below are usable at once, and several web workers
    # never race to write different keys.
    for name in ("api_token", "secret_key", "rasa_token"):
        s.secret(name)
    from mingbai import crypto_fields

    try:  # the data key too: every process (web, actions, each Rasa replica) must read the same one
        crypto_fields.ensure_key()
    except crypto_fields.DataKeyError as e:
        print(f"✘ {e}", file=sys.stderr)
        return 1
    listener = None
    if s.web_worker_count > 1:
        try:
            listener = open_listener(s.host, s.web_port)
        except OSError as e:
            print(f"✘ 无法监听 {s.host}:{s.web_port}: {e}", file=sys.stderr)
            return 1
    try:
        procs = build_procs(s, listener.fileno() if listener else None)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"✘ 无法启动: {e}", file=sys.stderr)
        return 1
    print(f"数据目录 MINGBAI_HOME = {s.home}")
    if s.scale:
        print(f"配置 scale: {s.web_worker_count} 个网页进程, {s.rasa_replica_count} 个 Rasa 副本 "
              f"(端口 {', '.join(map(str, s.rasa_replica_ports))})")

    def _ready() -> None:
        web = f"http://127.0.0.1:{s.web_port}"
        print("\n明白 已启动:")
        print(f"  网页聊天   {web}/chat")
        print(f"  工作台     {web}/console/")
        print(f"  REST 接口  {web}/api/v1/messages   (令牌: {s.home / '.api_token'})")
        for port in s.rasa_replica_ports:
            print(f"  Rasa       http://127.0.0.1:{port}/webhooks/rest/webhook")
        print(f"  进程状态   {s.run_state_path} (mingbai doctor)")
        print("按 Ctrl-C 停止。", flush=True)

    sup = Supervisor(procs, s.run_state_path, jobs=build_jobs(s), health_interval=s.health_interval,
                     health_failures=s.health_failures, start_timeout=args.timeout)
    return run_with_signals(sup, on_ready=_ready)
