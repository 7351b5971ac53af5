"""Calibrate the whole-corpus article ranking on a dev split: fusion weights, then the confidence bar.

`python -m knowledge.tune --set bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl` runs every dev question once, keeps each
candidate's feature row (Searcher.FEATURES), then searches weights offline (random restarts +
coordinate steps, maximising MRR with R@1 as tie-break). The article confidence bar `tau_art` is
set so that at most `--unsure` of the dev questions that have a gold article get "not sure".
Written to knowledge/calibration.json. The held-out set (bench/corpus/heldout.jsonl) is never read.
Hand-written because it is a small search over nine numbers on cached features; no library
offers that for our feature layout.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from knowledge.search import CALIBRATION_PATH, Searcher

WEIGHT_KEYS = ("w_dense", "w_lex", "w_vote", "w_prior", "w_shipped", "w_domain", "law_bonus", "w_asked_lex",
               "w_asked_dense")


def gold_rows(searcher: Searcher, items: list[dict]) -> list[set[int]]:
    """Per question: the index rows of its gold articles (those in force and indexed)."""
    L = searcher.L
    row_of = {int(a): r for r, a in enumerate(L.art_ids)}
    out = []
    for it in items:
        arts = (L.corpus.get(g["law"], g["article"]) for g in it.get("gold") or [])
        out.append({row_of[a.id] for a in arts if a is not None and a.id in row_of})
    return out


def capture(searcher: Searcher, text: str, domain: str | None = None,
            exclude_asked: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One question searched as ask() would: its candidates' (rows, first-stage features, second-stage
    columns). The second stage is off meanwhile (a refit may change its width; the capture comes
    before it anyway); exclude_asked leaves one asked question out of the index."""
    from knowledge.text import classify_input

    searcher.capture = []
    searcher.exclude_asked = None if exclude_asked is None else np.asarray([exclude_asked])
    params, searcher.rerank = searcher.rerank, None
    try:
        _, cleaned = classify_input(text)
        searcher.search(cleaned or text, k=10, domain=domain)
    finally:
        cap, searcher.capture, searcher.exclude_asked, searcher.rerank = searcher.capture, None, None, params
    return cap[-1] if cap else None


def collect(searcher: Searcher, items: list[dict]) -> list[tuple[np.ndarray, np.ndarray, set[int]]]:
    """Per question: (candidate rows, feature matrix, gold rows)."""
    out = []
    for it, gold in zip(items, gold_rows(searcher, items)):
        cap = capture(searcher, it["text"], it.get("domain_hint"))
        if cap:
            out.append((cap[0], cap[1], gold))
        else:
            out.append((np.zeros(0, np.int64), np.zeros((0, len(Searcher.FEATURES)), np.float32), gold))
    return out


def score(data, w: np.ndarray) -> tuple[float, float, float]:
    """(MRR, R@1, R@3) of weights w over the collected candidates."""
    mrr = r1 = r3 = 0.0
    for rows, F, gold in data:
        if not len(rows) or not gold:
            continue
        s = F @ w
        g = np.isin(rows, list(gold))
        if not g.any():
            continue
        best_gold = s[g].max()
        rank = int((s > best_gold).sum())
        mrr += 1.0 / (rank + 1) if rank < 10 else 0.0
        r1 += rank < 1
        r3 += rank < 3
    n = max(len(data), 1)
    return mrr / n, r1 / n, r3 / n


def search_weights(data, start: np.ndarray, iters: int = 400, seed: int = 7) -> tuple[np.ndarray, tuple]:
    rng = random.Random(seed)
    best_w, best = start.copy(), score(data, start)
    for _ in range(iters):
        w = best_w.copy()
        j = rng.randrange(len(w))
        w[j] = max(0.0, w[j] + rng.choice([-1, 1]) * rng.choice([0.02, 0.05, 0.1, 0.2]))
        sc = score(data, w)
        if sc > best:
            best_w, best = w, sc
    return best_w, best


def top_scores(data, w: np.ndarray) -> np.ndarray:
    return np.asarray([float((F @ w).max()) if len(rows) else 0.0 for rows, F, _ in data])


def calibrate(searcher: Searcher, items: list[dict], unsure: float = 0.10, iters: int = 400,
              write: bool = True) -> dict:
    data = collect(searcher, items)
    start = searcher._weights().astype(np.float64)
    before = score(data, start)
    w, after = search_weights(data, start, iters=iters)
    # Confidence bar: the `unsure` quantile of the top score over questions that have an answer.
    tops = top_scores(data, w)
    tau = float(np.quantile(tops, unsure)) if len(tops) else searcher.c["tau_art"]
    new = {k: round(float(v), 3) for k, v in zip(WEIGHT_KEYS, w)}
    new["tau_art"] = round(tau, 3)
    report = {"n": len(items), "before": dict(zip(("MRR", "R@1", "R@3"), map(lambda x: round(x, 4), before))),
              "after": dict(zip(("MRR", "R@1", "R@3"), map(lambda x: round(x, 4), after))), "weights": new}
    if write:
        cur = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8")) if CALIBRATION_PATH.exists() else {}
        cur.update(new)
        CALIBRATION_PATH.write_text(json.dumps(cur, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return report


def load_items(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def dev_paths(arg: str) -> list[Path]:
    """The comma-separated dev sets of a calibration command; a held-out set is refused."""
    paths = [Path(x) for x in arg.split(",") if x]
    if any("heldout" in x.name for x in paths):
        raise SystemExit("留出集不能用于校准 (the held-out set is never used for calibration)")
    return paths


def main(argv: list[str] | None = None) -> int:
    """python -m knowledge.tune --set bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl [--write]
    (run with MINGBAI_HOME pointing at an index that holds the whole corpus with its vectors)."""
    import argparse

    from knowledge.search import get_searcher

    p = argparse.ArgumentParser(prog="python -m knowledge.tune", description="在开发集上校准条文排序的权重和把握阈值")
    p.add_argument("--set", default="bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl")
    p.add_argument("--unsure", type=float, default=0.10)
    p.add_argument("--iters", type=int, default=600)
    p.add_argument("--write", action="store_true", help="写入 knowledge/calibration.json")
    args = p.parse_args(argv)
    items = [it for x in dev_paths(args.set) for it in load_items(x)]
    report = calibrate(get_searcher(auto_build=False), items, unsure=args.unsure, iters=args.iters, write=args.write)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
