"""Rasa's own ResponseSelector trained on the same curated Q&A — what a Rasa user would pick.

Runs in the Rasa environment:  .venv-rasa/bin/python bench/rasa_response_selector.py [--epochs 40]
Trains on every served entry's question + paraphrases (retrieval intent faq/<entry id>), tests on
eval/knowledge/*.jsonl (questions with an expected entry), and writes
bench/results/rasa_response_selector.json, which bench/bench_knowledge.py puts in its table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "rasa_response_selector.json"


def entries() -> list[dict]:
    served = set(os.environ.get("MINGBAI_KB_STATUSES", "reviewed,published").split(","))
    out = []
    for f in sorted((ROOT / "knowledge" / "qa").glob("*.yml")):
        for e in yaml.safe_load(f.read_text(encoding="utf-8")) or []:
            if str(e.get("status", "draft")) in served:
                out.append(e)
    return out


def dev() -> list[dict]:
    items = []
    for f in sorted((ROOT / "eval" / "knowledge").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                if d.get("expected_entry"):
                    items.append(d)
    return items


def _q(s: str) -> str:
    return s.replace("\n", " ").strip()


def write_data(tmp: Path, es: list[dict], epochs: int) -> None:
    lines = ['version: "3.1"', "nlu:"]
    for e in es:
        lines.append(f"- intent: faq/{e['id']}")
        lines.append("  examples: |")
        for t in [e["question"], *(e.get("paraphrases") or [])]:
            lines.append(f"    - {_q(str(t))}")
    # A second intent keeps Rasa's validation happy; no intent classifier is trained (not needed here).
    lines += ["- intent: greet", "  examples: |"] + [f"    - {g}" for g in ["你好", "您好", "在吗", "早上好", "喂"]]
    lines.append("responses:")
    for e in es:
        lines.append(f"  utter_faq/{e['id']}:")
        lines.append(f"  - text: {json.dumps(_q(e['answer']), ensure_ascii=False)}")
    (tmp / "nlu.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "domain.yml").write_text('version: "3.1"\nintents:\n  - faq\n  - greet\n', encoding="utf-8")
    cfg = {
        "recipe": "default.v1", "language": "zh", "assistant_id": "kb-bench",
        "pipeline": [
            {"name": "JiebaTokenizer", "dictionary_path": str(ROOT / "knowledge" / "dict")},
            {"name": "CountVectorsFeaturizer", "analyzer": "word"},
            {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
            {"name": "ResponseSelector", "retrieval_intent": "faq", "epochs": epochs, "random_seed": 42},
        ],
        "policies": [],
    }
    (tmp / "config.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")


async def evaluate(model: Path, items: list[dict]) -> dict:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    h1 = h5 = 0
    rr = 0.0
    lat = []
    for it in items:
        t = time.perf_counter()
        parsed = await agent.parse_message(it["text"])
        lat.append((time.perf_counter() - t) * 1000)
        ranking = ((parsed.get("response_selector") or {}).get("faq") or {}).get("ranking") or []
        ids = [r.get("intent_response_key", "").split("/", 1)[-1] for r in ranking]
        if it["expected_entry"] in ids:
            rank = ids.index(it["expected_entry"]) + 1
            h1 += rank == 1
            h5 += rank <= 5
            rr += 1 / rank
    n = len(items)
    lat.sort()
    return {"hit@1": h1 / n, "hit@5": h5 / n, "mrr": rr / n, "n": n, "p50_ms": lat[n // 2]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40, help="Rasa's default is 100; 40 to fit a 2-core machine")
    args = ap.parse_args()
    es, items = entries(), dev()
    with tempfile.TemporaryDirectory(prefix="rasa-rs-") as d:
        tmp = Path(d)
        write_data(tmp, es, args.epochs)
        t = time.time()
        rasa = Path(sys.executable).parent / "rasa"
        subprocess.run([str(rasa), "train", "nlu", "--config", str(tmp / "config.yml"), "--nlu", str(tmp / "nlu.yml"),
                        "--domain", str(tmp / "domain.yml"), "--out", str(tmp / "models"), "--fixed-model-name", "rs"],
                       check=True, cwd=tmp)
        train_s = time.time() - t
        res = asyncio.run(evaluate(tmp / "models" / "rs.tar.gz", items))
    res.update(train_seconds=round(train_s, 1), epochs=args.epochs, entries=len(es),
               note=f"Rasa ResponseSelector (retrieval intent faq, {args.epochs} epochs, jieba + word/char count "
                    f"vectors), trained on the same {len(es)} entries' questions+paraphrases")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(res, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
