"""Knowledge retrieval: BM25-only vs dense-only vs hybrid (vs Rasa ResponseSelector when measured),
query latency over the shipped KB and the full statute corpus, index build time, memory.

Usage: .venv-app/bin/python bench/bench_knowledge.py [--home var] [--laws ../shared/laws] [--n 200]
Writes bench/results/knowledge.md (and .json). The shipped index must exist (`mingbai kb build`);
the full-corpus index is made in a temporary copy of it with `kb ingest-laws`.

Rasa hook: a run of Rasa's ResponseSelector on the same Q&A (train on questions+paraphrases,
test on eval/knowledge/*.jsonl) writes bench/results/rasa_response_selector.json as
{"hit@1": .., "hit@5": .., "mrr": .., "n": .., "note": ".."}; this script adds it to the table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RASA_HOOK = RESULTS / "rasa_response_selector.json"

_CHILD = r"""
import json, os, sys, time
import numpy as np
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
base = rss()
from knowledge.search import get_searcher
from knowledge.answer import ask
t = time.time(); s = get_searcher(auto_build=False); load_s = time.time() - t
qs = json.loads(sys.argv[1])
ask(qs[0])  # warm the encoder
lat, enc = [], []
from knowledge.embed import encode_query
for q in qs:
    t = time.perf_counter(); ask(q); lat.append((time.perf_counter() - t) * 1000)
for q in qs[:50]:
    t = time.perf_counter(); encode_query(q); enc.append((time.perf_counter() - t) * 1000)
print(json.dumps({"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                  "encode_p50": float(np.percentile(enc, 50)), "load_s": load_s, "rss_mb": rss(),
                  "rss_delta_mb": rss() - base, "articles": int(len(s.L.art_ids)),
                  "vectors": int(0 if s.L.art_vecs is None else len(s.L.art_vecs)), "entries": len(s.L.entries)}))
