"""Run in the Rasa runtime: parse each {"id","text"} line of a JSONL file with a trained model.

usage: .venv-rasa/bin/python bench/rasa/parse_jsonl.py MODEL.tar.gz IN.jsonl OUT.jsonl
"""
import asyncio
import json
import sys
import time


async def main(model: str, src: str, dst: str) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    rows = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
    with open(dst, "w", encoding="utf-8") as out:
        for r in rows:
            t = time.perf_counter()
            p = await agent.parse_message(r["text"])
            ms = (time.perf_counter() - t) * 1000
            out.write(json.dumps({"id": r.get("id"), "intent": (p.get("intent") or {}).get("name"),
                                  "confidence": (p.get("intent") or {}).get("confidence"), "ms": round(ms, 2)},
                                 ensure_ascii=False) + "\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
