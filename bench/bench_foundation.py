"""Foundation numbers: setup time (first and idempotent re-run), disk use, idle memory of the
three processes started by `mingbai run`, and time until all three answer."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "foundation.md"


def du(path: Path) -> str:
    if not path.exists():
        return "—"
    out = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()
    return out[0] if out else "?"


def tree_rss_mib(pid: int) -> float:
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p.name))
    total, stack = 0, [pid]
    while stack:
        cur = stack.pop()
        stack += children.get(cur, [])
        try:
            for line in Path(f"/proc/{cur}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def main() -> None:
    rows = []
    # Every setup appends "date seconds"; the longest is the first, from-nothing install
    # (MINGBAI_SETUP_LOG may add the log of a clean clone, e.g. CI's).
    logs = [ROOT / "var" / "logs" / "setup-times.log"] + [Path(p) for p in os.environ.get("MINGBAI_SETUP_LOG", "").split(":") if p]
    times = [int(line.split()[-1]) for log in logs if log.exists() for line in log.read_text().splitlines() if line.strip()]
    first = str(max(times)) if times else "?"
    t0 = time.time()
    rc = subprocess.call(["bash", "scripts/setup.sh"], cwd=ROOT, stdout=subprocess.DEVNULL)
    rerun = time.time() - t0
    rows.append(("`make setup` from nothing (fresh clone; longest run in setup-times.log)", f"{first} s"))
    rows.append(("`make setup`, idempotent re-run", f"{rerun:.0f} s (exit {rc})"))
    for name, p in ((".venv-app", ROOT / ".venv-app"), (".venv-rasa", ROOT / ".venv-rasa"),
                    ("e5 model (var/models)", ROOT / "var" / "models"), ("KB index (var/index)", ROOT / "var" / "index"),
                    ("Rasa model (var/rasa)", ROOT / "var" / "rasa")):
        rows.append((f"disk: {name}", du(p)))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.time()
    proc = subprocess.Popen([str(ROOT / ".venv-app" / "bin" / "mingbai"), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    ready = None
    for line in proc.stdout:
        if "已启动" in line:
            ready = time.time() - t0
            break
    if ready is None:
        rows.append(("`mingbai run`", "did not start"))
    else:
        rows.append(("`mingbai run` until all three answer", f"{ready:.0f} s"))
        token = (ROOT / "var" / ".api_token").read_text().strip()
        r = requests.post("http://127.0.0.1:8000/api/v1/messages", json={"sender": "bench", "text": "你好"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        rows.append(("first REST turn after start", f"HTTP {r.status_code}"))
        time.sleep(5)
        # The runner's children: rasa, actions, web (each its own session).
        kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()

        def rss_rows(label: str) -> None:
            for kid in kids:
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                name = "rasa" if "rasa" in cmd and "serve-actions" not in cmd else ("actions" if "serve-actions" in cmd else "web")
                rows.append((f"{label} RSS: {name}", f"{tree_rss_mib(int(kid)):.0f} MiB"))

        rss_rows("idle")
        rows.append(("idle RSS: runner", f"{tree_rss_mib(proc.pid) - sum(tree_rss_mib(int(k)) for k in kids):.0f} MiB"))
        # Models load lazily: measure again once a legal answer has loaded e5 and the indexes.
        for text in ("同意", "老板拖欠工资三个月了怎么办"):
            requests.post("http://127.0.0.1:8000/api/v1/messages", json={"sender": "bench", "text": text},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        time.sleep(2)
        rss_rows("after first legal answer,")
    os.killpg(proc.pid, signal.SIGINT)
    t1 = time.time()
    proc.wait(timeout=60)
    rows.append(("clean stop after Ctrl-C", f"{time.time() - t1:.1f} s, exit {proc.returncode}"))
    lines = ["## Foundation", "", "| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
