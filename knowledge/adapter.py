"""`mingbai model tune` (knowledge/adapter.py): fit e5 to our (question → article) pairs on CPU; ship only if held-out says so.

What is tuned: a linear map on the query side, q' = normalise(W q), W initialised to the identity and
kept near it (L2 to I). Training a 384×384 map on cached vectors takes seconds on one core, where
fine-tuning all of e5 would take tens of minutes per epoch here and would force every article
vector to be re-encoded. The article vectors stay untouched.

Pairs: every curated question and paraphrase (knowledge/qa) → the articles its entry cites, with the
other shipped articles as in-batch negatives (softmax over all article vectors).
Decision: the entries are split by entry id (a sixth held out); the adapter is written to
MINGBAI_HOME/models/query_adapter.npy only if it raises R@1 on that held-out split AND on the
article dev set (bench/corpus/dev.jsonl) when present; otherwise the base model is kept and the
report says why. Hand-written because no library fits a query adapter to our cached vectors.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def adapter_path() -> Path:
    from mingbai.settings import get_settings

    return get_settings().home / "models" / "query_adapter.npy"


def _recall_at_1(W: np.ndarray | None, Q: np.ndarray, gold: np.ndarray, A: np.ndarray) -> float:
    if len(Q) == 0:
        return 0.0
    q = Q @ W.T if W is not None else Q
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-9)
    S = q @ A.T
    ok = [g >= 0 and S[i].argmax() == g for i, g in enumerate(gold)]
    return float(np.mean(ok))


def _pairs(searcher):
    L = searcher.L
    vec_of_row = {int(r): i for i, r in enumerate(L.art_vec_rows)}
    Q, P, G = [], [], []
    for ei, _ in enumerate(L.entries):
        tgt = [vec_of_row[r] for r in searcher.cite_rows[ei] if r in vec_of_row]
        if not tgt:
            continue
        for j in np.nonzero(L.qa_owner == ei)[0]:
            Q.append(L.qa_vecs[j])
            P.append(tgt[0])
            G.append(ei)
    return np.asarray(Q, np.float32), np.asarray(P), np.asarray(G)


def _dev(searcher, path: Path):
    from knowledge.embed import encode_query
    from knowledge.text import classify_input

    L = searcher.L
    row_of = {int(a): r for r, a in enumerate(L.art_ids)}
    vec_of_row = {int(r): i for i, r in enumerate(L.art_vec_rows)}
    qs, gs = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        it = json.loads(line)
        _, text = classify_input(it["text"])
        g = it["gold"][0]
        a = L.corpus.get(g["law"], g["article"])
        qs.append(encode_query(text or it["text"]))
        gs.append(vec_of_row.get(row_of.get(a.id, -1), -1) if a else -1)
    return np.asarray(qs, np.float32), np.asarray(gs)


def tune(epochs: int = 20, lam: float = 0.05, dev_set: Path | None = None, write: bool = True) -> dict:
    import torch

    from knowledge.search import get_searcher

    t0 = time.time()
    s = get_searcher()
    A = s.L.art_vecs
    if A is None or not len(A):
        return {"shipped": False, "reason": "no article vectors (run mingbai kb build)"}
    Q, P, G = _pairs(s)
    rng = np.random.default_rng(0)
    ents = np.unique(G)
    rng.shuffle(ents)
    held = np.isin(G, ents[: max(len(ents) // 6, 1)])
    At, Qt, Pt = torch.tensor(A), torch.tensor(Q), torch.tensor(P)
    W = torch.nn.Parameter(torch.eye(A.shape[1]))
    opt = torch.optim.Adam([W], lr=1e-3)
    train = np.nonzero(~held)[0]
    eye = torch.eye(A.shape[1])
    for _ in range(epochs):
        rng.shuffle(train)
        for b in range(0, len(train), 256):
            idx = torch.tensor(train[b:b + 256])
            q = Qt[idx] @ W.T
            q = q / q.norm(dim=1, keepdim=True)
            loss = torch.nn.functional.cross_entropy(q @ At.T / 0.02, Pt[idx]) + lam * ((W - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    Wn = W.detach().numpy().astype(np.float32)
    report = {"pairs": int(len(Q)), "held_out_pairs": int(held.sum()), "epochs": epochs,
              "held_out_r1": {"base": round(_recall_at_1(None, Q[held], P[held], A), 4),
                              "tuned": round(_recall_at_1(Wn, Q[held], P[held], A), 4)}}
    better = report["held_out_r1"]["tuned"] > report["held_out_r1"]["base"]
    if dev_set and dev_set.exists():
        dq, dg = _dev(s, dev_set)
        report["dev_r1"] = {"base": round(_recall_at_1(None, dq, dg, A), 4),
                            "tuned": round(_recall_at_1(Wn, dq, dg, A), 4)}
        better = better and report["dev_r1"]["tuned"] > report["dev_r1"]["base"]
    report["shipped"] = bool(better)
    report["seconds"] = round(time.time() - t0, 1)
    path = adapter_path()
    if better and write:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, Wn)
    elif write:
        path.unlink(missing_ok=True)  # keep the base model
        report["reason"] = "the tuned map did not beat the base model on the held-out split(s)"
    return report


def main(argv: list[str]) -> int:
    """`mingbai model tune [--epochs N] [--dev FILE]`."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="mingbai model tune", description="用问答库的(问题→法条)对微调查询向量；留出集变好才启用")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--dev", default=str(Path(__file__).resolve().parent.parent / "bench" / "corpus" / "dev.jsonl"))
    args = p.parse_args(argv)
    report = tune(epochs=args.epochs, dev_set=Path(args.dev))
    print(json.dumps(report, ensure_ascii=False))
    print("已启用微调后的查询映射" if report.get("shipped") else "保留原模型：" + report.get("reason", ""), file=sys.stderr)
    return 0
