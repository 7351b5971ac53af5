"""Leave-one-split-out for the learned road: each tuning split routed by a model fitted without it.

A change to the road model (its features, its heads, its examples) or to bot.road's thresholds is
chosen here, on the splits that are training material (eval/bot/dev6 …) plus the current tuning split,
each read by a model that never saw it — so no split scores its own examples. The held-out sets are
never read. Like bench/road_offline.py it skips what only a turn knows (consent, an open form); the
reported figures come from bench/bench_routing.py over REST.

    .venv-app/bin/python bench/road_loso.py [--splits dev6,…,dev11] [--errors]
        [--set P_DANGER=0.65 …] [--C-danger 8]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_SPLITS = "dev6,dev7,dev8,dev9,dev10,dev11"  # the folded splits since session 10 and the tuning split


def split_path(name: str) -> Path:
    return ROOT / "eval" / "bot" / name / "messages.jsonl"


def fit_without(held: Path, extra: list[Path], **opts):
    """The road model fitted on every example except `held`'s rows (and with `extra` splits added)."""
    from bot import road_model, training_splits
    from bot.classifier import embed, normalize_text

    saved = list(training_splits.PATHS)
    try:
        training_splits.PATHS[:] = [p for p in saved + extra if p != held]
        rows = road_model.examples()
    finally:
        training_splits.PATHS[:] = saved
    emb = embed([normalize_text(t) for t, _ in rows], cache=False)
    kinds = road_model.kind_examples()
    k_emb = embed([normalize_text(t) for t, _ in kinds], cache=False)
    return road_model.RoadModel(**opts).fit([t for t, _ in rows], [y for _, y in rows], emb,
                                            kinds=([t for t, _ in kinds], [k for _, k in kinds], k_emb))


def features(text: str) -> dict:
    """What bot.road.triage weighs for one message: the model's three votes, the rules' call and the frames
    (computed again beside the routing: --dump only, so that thresholds can be swept without a refit)."""
    from bot import emergency, road

    tri = emergency.triage(text) or {}
    whole, part, last = road.danger(text) if road._readable(text) else (0.0, 0.0, 0.0)
    plain = emergency.normalize(text)
    return {"whole": whole, "part": part, "last": last, "tier": tri.get("tier"), "kind": tri.get("kind"),
            "resolved": bool(road._RESOLVED.search(plain)), "fiction": bool(road._FICTION.search(plain)),
            "readable": road._readable(text)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--splits", default=DEFAULT_SPLITS)
    p.add_argument("--errors", action="store_true", help="print each wrong alarm and each missed emergency")
    p.add_argument("--set", action="append", default=[], help="bot.road NAME=VALUE for this run")
    p.add_argument("--C-danger", type=float, default=None)
    p.add_argument("--dump", help="write each message's danger features (JSON lines) here, to try decisions offline")
    a = p.parse_args(argv)

    from bot import road, road_model, training_splits

    import road_offline

    for kv in a.set:
        k, v = kv.split("=", 1)
        setattr(road, k, float(v))
    opts = {"C_danger": a.C_danger} if a.C_danger else {}
    names = [s.strip() for s in a.splits.split(",") if s.strip()]
    paths = [split_path(n) for n in names]
    extra = [q for q in paths if q not in training_splits.PATHS]
    dump = open(a.dump, "w", encoding="utf-8") if a.dump else None
    tot = dict.fromkeys(("n", "ok", "em", "hit", "non", "fa"), 0)
    for name, path in zip(names, paths):
        road_model._model = fit_without(path, extra, **opts)

        def each(it, got, tri, name=name):
            want = it["outcome"]
            if dump:
                dump.write(json.dumps(dict(features(it["text"]), id=it["id"], split=name, want=want, got=got),
                                      ensure_ascii=False) + "\n")
            if a.errors and got != want and "emergency" in (got, want):
                print(f"  {it['id']}\t{want}->{got}\t{(tri or {}).get('kind', '')}\t{it['text'][:90]}")

        c = road_offline.tally(road_offline.read(path), each)
        print(json.dumps({"split": name, "outcome": round(c["ok"] / c["n"], 3), "emergencies": f"{c['hit']}/{c['em']}",
                          "false_alarms": f"{c['fa']}/{c['non']}"}, ensure_ascii=False), flush=True)
        for k in tot:
            tot[k] += c[k]
    print(json.dumps({"all": True, "outcome": f"{tot['ok']}/{tot['n']}", "emergencies": f"{tot['hit']}/{tot['em']}",
                      "false_alarms": f"{tot['fa']}/{tot['non']}"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