"""


def _py() -> str:
    v = ROOT / ".venv-app" / "bin" / "python"
    return str(v) if v.exists() else sys.executable


def latency(home: Path, queries: list[str]) -> dict:
    env = dict(os.environ, MINGBAI_HOME=str(home), OMP_NUM_THREADS="1")
    out = subprocess.run([_py(), "-c", _CHILD, json.dumps(queries, ensure_ascii=False)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def quality(home: Path) -> dict:
    os.environ["MINGBAI_HOME"] = str(home)
    from mingbai.settings import reset_settings_cache

    reset_settings_cache()
    from knowledge.evaluate import _encode_all, evaluate, load_dev
    from knowledge.search import get_searcher

    items = load_dev()
    s = get_searcher(auto_build=False)
    enc = _encode_all(items)
    out = {}
    for mode in ("bm25", "dense", "rrf", "hybrid"):
        t = time.time()
        m, _ = evaluate(s, items, enc, mode=mode)
        m["seconds"] = round(time.time() - t, 1)
        out[mode] = m
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=ROOT / "var")
    ap.add_argument("--laws", type=Path, default=ROOT.parent / "shared" / "laws")
    ap.add_argument("--n", type=int, default=200, help="queries for latency")
    args = ap.parse_args(argv)
    index_dir = args.home / "index"
    meta = json.loads((index_dir / "meta.json").read_text(encoding="utf-8"))
    from knowledge.evaluate import load_dev

    queries = [d["text"] for d in load_dev() if d.get("text")][: args.n]
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "shipped_build": meta.get("build"), "cpu": os.cpu_count()}
    res["quality"] = quality(args.home)
    res["latency_shipped"] = latency(args.home, queries)
    if args.laws.exists():
        tmp = Path(tempfile.mkdtemp(prefix="kb-full-"))
        try:
            shutil.copytree(index_dir, tmp / "index")
            if (args.home / "cache").exists():
                os.environ.setdefault("MINGBAI_KB_VECTOR_CACHE", str(args.home / "cache" / "kb-vectors.sqlite"))
            env = dict(os.environ, MINGBAI_HOME=str(tmp), OMP_NUM_THREADS="1")
            t = time.time()
            subprocess.run([_py(), "-m", "mingbai.cli", "kb", "ingest-laws", str(args.laws), "--quiet"], env=env,
                           cwd=ROOT, check=True, capture_output=True)
            res["full_ingest_seconds"] = round(time.time() - t, 1)
            res["latency_full"] = latency(tmp, queries)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if RASA_HOOK.exists():
        res["quality"]["rasa_response_selector"] = json.loads(RASA_HOOK.read_text(encoding="utf-8"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "knowledge.json").write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / "knowledge.md").write_text(render(res), encoding="utf-8")
    print(render(res))
    return 0


def render(r: dict) -> str:
    q = r["quality"]
    any_mode = next(iter(q.values()))
    lines = ["# Knowledge retrieval benchmark", "",
             f"{r['date']} UTC, {r['cpu']} CPU cores (shared), one process, OMP_NUM_THREADS=1.",
             f"Dev set: eval/knowledge/*.jsonl — {any_mode.get('n_answerable', '?')} answerable questions "
             f"(paraphrases not in the index), {any_mode.get('n_unanswerable', '?')} the KB cannot answer.", "",
             "## Retrieval quality (curated Q&A ranking)", "",
             "| method | hit@1 | hit@5 | MRR | citation hit@3 | no-answer P / R |", "|---|---|---|---|---|---|"]
    names = {"bm25": "BM25 only (jieba + legal dict)", "dense": "dense only (e5-small, faiss)",
             "rrf": "hybrid, reciprocal-rank fusion", "hybrid": "**hybrid, calibrated score fusion (shipped)**",
             "rasa_response_selector": "Rasa ResponseSelector (same Q&A)"}
    for k in ("bm25", "dense", "rrf", "hybrid", "rasa_response_selector"):
        m = q.get(k)
        if not m:
            if k == "rasa_response_selector":
                lines.append(f"| {names[k]} | not run | | | | |")
            continue
        lines.append(f"| {names[k]} | {m.get('hit@1', 0):.3f} | {m.get('hit@5', 0):.3f} | {m.get('mrr', 0):.3f} | "
                     f"{m.get('citation_hit@3', 0):.3f} | {m.get('no_answer_precision', 0):.2f} / "
                     f"{m.get('no_answer_recall', 0):.2f} |")
    lines += ["", "Citation hit@3 and no-answer precision/recall use each method's own ranking with the hybrid's"
              " thresholds, so they are only meaningful for the shipped hybrid row.", ""]
    lines += ["## Latency and memory (`knowledge.ask`, end to end incl. e5 query encode)", "",
              "| index | articles (BM25) | articles with vectors | Q&A entries | p50 ms | p95 ms | e5 encode p50 ms | load s | RSS MB |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key, label in (("latency_shipped", "shipped KB"), ("latency_full", "full corpus (../shared/laws)")):
        L = r.get(key)
        if L:
            lines.append(f"| {label} | {L['articles']} | {L['vectors']} | {L['entries']} | {L['p50']:.1f} | "
                         f"{L['p95']:.1f} | {L['encode_p50']:.1f} | {L['load_s']:.2f} | {L['rss_mb']:.0f} |")
    b = r.get("shipped_build") or {}
    lines += ["", "## Build time", ""]
    if b:
        lines.append(f"- `mingbai kb build` (shipped statutes + Q&A, article vectors, 2 workers, cold vector cache): "
                     f"{b.get('build_seconds')} s — ingest {b.get('ingest', {}).get('seconds')} s, BM25 "
                     f"{b.get('bm25_articles', {}).get('seconds')} s, article vectors "
                     f"{b.get('dense_articles', {}).get('seconds', '—')} s, Q&A {b.get('qa', {}).get('seconds')} s.")
    if "full_ingest_seconds" in r:
        lines.append(f"- `mingbai kb ingest-laws ../shared/laws` (whole corpus → BM25; vectors stay on the shipped "
                     f"set): {r['full_ingest_seconds']} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
