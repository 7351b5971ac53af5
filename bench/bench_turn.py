"""Turn latency through the gateway: one resident, 30 turns over the REST channel of a running stack.

bench_bot.py times Rasa alone; this times what a resident waits for — dedup, consent, triage and the
road (bot.road), Rasa and the knowledge base — by POSTing to /api/v1/messages. Compare releases or
settings by restarting the stack between runs (e.g. MINGBAI_ROAD_MODEL=0 for the rules alone).

    .venv-app/bin/python bench/bench_turn.py [--web http://127.0.0.1:8000] [--turns 30]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

TEXTS = ["你好", "同意", "老板拖欠三个月工资怎么办", "没签劳动合同能要双倍工资吗", "邻居家空调滴水到我家阳台",
         "离婚后孩子抚养费不给怎么办", "谢谢", "我上个月被电动车撞了对方不赔", "宅基地边界跟邻居有争议", "网购的衣服商家不给退"]


def run(web: str, token: str, turns: int) -> list[float]:
    import requests

    s = requests.Session()
    s.trust_env = False
    sender, lat = f"bench-turn-{uuid.uuid4().hex[:8]}", []
    for i in range(turns):
        t = time.perf_counter()
        r = s.post(f"{web}/api/v1/messages", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                   json={"sender": sender, "text": TEXTS[i % len(TEXTS)], "channel": "cli", "msg_id": uuid.uuid4().hex})
        r.raise_for_status()
        lat.append((time.perf_counter() - t) * 1000)
    return sorted(lat)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--web", default="http://127.0.0.1:8000")
    p.add_argument("--turns", type=int, default=30)
    a = p.parse_args(argv)
    home = Path(os.environ.get("MINGBAI_HOME", Path(__file__).resolve().parent.parent / "var"))
    token = (home / ".api_token").read_text(encoding="utf-8").strip()
    run(a.web, token, 5)  # warm-up
    lat = run(a.web, token, a.turns)
    print(json.dumps({"turns": len(lat), "p50_ms": round(statistics.median(lat), 1),
                      "p95_ms": round(lat[max(0, int(len(lat) * 0.95) - 1)], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
