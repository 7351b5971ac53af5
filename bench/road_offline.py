"""Offline estimate of routing on a labelled set, for tuning the learned road on a tuning split.

It calls what the gateway calls (bot.road.triage, bot.router.act, bot.road.road) without a running
stack, so a threshold or a training file can be tried in seconds. It skips what only the turn knows
(consent, an open form, Rasa's own replies), so the reported figures come from bench/bench_routing.py
over REST; this is the tuning tool, never the measure.

    .venv-app/bin/python bench/road_offline.py eval/bot/dev3/messages.jsonl [--errors] [--model 0]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_OUTCOME = {"answer": "answer", "out_of_scope": "out_of_scope", "mediation": "intake", "handoff": "handoff",
            "status": "status", "forget": "forget", "forget_confirm": "forget", "greet": "chitchat",
            "thanks": "chitchat", "bye": "chitchat", "identity": "chitchat", "affirm": "chitchat",
            "deny": "chitchat", "cancel": "chitchat"}


def outcome(text: str) -> tuple[str, dict | None]:
    from bot import road, router

    tri = road.triage(text)
    if tri and tri.get("tier") == "danger_now":
        return "emergency", tri
    way = road.road(text, router.act(text))
    return _OUTCOME.get(way or "answer", way or "answer"), tri


def run(path: Path, show_errors: bool = False) -> dict:
    items = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    n = ok = em = hit = non = fa = 0
    for it in items:
        got, tri = outcome(it["text"])
        want = it["outcome"]
        n += 1
        ok += got == want
        if want == "emergency":
            em += 1
            hit += got == "emergency"
        else:
            non += 1
            fa += got == "emergency"
        if show_errors and got != want:
            print(f"{it['id']}\t{want}->{got}\t{(tri or {}).get('kind', '')}\t{it['text'][:80]}")
    r = {"set": str(path), "n": n, "outcome": round(ok / n, 3), "recall": round(hit / em, 3) if em else None,
         "emergencies": em, "false_alarms": fa, "non_emergencies": non, "fa_rate": round(fa / non, 3) if non else None}
    print(json.dumps(r, ensure_ascii=False))
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("sets", nargs="+")
    p.add_argument("--errors", action="store_true")
    p.add_argument("--model", choices=("0", "1"), help="MINGBAI_ROAD_MODEL for this run")
    a = p.parse_args(argv)
    if a.model is not None:
        os.environ["MINGBAI_ROAD_MODEL"] = a.model
    for s in a.sets:
        run(Path(s), a.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
