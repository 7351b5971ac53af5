"""Second stage of the whole-corpus article ranking: re-order the best candidates of the weighted sum.

The first stage (knowledge.search, weights from knowledge.tune) scores each candidate on its own.
Here the top `top` candidates are compared with each other: how far each feature lies below the
best candidate's, the rank by meaning and by words, how many of the top ten come from the same law,
whether the article next to it in its law also scored (neighbouring articles of one chapter answer
the same story). A logistic regression over these 27 numbers, fitted on the dev splits
(bench/corpus/dev*.jsonl; held-out sets are refused), gives the new order; the first stage's scores
are kept on the hits, so the confidence bar still reads the same scale.

    python -m knowledge.rerank --set bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl,bench/corpus/dev3.jsonl --write
    (MINGBAI_HOME pointing at an index that holds the whole corpus with its vectors)

Serving is numpy only (knowledge/rerank.json: feature means, scales, coefficients). Hand-written
because the features are ours; fitting uses scikit-learn's LogisticRegression.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PARAMS_PATH = Path(__file__).resolve().parent / "rerank.json"


def features(rows: np.ndarray, F: np.ndarray, s: np.ndarray, laws: np.ndarray) -> np.ndarray:
    """Rows already limited to the top candidates and sorted by first-stage score s (best first)."""
    n = len(rows)
    rank = np.arange(n, dtype=np.float64)
    rank_dense = np.argsort(np.argsort(-F[:, 0], kind="stable"), kind="stable").astype(np.float64)
    rank_lex = np.argsort(np.argsort(-F[:, 1], kind="stable"), kind="stable").astype(np.float64)
    top10 = laws[:10]
    same_law = np.asarray([(top10 == law).sum() for law in laws], np.float64)
    law_best = np.asarray([s[laws == law].max() for law in laws])
    pos = {int(r): i for i, r in enumerate(rows)}
    neighbour = np.asarray([max([s[pos[r2]] for r2 in (int(r) - 1, int(r) + 1) if r2 in pos and laws[pos[r2]] == laws[i]]
                                or [0.0]) for i, r in enumerate(rows)])
    return np.column_stack([F, F - F.max(axis=0), s, s - s.max(), np.log1p(rank), np.log1p(rank_dense),
                            np.log1p(rank_lex), same_law, s - law_best, neighbour, neighbour - s])


def ready(p: dict) -> dict:
    """Parameters as fit() returns them or rerank.json holds them, in the arrays order() uses."""
    return {"top": int(p["top"]), "mean": np.asarray(p["mean"]), "scale": np.asarray(p["scale"]),
            "coef": np.asarray(p["coef"]), "intercept": float(p["intercept"])}


def load() -> dict | None:
    if not PARAMS_PATH.exists():
        return None
    try:
        return ready(json.loads(PARAMS_PATH.read_text(encoding="utf-8")))
    except (ValueError, KeyError):
        return None


def order(rows: np.ndarray, F: np.ndarray, s: np.ndarray, laws: np.ndarray, params: dict | None) -> np.ndarray:
    """Indices of the candidates, best first: the top ones re-ordered, the rest by first-stage score."""
    first = np.argsort(-s, kind="stable")
    if params is None or len(rows) < 2:
        return first
    head, tail = first[:params["top"]], first[params["top"]:]
    X = features(rows[head], F[head], s[head], laws[head])
    z = ((X - params["mean"]) / params["scale"]) @ params["coef"] + params["intercept"]
    return np.concatenate([head[np.argsort(-z, kind="stable")], tail])


def fit(data: list[tuple[np.ndarray, np.ndarray, np.ndarray, set[int]]], w: np.ndarray, top: int = 50,
        C: float = 1.0) -> dict:
    """data: per question (rows, F, laws, gold rows) as collected by knowledge.tune."""
    from sklearn.linear_model import LogisticRegression

    Xs, ys = [], []
    for rows, F, laws, gold in data:
        if not len(rows) or not gold:
            continue
        s = F @ w
        head = np.argsort(-s, kind="stable")[:top]
        Xs.append(features(rows[head], F[head], s[head], laws[head]))
        ys.append(np.isin(rows[head], list(gold)).astype(int))
    X, y = np.vstack(Xs), np.concatenate(ys)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=C, max_iter=3000).fit((X - mean) / scale, y)
    return {"top": top, "mean": mean.tolist(), "scale": scale.tolist(), "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0])}


def evaluate(data, w: np.ndarray, params: dict | None) -> dict:
    """R@1 / R@3 / R@10 / MRR, and the first-stage score of each question's top hit (for the bar)."""
    r1 = r3 = r10 = mrr = 0.0
    tops = []
    for rows, F, laws, gold in data:
        if not len(rows):
            continue
        s = F @ w
        o = order(rows, F, s, laws, params)
        tops.append(float(s[o[0]]))
        hit = np.nonzero(np.isin(rows[o], list(gold)))[0]
        if len(hit):
            r = int(hit[0])
            r1 += r < 1
            r3 += r < 3
            r10 += r < 10
            mrr += 1.0 / (r + 1) if r < 10 else 0.0
    n = max(len(data), 1)
    return {"R@1": round(r1 / n, 4), "R@3": round(r3 / n, 4), "R@10": round(r10 / n, 4), "MRR": round(mrr / n, 4),
            "tops": tops}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from knowledge.search import CALIBRATION_PATH, get_searcher
    from knowledge.tune import collect, dev_paths, load_items

    p = argparse.ArgumentParser(prog="python -m knowledge.rerank", description="在开发集上拟合条文排序的第二阶段")
    p.add_argument("--set", default="bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl,bench/corpus/dev3.jsonl")
    p.add_argument("--top", type=int, default=50)
    p.add_argument("--unsure", type=float, default=0.10)
    p.add_argument("--write", action="store_true", help="写入 knowledge/rerank.json 与 calibration.json 的 tau_art")
    args = p.parse_args(argv)
    paths = dev_paths(args.set)
    searcher = get_searcher(auto_build=False)
    w = searcher._weights().astype(np.float64)
    data = []
    for x in paths:
        items = load_items(x)
        for (rows, F, gold), _ in zip(collect(searcher, items), items):
            data.append((rows, F.astype(np.float64), searcher.L.art_law[rows], gold))
    # 5-fold estimate before fitting on everything (the figure the commit reports)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(data))
    folds = np.array_split(idx, 5)
    cv = {"linear": [], "rerank": []}
    for f in folds:
        test = set(f.tolist())
        params = fit([data[i] for i in idx if i not in test], w, args.top)
        part = [data[i] for i in f]
        cv["linear"].append(evaluate(part, w, None))
        cv["rerank"].append(evaluate(part, w, ready(params)))
    report = {k: {m: round(float(np.mean([r[m] for r in v])), 4) for m in ("R@1", "R@3", "R@10", "MRR")}
              for k, v in cv.items()}
    params = fit(data, w, args.top)
    tops = evaluate(data, w, ready(params))["tops"]
    tau = round(float(np.quantile(tops, args.unsure)), 3)
    report.update({"n": len(data), "tau_art": tau})
    if args.write:
        PARAMS_PATH.write_text(json.dumps({k: (np.round(v, 6).tolist() if isinstance(v, list) else v)
                                           for k, v in params.items()}, indent=1) + "\n", encoding="utf-8")
        cur = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8")) if CALIBRATION_PATH.exists() else {}
        cur["tau_art"] = tau
        CALIBRATION_PATH.write_text(json.dumps(cur, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
