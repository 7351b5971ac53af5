"""`mingbai classify --input IN.jsonl --output OUT.jsonl`.

Input lines: {"id", "text"}. Output lines: {"id", "domain", "subtype", "confidence", "intent"}.
The intent comes from the running Rasa server (POST /model/parse); when Rasa is down it is null
and a warning is printed once.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from concurrent.futures import ThreadPoolExecutor

from mingbai.jsonl import iter_jsonl

log = logging.getLogger(__name__)
BATCH = 64


def _intents(texts: list[str]) -> list:
    from bot import rasa_client

    if not texts:
        return []
    if not rasa_client.is_up():
        log.warning("Rasa 没有运行 (%s)：intent 为 null", _base())
        return [None] * len(texts)

    def one(t: str):
        try:
            return ((rasa_client.parse(t).get("intent") or {}).get("name")) or None
        except rasa_client.RasaUnavailable:
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, texts))


def _base() -> str:
    from mingbai.settings import get_settings

    return get_settings().rasa_base_url


def classify_items(items: list[dict], with_intent: bool = True) -> list[dict]:
    from bot.classifier import classify_many

    texts = [i.get("text") if isinstance(i.get("text"), str) else "" for i in items]
    out: list[dict] = []
    for start in range(0, len(texts), BATCH):
        out += classify_many(texts[start:start + BATCH])
    intents = _intents(texts) if with_intent else [None] * len(texts)
    return [{"id": item.get("id"), "domain": r["domain"], "subtype": r["subtype"],
             "confidence": r["confidence"], "intent": intent}
            for item, r, intent in zip(items, out, intents)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai classify", description="纠纷分类：领域、细类、置信度、意图")
    parser.add_argument("--input", required=True, help="JSONL，每行 {\"id\", \"text\"}")
    parser.add_argument("--output", required=True, help="JSONL，每行 {\"id\", \"domain\", \"subtype\", \"confidence\", \"intent\"}")
    parser.add_argument("--no-intent", action="store_true", help="不向 Rasa 查询意图")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    items = []
    for n, row, error in iter_jsonl(args.input):
        if error:
            print(error, file=sys.stderr)
            return 2
        items.append({"id": row.get("id", n), "text": row.get("text") or ""})
    results = classify_items(items, with_intent=not args.no_intent)
    with open(args.output, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"已分类 {len(results)} 条 -> {args.output}", file=sys.stderr)
    return 0
