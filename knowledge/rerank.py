"""Second stage of the whole-corpus article ranking: re-order the best candidates of the weighted sum.

The first stage (knowledge.search, weights from knowledge.tune) scores each candidate on its own.
Here the top `top` (100) candidates are compared with each other: how far each feature lies below
the best candidate's, the rank by meaning and by words, how many of the top ten come from the same
law, whether the article next to it in its law also scored (neighbouring articles of one chapter
answer the same story), and the searcher's second-stage columns (Searcher._extra): how many of the
resident's 20 nearest asked questions belong to the article, by words and by meaning; how many it
has; judicial interpretation or not; how much of its law's title the resident's words contain
(旅游团 → 旅游法, 快递 → 快递暂行条例) — the last one lifts the right law from far down the list,
which is why `top` is 100, not 50. A logistic regression over these 37 numbers, fitted on the dev
splits (bench/corpus/dev*.jsonl; held-out sets are refused), gives the new order; the first stage's
scores are kept on the hits, so the confidence bar still reads the same scale.

    python -m knowledge.rerank --set bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl,bench/corpus/dev3.jsonl,bench/corpus/dev4.jsonl --top 100 --write --keep-bar
    (MINGBAI_HOME pointing at an index that holds the whole corpus with its vectors)

`--asked N` adds N of knowledge/asked/'s questions as training queries, each leaving itself out; on
the dev splits (5-fold) it made the order worse (R@3 0.870 → 0.869 at weight 0.25, 0.840 at 1), so
the shipped fit does not use it. Serving is numpy only (knowledge/rerank.json: feature means,
scales, coefficients). Hand-written because the features are ours; fitting uses scikit-learn's
LogisticRegression (a gradient-boosted fit of the same features, and a chapter-heading column, did no
better on the dev splits).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PARAMS_PATH = Path(__file__).resolve().parent / "rerank.json"
N_EXTRA = 5  # columns of knowledge.search.Searcher._extra


def features(rows: np.ndarray, F: np.ndarray, s: np.ndarray, laws: np.ndarray,
             E: np.ndarray | None = None) -> np.ndarray:
    """Rows already limited to the top candidates and sorted by first-stage score s (best first).
    E: the searcher's second-stage-only columns (Searcher._extra), appended with their gap to the best."""
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
    cols = [F, F - F.max(axis=0), s, s - s.max(), np.log1p(rank), np.log1p(rank_dense),
            np.log1p(rank_lex), same_law, s - law_best, neighbour, neighbour - s]
    if E is not None:
        cols += [E, E - E.max(axis=0)]
    return np.column_stack(cols)


def ready(p: dict) -> dict:
    """Parameters as fit() returns them or rerank.json holds them, in the arrays order() uses."""
    return {"top": int(p["top"]), "mean": np.asarray(p["mean"]), "scale": np.asarray(p["scale"]),
            "coef": np.asarray(p["coef"]), "intercept": float(p["intercept"]), "extra": bool(p.get("extra", False))}


def load() -> dict | None:
    if not PARAMS_PATH.exists():
        return None
    try:
        return ready(json.loads(PARAMS_PATH.read_text(encoding="utf-8")))
    except (ValueError, KeyError):
        return None


def order(rows: np.ndarray, F: np.ndarray, s: np.ndarray, laws: np.ndarray, params: dict | None,
          E: np.ndarray | None = None) -> np.ndarray:
    """Indices of the candidates, best first: the top ones re-ordered, the rest by first-stage score."""
    first = np.argsort(-s, kind="stable")
    if params is None or len(rows) < 2 or (params["extra"] and E is None):
        return first
    head, tail = first[:params["top"]], first[params["top"]:]
    X = features(rows[head], F[head], s[head], laws[head], E[head] if params["extra"] else None)
    z = ((X - params["mean"]) / params["scale"]) @ params["coef"] + params["intercept"]
    return np.concatenate([head[np.argsort(-z, kind="stable")], tail])


# One training / evaluation question: candidate rows, first-stage features, their laws, the gold rows,
# the second-stage-only columns and the question's weight in the fit.
Question = tuple  # (rows, F, laws, gold: set[int], E, weight)


