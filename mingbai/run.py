"""`mingbai run`: start Rasa (5005), the action server (5055) and the web app (8000) on the
embedded defaults, wait until all three answer, print the URLs, stop all on Ctrl-C.
A process that dies is reported with the tail of its log, and the others are stopped."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from mingbai.settings import PROJECT_ROOT, Settings, get_settings

STOP_GRACE_S = 10


@dataclass
class Proc:
    name: str
    cmd: list[str]
    health_url: str
    log_path: Path
    env: dict = field(default_factory=dict)
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab", buffering=0)
        self.popen = subprocess.Popen(
            self.cmd, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.env}, start_new_session=True,
        )

    def healthy(self) -> bool:
        try:
            return requests.get(self.health_url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)


def build_procs(s: Settings) -> list[Proc]:
    from mingbai import rasa_runtime

    model = rasa_runtime.model_path()
    if not model.exists():
        raise FileNotFoundError(f"Rasa 模型不存在: {model}。请先运行 mingbai rasa train (或 make setup)")
    bindir = Path(sys.executable).parent
    mingbai_bin = str(bindir / "mingbai")
    env = {"OMP_NUM_THREADS": str(s.threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "MINGBAI_HOME": str(s.home)}
    return [
        Proc("rasa", rasa_runtime.server_cmd(s.rasa_port, s.action_port),
             rasa_runtime.status_url(s.rasa_port), s.log_dir / "rasa.log",
             {**rasa_runtime.rasa_env(), **env}),
        Proc("actions", [mingbai_bin, "serve-actions", "--port", str(s.action_port)],
             f"http://127.0.0.1:{s.action_port}/health", s.log_dir / "actions.log", env),
        Proc("web", [mingbai_bin, "serve-web", "--port", str(s.web_port)],
             f"http://127.0.0.1:{s.web_port}/healthz", s.log_dir / "web.log", env),
    ]


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        p.stop()
    deadline = time.time() + STOP_GRACE_S
    for p in procs:
        while p.popen and p.popen.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        p.kill()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai run", description="启动全部服务")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    args = parser.parse_args(argv)
    s = get_settings()
    s.ensure_dirs()
    busy = [p for p in (s.rasa_port, s.action_port, s.web_port) if _port_busy(p)]
    if busy:
        print(f"端口已被占用: {busy}。请先停止占用的程序，或用 MINGBAI_RASA_PORT / MINGBAI_ACTION_PORT / "
              "MINGBAI_WEB_PORT 换端口。", file=sys.stderr)
        return 1
    s.secret("api_token")  # create it now so the URLs printed below are usable at once
    try:
        procs = build_procs(s)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"✘ 无法启动: {e}", file=sys.stderr)
        return 1
    stopping = False

    def _on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(f"数据目录 MINGBAI_HOME = {s.home}")
    for p in procs:
        p.start()
        print(f"  启动 {p.name:8s} pid {p.popen.pid}  日志 {p.log_path}")

    started = time.time()
    pending = {p.name for p in procs}
    while pending and not stopping:
        for p in procs:
            if p.popen.poll() is not None:
                print(f"\n✘ {p.name} 退出了 (exit {p.popen.returncode})。日志最后几行:\n{p.log_tail()}", file=sys.stderr)
                stop_all(procs)
                return 1
            if p.name in pending and p.healthy():
                pending.discard(p.name)
                print(f"  ✔ {p.name} 就绪 ({time.time() - started:.0f}s)")
        if time.time() - started > args.timeout:
            print(f"\n✘ 等待超时: {sorted(pending)} 没有就绪。查看日志: {s.log_dir}", file=sys.stderr)
            stop_all(procs)
            return 1
        time.sleep(0.5)

    if not stopping:
        web = f"http://127.0.0.1:{s.web_port}"
        print("\n明白 已启动:")
        print(f"  网页聊天   {web}/chat")
        print(f"  工作台     {web}/console/")
        print(f"  REST 接口  {web}/api/v1/messages   (令牌: {s.home / '.api_token'})")
        print(f"  Rasa       http://127.0.0.1:{s.rasa_port}/webhooks/rest/webhook")
        print("按 Ctrl-C 停止。")
    rc = 0
    while not stopping:
        for p in procs:
            if p.popen.poll() is not None:
                print(f"\n✘ {p.name} 意外退出 (exit {p.popen.returncode})。日志最后几行:\n{p.log_tail()}", file=sys.stderr)
                stopping, rc = True, 1
                break
        time.sleep(0.5)
    print("\n正在停止 …")
    stop_all(procs)
    print("已停止。")
    return rc
