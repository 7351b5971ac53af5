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


def tally(items: list[dict], each=None) -> dict:
    """Route each labelled message; count outcome right, emergencies found, false alarms.
    each(item, got, tri) is called for every message (to print errors or keep features)."""
    c = {"n": 0, "ok": 0, "em": 0, "hit": 0, "non": 0, "fa": 0}
    for it in items:
        got, tri = outcome(it["text"])
        want = it["outcome"]
        c["n"] += 1
        c["ok"] += got == want
        side = "em" if want == "emergency" else "non"
        c[side] += 1
        c["hit" if side == "em" else "fa"] += got == "emergency"
        if each:
            each(it, got, tri)
    return c


def read(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def run(path: Path, show_errors: bool = False) -> dict:
    def error(it, got, tri):
        if got != it["outcome"]:
            print(f"{it['id']}\t{it['outcome']}->{got}\t{(tri or {}).get('kind', '')}\t{it['text'][:80]}")

    c = tally(read(path), error if show_errors else None)
    n, em, non = c["n"], c["em"], c["non"]
    r = {"set": str(path), "n": n, "outcome": round(c["ok"] / n, 3), "recall": round(c["hit"] / em, 3) if em else None,
         "emergencies": em, "false_alarms": c["fa"], "non_emergencies": non,
         "fa_rate": round(c["fa"] / non, 3) if non else None}
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