def fit(data: list[Question], w: np.ndarray, top: int = 50, C: float = 1.0, extra: bool = True) -> dict:
    from sklearn.linear_model import LogisticRegression

    Xs, ys, ws = [], [], []
    for rows, F, laws, gold, E, weight in data:
        if not len(rows) or not gold:
            continue
        s = F @ w
        head = np.argsort(-s, kind="stable")[:top]
        Xs.append(features(rows[head], F[head], s[head], laws[head], E[head] if extra else None))
        ys.append(np.isin(rows[head], list(gold)).astype(int))
        ws.append(np.full(len(head), weight))
    X, y, sw = np.vstack(Xs), np.concatenate(ys), np.concatenate(ws)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=C, max_iter=3000).fit((X - mean) / scale, y, sample_weight=sw)
    return {"top": top, "extra": extra, "mean": mean.tolist(), "scale": scale.tolist(), "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0])}


def evaluate(data: list[Question], w: np.ndarray, params: dict | None) -> dict:
    """R@1 / R@3 / R@10 / MRR, and the first-stage score of each question's top hit (for the bar)."""
    r1 = r3 = r10 = mrr = 0.0
    tops = []
    for rows, F, laws, gold, E, _ in data:
        if not len(rows):
            continue
        s = F @ w
        o = order(rows, F, s, laws, params, E)
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


def _search(searcher, text: str, gold: set[int], weight: float, domain: str | None = None,
            exclude_asked: int | None = None) -> Question | None:
    from knowledge.tune import capture

    cap = capture(searcher, text, domain, exclude_asked)
    if cap is None:
        return None
    rows, F, E = cap
    return rows, F.astype(np.float64), searcher.L.art_law[rows], gold, E, weight


def collect_dev(searcher, items: list[dict]) -> list[Question]:
    from knowledge.tune import gold_rows

    out = []
    for it, gold in zip(items, gold_rows(searcher, items)):
        q = _search(searcher, it["text"], gold, 1.0, it.get("domain_hint"))
        empty = (np.zeros(0, np.int64), np.zeros((0, len(searcher.FEATURES))), np.zeros(0, np.int64), gold,
                 np.zeros((0, N_EXTRA)), 1.0)
        out.append(q if q is not None else empty)
    return out


def collect_asked(searcher, n: int, weight: float, seed: int = 0) -> list[Question]:
    """n of the residents' questions of knowledge/asked/ as extra training queries, each searched with
    itself left out of the asked index (its article keeps its other questions, as for a new
    resident's question). The features are article-agnostic, so they learn how scores behave."""
    from knowledge.reindex import current_index_dir

    L = searcher.L
    texts = json.loads((current_index_dir() / "asked_texts.json").read_text(encoding="utf-8"))
    ok = np.nonzero(L.asked_rows >= 0)[0]
    pick = np.random.RandomState(seed).choice(ok, size=min(n, len(ok)), replace=False)
    out = []
    for i in pick:
        q = _search(searcher, texts[i], {int(L.asked_rows[i])}, weight, exclude_asked=int(i))
        if q is not None:
            out.append(q)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    from knowledge.search import CALIBRATION_PATH, get_searcher
    from knowledge.tune import dev_paths, load_items

    p = argparse.ArgumentParser(prog="python -m knowledge.rerank", description="在开发集上拟合条文排序的第二阶段")
    p.add_argument("--set", default="bench/corpus/dev.jsonl,bench/corpus/dev2.jsonl,bench/corpus/dev3.jsonl,"
                                     "bench/corpus/dev4.jsonl")
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--unsure", type=float, default=0.10)
    p.add_argument("--asked", type=int, default=0, help="另取多少条 knowledge/asked 问法作训练问题 (各自留出)")
    p.add_argument("--asked-weight", type=float, default=0.25, help="这些问题每条的权重 (开发集每条为 1)")
    p.add_argument("--no-extra", action="store_true", help="不用第二阶段专有的列 (Searcher._extra)")
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--write", action="store_true", help="写入 knowledge/rerank.json 与 calibration.json 的 tau_art")
    p.add_argument("--keep-bar", action="store_true", help="不改 calibration.json 的 tau_art (把握阈值)")
    args = p.parse_args(argv)
    paths = dev_paths(args.set)
    searcher = get_searcher(auto_build=False)
    w = searcher._weights().astype(np.float64)
    data = [q for x in paths for q in collect_dev(searcher, load_items(x))]
    extra = collect_asked(searcher, args.asked, args.asked_weight) if args.asked else []
    # 5-fold estimate over the dev questions before fitting on everything (the figure the commit
    # reports); the asked questions only ever train.
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(data))
    folds = np.array_split(idx, 5)
    cv = {"linear": [], "rerank": []}
    for f in folds:
        test = set(f.tolist())
        params = fit([data[i] for i in idx if i not in test] + extra, w, args.top, args.C, not args.no_extra)
        part = [data[i] for i in f]
        cv["linear"].append(evaluate(part, w, None))
        cv["rerank"].append(evaluate(part, w, ready(params)))
    report = {k: {m: round(float(np.mean([r[m] for r in v])), 4) for m in ("R@1", "R@3", "R@10", "MRR")}
              for k, v in cv.items()}
    params = fit(data + extra, w, args.top, args.C, not args.no_extra)
    tops = evaluate(data, w, ready(params))["tops"]
    tau = round(float(np.quantile(tops, args.unsure)), 3)
    report.update({"n": len(data), "asked": len(extra), "tau_art": tau})
    if args.write:
        PARAMS_PATH.write_text(json.dumps({k: (np.round(v, 6).tolist() if isinstance(v, list) else v)
                                           for k, v in params.items()}, indent=1) + "\n", encoding="utf-8")
    if args.write and not args.keep_bar:
        cur = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8")) if CALIBRATION_PATH.exists() else {}
        cur["tau_art"] = tau
        CALIBRATION_PATH.write_text(json.dumps(cur, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
