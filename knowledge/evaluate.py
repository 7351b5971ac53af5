"""Dev-set evaluation: hit@1, hit@5, MRR, citation hit@3, precision/recall of "no good answer".

Dev lines: {"id", "text", "expected_entry": id | null, "expected_citations": [{"law","article"}]}.
expected_entry null and no expected_citations = the KB cannot answer it.
"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from knowledge.answer import build_answer
from knowledge.laws import clean_law_name, law_key
from knowledge.numerals import canonical_article
from knowledge.search import CALIBRATION_PATH, Searcher, get_searcher
from knowledge.text import classify_input

MIN_NO_ANSWER_RECALL = 0.85
PARAMS = ("alpha", "lo", "hi", "ans_lex", "ans_dense", "tau_qa", "tau_art", "len_relief")
EVAL_DIR = Path(__file__).resolve().parent.parent / "eval" / "knowledge"


def load_dev(files: list[Path] | None = None) -> list[dict]:
    files = files or sorted(EVAL_DIR.glob("*.jsonl"))
    items = []
    for f in files:
        for n, line in enumerate(Path(f).read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            d.setdefault("id", f"{Path(f).stem}:{n}")
            d.setdefault("expected_entry", None)
            d["expected_citations"] = d.get("expected_citations") or []
            d["_file"] = Path(f).name
            items.append(d)
    return items


def _cite_key(c: dict) -> tuple[str, str] | None:
    try:
        return law_key(clean_law_name(c["law"])), canonical_article(str(c["article"]))
    except (KeyError, ValueError):
        return None


def _encode_all(items: list[dict]) -> list[tuple[str, str, np.ndarray | None]]:
    from knowledge.embed import encode_query

    out = []
    for it in items:
        problem, cleaned = classify_input(it.get("text"))
        out.append((problem, cleaned, None if problem else encode_query(cleaned)))
    return out


def _search_all(searcher: Searcher, items: list[dict], encoded, mode: str):
    out = []
    for it, (problem, cleaned, qv) in zip(items, encoded):
        out.append(None if problem else searcher.search(cleaned, domain=it.get("domain"), k=5, mode=mode, qv=qv))
    return out


def _score_rows(searcher: Searcher, items: list[dict], results) -> list[dict]:
    rows = []
    for it, res in zip(items, results):
        exp = it.get("expected_entry")
        exp_cites = {k for k in (_cite_key(c) for c in it["expected_citations"]) if k}
        unanswerable = exp is None and not exp_cites
        if res is None:
            ranked, out = [], {"confident": False, "citations": [], "entry_id": None, "score": 0.0}
        else:
            ranked = [h.entry.id for h in res.qa]
            out = build_answer(res, searcher, it.get("domain"))
        got_cites = [_cite_key(c) for c in out["citations"][:3]]
        rank = ranked.index(exp) + 1 if exp in ranked else None
        rows.append({
            "id": it["id"], "text": it.get("text"), "expected_entry": exp, "unanswerable": unanswerable,
            "top5": ranked[:5], "rank": rank, "entry_id": out["entry_id"], "confident": out["confident"],
            "score": out["score"], "citation_hit@3": bool(exp_cites & set(got_cites)) if exp_cites else None,
            "citations": [f"{c['law']}{c['article']}" for c in out["citations"][:3]],
        })
    return rows


def evaluate(searcher: Searcher, items: list[dict], encoded, mode: str = "hybrid") -> tuple[dict, list[dict]]:
    rows = _score_rows(searcher, items, _search_all(searcher, items, encoded, mode))
    return metrics(rows), rows


def metrics(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["expected_entry"] is not None]
    cit = [r for r in rows if r["citation_hit@3"] is not None]
    un = [r for r in rows if r["unanswerable"]]
    pred_no = [r for r in rows if not r["confident"]]
    tp = sum(1 for r in pred_no if r["unanswerable"])
    correct_conf = sum(1 for r in ans if r["confident"] and r["entry_id"] == r["expected_entry"])
    m = {
        "n": len(rows), "n_answerable": len(ans), "n_unanswerable": len(un), "n_with_citations": len(cit),
        "hit@1": _mean(r["rank"] == 1 for r in ans), "hit@5": _mean(r["rank"] is not None and r["rank"] <= 5 for r in ans),
        "mrr": _mean((1.0 / r["rank"]) if r["rank"] else 0.0 for r in ans),
        "citation_hit@3": _mean(r["citation_hit@3"] for r in cit),
        "no_answer_precision": tp / len(pred_no) if pred_no else 0.0,
        "no_answer_recall": tp / len(un) if un else 0.0,
        "answered_correctly": correct_conf / len(ans) if ans else 0.0,
        "wrong_confident_answers": sum(1 for r in ans if r["confident"] and r["entry_id"] not in (None, r["expected_entry"])),
    }
    ok = sum(1 for r in ans if r["confident"] and r["entry_id"] == r["expected_entry"])
    ok += sum(1 for r in un if not r["confident"])
    ok += sum(1 for r in rows if r["expected_entry"] is None and not r["unanswerable"] and r["confident"]
              and r["citation_hit@3"])
    m["decision_accuracy"] = ok / len(rows) if rows else 0.0
    # Balanced accuracy of the end decision (answer the right entry vs. say "not sure").
    acc_un = _mean(not r["confident"] for r in un) if un else 0.0
    m["decision_balanced_accuracy"] = (m["answered_correctly"] + acc_un) / 2 if un else m["answered_correctly"]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}


def _mean(xs) -> float:
    xs = list(xs)
    return float(sum(1 for x in xs if x is True) + sum(x for x in xs if isinstance(x, float))) / len(xs) if xs else 0.0


def calibrate(searcher: Searcher, items: list[dict], encoded) -> dict:
    """Grid over fusion weights and thresholds: maximise the share of questions where the end decision
    is right (the expected entry answered, or "not sure" when the KB cannot answer) while still
    catching at least MIN_NO_ANSWER_RECALL of the unanswerable ones; MRR breaks ties."""
    base = dict(searcher.c)
    best = (-1.0, None, None)
    inf = float("inf")
    grid = itertools.product([0.4, 0.5, 0.6], [(0.80, 0.96), (0.84, 0.95), (0.86, 0.96)], [0.2, 0.3], [0.1])
    for alpha, (lo, hi), ans_lex, ans_dense in grid:
        params = dict(base, alpha=alpha, lo=lo, hi=hi, ans_lex=ans_lex, ans_dense=ans_dense)
        searcher.c = params
        results = _search_all(searcher, items, encoded, "hybrid")
        # Rows for each possible decision, computed once; thresholds then only pick between them.
        searcher.c = dict(params, tau_qa=-inf)
        as_qa = _score_rows(searcher, items, results)
        searcher.c = dict(params, tau_qa=inf, tau_art=-inf)
        as_art = _score_rows(searcher, items, results)
        searcher.c = dict(params, tau_qa=inf, tau_art=inf)
        as_none = _score_rows(searcher, items, results)
        qa_s = [max((h.score for h in r.qa[:1]), default=-inf) if r else -inf for r in results]
        art_s = [max((h.score for h in r.articles[:1]), default=-inf) if r else -inf for r in results]
        direct = [bool(r and r.direct) for r in results]
        lens = [min(len(r.query), 60) / 60 if r else 0.0 for r in results]
        for tau_qa, tau_art, relief in itertools.product(np.arange(0.40, 1.20, 0.02), [0.6, 0.7, 0.8, 0.9, 1.0, 1.2],
                                                         [0.0, 0.05, 0.1, 0.15]):
            rows = []
            for i in range(len(items)):
                if direct[i] or qa_s[i] >= tau_qa - relief * lens[i]:
                    rows.append(as_qa[i])
                elif art_s[i] >= tau_art:
                    rows.append(as_art[i])
                else:
                    rows.append(as_none[i])
            m = metrics(rows)
            if m["n_unanswerable"] and m["no_answer_recall"] < MIN_NO_ANSWER_RECALL:
                continue
            key = m["decision_accuracy"] + 0.01 * m["mrr"]
            if key > best[0]:
                best = (key, dict(params, tau_qa=round(float(tau_qa), 2), tau_art=tau_art, len_relief=relief), m)
    searcher.c = base
    return {"params": best[1], "metrics": best[2]}


def cross_validate(searcher: Searcher, items: list[dict], encoded, folds: int = 2) -> dict:
    """Honest numbers: calibrate on some folds, measure on the held-out one (split by id hash)."""
    import zlib

    fold_of = [zlib.crc32(str(it["id"]).encode()) % folds for it in items]
    base = dict(searcher.c)
    rows_all: list[dict] = []
    for f in range(folds):
        tr = [i for i, x in enumerate(fold_of) if x != f]
        te = [i for i, x in enumerate(fold_of) if x == f]
        cal = calibrate(searcher, [items[i] for i in tr], [encoded[i] for i in tr])
        searcher.c = dict(base, **{k: cal["params"][k] for k in PARAMS})
        _, rows = evaluate(searcher, [items[i] for i in te], [encoded[i] for i in te])
        rows_all.extend(rows)
        searcher.c = base
    return {"folds": folds, "metrics": metrics(rows_all)}


def run_eval(files: list[Path] | None = None, *, mode: str = "hybrid", calibrate_: bool = False,
             cv: bool = False, **kw) -> dict:
    calibrate_ = calibrate_ or kw.get("calibrate", False)
    items = load_dev(files)
    searcher = get_searcher()
    t = time.time()
    encoded = _encode_all(items)
    report: dict = {"files": sorted({i["_file"] for i in items}), "mode": mode}
    if calibrate_ and mode == "hybrid":
        cal = calibrate(searcher, items, encoded)
        keep = {k: cal["params"][k] for k in PARAMS}
        prev = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8")) if CALIBRATION_PATH.exists() else {}
        prev.update(keep)
        prev["_note"] = f"kb eval --calibrate on {len(items)} dev questions, {time.strftime('%Y-%m-%d')}"
        CALIBRATION_PATH.write_text(json.dumps(prev, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        searcher.c.update(keep)
        report["calibration"] = keep
    if cv:
        report["cross_validated"] = cross_validate(searcher, items, encoded)
    m, rows = evaluate(searcher, items, encoded, mode=mode)
    m["seconds"] = round(time.time() - t, 2)
    report["metrics"] = m
    report["params"] = {k: searcher.c[k] for k in PARAMS}
    report["items"] = rows
    return report
