"""Whole-corpus article retrieval: R@1 / R@3 / R@10 / MRR on layperson questions with gold articles.

Side by side in one run, over the same ingested corpus (../shared/laws, ~58k articles in force):
  plain BM25   bm25s + jieba over law name + article text, nothing tuned (the baseline to beat)
  dense only   e5 vectors (whatever coverage the index has; reported)
  hybrid       the shipped ranking: ask()'s citations first, then the article ranking
  previous     the previous release's `mingbai ask` (a git worktree of --prev-ref), its citations

Usage:
  .venv-app/bin/python bench/bench_corpus.py --home /tmp/corpus-home [--set bench/corpus/heldout.jsonl]
        [--prev-ref d275e05] [--modes plain,dense,hybrid,previous] [--out bench/results/corpus.md]
The home must hold an index with the whole corpus ingested (`MINGBAI_HOME=… mingbai kb ingest-laws
../shared/laws`). Never tune on the held-out set: calibrate on bench/corpus/dev.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"


def load_set(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def gold_keys(item: dict) -> set[tuple[str, str]]:
    from knowledge.laws import law_key
    from knowledge.numerals import canonical_article

    return {(law_key(g["law"]), canonical_article(g["article"])) for g in item["gold"]}


def metrics(rankings: list[list[tuple[str, str]]], items: list[dict]) -> dict:
    """R@k = gold (any of the item's gold articles) among the first k; MRR on the first gold hit."""
    r1 = r3 = r10 = mrr = 0.0
    for ranking, it in zip(rankings, items):
        gold = gold_keys(it)
        pos = next((i for i, key in enumerate(ranking[:10]) if key in gold), None)
        if pos is not None:
            r1 += pos < 1
            r3 += pos < 3
            r10 += 1
            mrr += 1.0 / (pos + 1)
    n = max(len(items), 1)
    return {"R@1": round(r1 / n, 4), "R@3": round(r3 / n, 4), "R@10": round(r10 / n, 4), "MRR": round(mrr / n, 4),
            "n": len(items)}


def _key(law: str, article: str) -> tuple[str, str]:
    from knowledge.laws import law_key

    return (law_key(law), article)


def system_ranking(searcher, text: str, mode: str = "hybrid", exclude_entry: str | None = None,
                   domain: str | None = None) -> tuple[list[tuple[str, str]], dict]:
    """What the product puts forward: the answer's citations, then the rest of the article ranking."""
    from knowledge.answer import build_answer
    from knowledge.text import classify_input

    _, cleaned = classify_input(text)
    res = searcher.search(cleaned or text, domain=domain, k=10, mode=mode, exclude_entry=exclude_entry)
    ans = build_answer(res, searcher, domain)
    ranking: list[tuple[str, str]] = []
    for c in ans["citations"]:
        k = _key(c["law"], c["article"])
        if k not in ranking:
            ranking.append(k)
    for h in res.articles:
        k = _key(h.article.law, h.article.article)
        if k not in ranking:
            ranking.append(k)
    return ranking, ans


def article_ranking(searcher, text: str, mode: str, exclude_entry: str | None = None) -> list[tuple[str, str]]:
    from knowledge.text import classify_input

    _, cleaned = classify_input(text)
    res = searcher.search(cleaned or text, k=10, mode=mode, exclude_entry=exclude_entry)
    return [_key(h.article.law, h.article.article) for h in res.articles]


# ------------------------------------------------------------------------------ plain BM25

class PlainBM25:
    """bm25s + jieba over "law name + article text", default parameters: the untuned baseline."""

    def __init__(self, index_dir: Path):
        import sqlite3

        import bm25s
        import jieba

        jieba.setLogLevel(60)
        con = sqlite3.connect(index_dir / "laws.sqlite")
        self.rows = con.execute("SELECT law, num, sub, text FROM articles WHERE in_force = 1 ORDER BY id").fetchall()
        con.close()
        self.jieba = jieba
        corpus = [[t for t in jieba.lcut(f"{law} {text}") if t.strip()] for law, _, _, text in self.rows]
        self.ret = bm25s.BM25()
        self.ret.index(corpus, show_progress=False)

    def rank(self, text: str, k: int = 10) -> list[tuple[str, str]]:
        from knowledge.laws import law_key
        from knowledge.numerals import article_label

        q = [t for t in self.jieba.lcut(text) if t.strip()]
        if not q:
            return []
        docs, _ = self.ret.retrieve([q], k=k, show_progress=False)
        out = []
        for i in docs[0]:
            law, num, sub, _ = self.rows[int(i)]
            out.append((law_key(law), article_label(num, sub)))
        return out


# ------------------------------------------------------------------------------ previous release

def previous_rankings(items: list[dict], ref: str, home: Path) -> list[list[tuple[str, str]]]:
    """Run the previous release's `mingbai ask --input/--output` from a git worktree of `ref`."""
    wt = Path(tempfile.mkdtemp(prefix="mingbai-prev-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(wt), ref], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        inp, out = wt / "in.jsonl", wt / "out.jsonl"
        inp.write_text("\n".join(json.dumps({"id": it["id"], "text": it["text"]}, ensure_ascii=False) for it in items),
                       encoding="utf-8")
        env = dict(os.environ, MINGBAI_HOME=str(home), PYTHONPATH=str(wt), OMP_NUM_THREADS="1")
        subprocess.run([sys.executable, "-m", "mingbai.cli", "ask", "--input", str(inp), "--output", str(out)],
                       cwd=wt, env=env, check=True, stdout=subprocess.DEVNULL)
        by = {}
        for line in out.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            by[r["id"]] = [_key(c["law"], c["article"]) for c in r.get("citations") or []]
        return [by.get(it["id"], []) for it in items]
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--home", required=True, help="MINGBAI_HOME whose index holds the whole corpus")
    p.add_argument("--set", default=str(ROOT / "bench" / "corpus" / "heldout.jsonl"))
    p.add_argument("--modes", default="plain,dense,hybrid,previous")
    p.add_argument("--prev-ref", default="d275e05")
    p.add_argument("--prev-home", default=None, help="MINGBAI_HOME for the previous release (default: --home)")
    p.add_argument("--out", default=str(RESULTS / "corpus.md"))
    args = p.parse_args(argv)
    os.environ["MINGBAI_HOME"] = args.home
    from knowledge.search import get_searcher

    items = load_set(Path(args.set))
    modes = args.modes.split(",")
    base_rss = rss_mib()
    searcher = get_searcher(Path(args.home) / "index", auto_build=False)
    cov = {"articles_in_force": int(len(searcher.L.art_ids)),
           "with_vectors": searcher.L.art_vec_count}
    rows: dict[str, dict] = {}
    lat: list[float] = []
    answered = unsure = 0
    if "hybrid" in modes:
        system_ranking(searcher, "热身一下")  # load e5 before timing
        ranks = []
        for it in items:
            t = time.perf_counter()
            r, ans = system_ranking(searcher, it["text"])
            lat.append((time.perf_counter() - t) * 1000)
            ranks.append(r)
            answered += bool(ans["confident"])
            unsure += not ans["confident"]
        rows["hybrid (this release)"] = metrics(ranks, items)
        rows["hybrid (this release)"]["not_sure"] = round(unsure / max(len(items), 1), 4)
    if "dense" in modes:
        rows["dense only (e5)"] = metrics([article_ranking(searcher, it["text"], "dense") for it in items], items)
    rss_after = rss_mib()
    if "plain" in modes:
        t = time.time()
        plain = PlainBM25(Path(args.home) / "index")
        build_s = time.time() - t
        rows["plain BM25 (bm25s + jieba)"] = metrics([plain.rank(it["text"]) for it in items], items)
        rows["plain BM25 (bm25s + jieba)"]["index_s"] = round(build_s, 1)
    if "previous" in modes:
        prev = previous_rankings(items, args.prev_ref, Path(args.prev_home or args.home))
        rows[f"previous release ({args.prev_ref})"] = metrics(prev, items)
        rows[f"previous release ({args.prev_ref})"]["not_sure"] = round(sum(1 for r in prev if not r) / max(len(items), 1), 4)
    report = {"set": str(Path(args.set).relative_to(ROOT)) if Path(args.set).is_relative_to(ROOT) else args.set,
              "n": len(items), "coverage": cov, "rows": rows,
              "latency_ms": ({"p50": round(statistics.median(lat), 1),
                              "p95": round(sorted(lat)[int(0.95 * (len(lat) - 1))], 1)} if lat else None),
              "rss_mib": {"before_load": round(base_rss), "after_queries": round(rss_after)},
              "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores, OMP_NUM_THREADS="
              f"{os.environ.get('OMP_NUM_THREADS', '?')}"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [f"# Whole-corpus article retrieval — {report['set']} ({len(items)} questions)", "",
             f"{report['date']}, {report['machine']}; corpus: {cov['articles_in_force']} articles in force, "
             f"{cov['with_vectors']} with e5 vectors.", "",
             "| method | R@1 | R@3 | R@10 | MRR | not sure |", "|---|---|---|---|---|---|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['R@1']:.3f} | {m['R@3']:.3f} | {m['R@10']:.3f} | {m['MRR']:.3f} | "
                     f"{m.get('not_sure', '')} |")
    if lat:
        lines += ["", f"`ask` latency over the whole corpus (one process, one thread): p50 {report['latency_ms']['p50']} ms, "
                      f"p95 {report['latency_ms']['p95']} ms; RSS {report['rss_mib']['after_queries']} MiB after the queries."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
