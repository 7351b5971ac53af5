"""Run every bench/bench_*.py and assemble docs/BENCHMARKS.md from bench/results/*.md.

Each benchmark writes its own markdown section to bench/results/<name>.md; this script adds the
machine, the date and the method, so results are always read beside what produced them."""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ORDER = ["round", "foundation", "model", "knowledge", "reindex", "corpus", "corpus_heldout2", "corpus_session5", "corpus_heldout2_session5", "bot", "routing", "routing_session5", "routing_session5_rules", "memory", "tickets", "tickets_report", "channels", "load", "load_session4",
         "faults"]
# Benchmarks that need a prepared whole-corpus home or a running stack print how to run them and
# keep their last results (bench/results/<name>.md), written with the machine and date inside.
NEEDS_SETUP = {"corpus": "bench/bench_corpus.py --home HOME (a MINGBAI_HOME with `kb ingest-laws ../shared/laws`)",
               "routing": "bench/bench_routing.py --web URL (a running `mingbai run`)",
               "load": "flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_load.py (starts both profiles' "
                       "stacks; needs PostgreSQL, Redis and RabbitMQ on 127.0.0.1; ~15 min)",
               # Kills Rasa and the action server of its own stack and restarts the machine's
               # PostgreSQL and Redis: run by hand, never as part of a plain `make bench`.
               "faults": "flock /tmp/mingbai-bench.lock .venv-app/bin/python bench/bench_faults.py (restarts the "
                         "machine's PostgreSQL and Redis; ~7 min)"}


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    only = sys.argv[1:]
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in ORDER:
        script = ROOT / "bench" / f"bench_{name}.py"
        if not script.exists() or (only and name not in only):
            continue
        if name in NEEDS_SETUP:
            print(f"== bench {name}: run by hand — {NEEDS_SETUP[name]}; keeping the last results", flush=True)
            continue
        print(f"== bench {name}", flush=True)
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(script)], cwd=ROOT)
        print(f"   {name}: exit {rc} in {time.time() - t0:.0f}s", flush=True)
        if rc:
            failed.append(name)
    parts = [
        "# Benchmarks",
        "",
        f"- Machine: {machine()}",
        f"- Date: {dt.date.today().isoformat()}",
        "- Command: `make bench` (runs `bench/bench_*.py`, one process each, `OMP_NUM_THREADS=1`).",
        "- Method: each benchmark runs the real component (no mocks) on loopback, warms up first, then",
        "  reports medians and percentiles over repeated runs; baselines are run in the same process and",
        "  the same data, side by side. Numbers vary ±10–20 % between runs on a shared 2-core machine;",
        "  each section states when and under what load it was taken (several were taken while other",
        "  work shared the two cores, which inflates latencies).",
        "",
    ]
    for name in ORDER:
        f = RESULTS / f"{name}.md"
        if f.exists():
            parts += [f.read_text(encoding="utf-8").strip(), ""]
    if failed:
        parts += [f"_Benchmarks that failed in the last run: {', '.join(failed)}._", ""]
    (ROOT / "docs" / "BENCHMARKS.md").write_text("\n".join(parts), encoding="utf-8")
    print("wrote docs/BENCHMARKS.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
