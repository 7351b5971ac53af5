"""Message routing end to end: outcome accuracy, emergency recall / false alarms, domain accuracy.

Each message is sent by a new resident through a running stack's REST channel (`mingbai converse`:
dedup → consent → triage → handoff → router → Rasa/knowledge), so the outcome is what a resident
really gets. Runs this release and, when given, the previous release side by side:

  .venv-app/bin/python bench/bench_routing.py --web http://127.0.0.1:8000 [--prev-web URL --prev-root DIR
        --prev-home DIR] [--sets eval/bot/heldout/messages.jsonl,eval/bot/heldout/consultations.jsonl]

The previous release is driven with its own `mingbai converse` (from a git worktree) against its own
stack. Held-out sets (eval/bot/heldout) were written before the rules were tuned and are never read by
rules, training data or the emergency example bank; eval/bot/dev is the tuning split.
Label "forget" counts as the release's outcome for 删除我的信息 ("status", as the README documents).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SAME = {"forget": {"forget", "status"}}


def load(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def converse(root: Path, home: str | None, web: str, items: list[dict], env_extra: dict | None = None) -> list[dict]:
    """Run `mingbai converse` of the code in `root` against the stack at `web`."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        inp.write_text("\n".join(json.dumps({"id": it["id"], "text": it["text"]}, ensure_ascii=False) for it in items),
                       encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(root), **(env_extra or {}))
        if home:
            env["MINGBAI_HOME"] = home
        subprocess.run([sys.executable, "-m", "mingbai.cli", "converse", "--input", str(inp), "--output", str(out),
                        "--web-url", web], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
        outs = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines() if l.strip()]
        keep = Path(os.environ.get("BENCH_ROUTING_KEEP", "")) if os.environ.get("BENCH_ROUTING_KEEP") else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{root.name}-{len(items)}.jsonl").write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
        return outs


def score(items: list[dict], outs: list[dict]) -> dict:
    by = {o.get("id"): o for o in outs}
    n = ok = dom_n = dom_ok = errors = 0
    em_n = em_hit = non_n = false_alarm = hard_n = hard_ok = 0
    for it in items:
        o = by.get(it["id"]) or {}
        got = o.get("outcome")
        errors += bool(o.get("error"))
        want = it["outcome"]
        n += 1
        ok += got in SAME.get(want, {want})
        if it.get("emergency"):
            em_n += 1
            em_hit += got == "emergency"
        else:
            non_n += 1
            false_alarm += got == "emergency"
            if it.get("hard"):
                hard_n += 1
                hard_ok += got in SAME.get(want, {want})
        if it.get("domain") and want in ("answer", "intake"):
            dom_n += 1
            gold = set(it.get("domains") or [it["domain"]])
            dom_ok += o.get("domain") in gold
    r = lambda a, b: round(a / b, 4) if b else None
    return {"n": n, "outcome_acc": r(ok, n), "emergency_recall": r(em_hit, em_n), "emergencies": em_n,
            "false_alarm_rate": r(false_alarm, non_n), "false_alarms": false_alarm, "non_emergencies": non_n,
            "hard_non_emergency_acc": r(hard_ok, hard_n), "domain_acc": r(dom_ok, dom_n), "domain_n": dom_n,
            "errors": errors}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--web", required=True)
    p.add_argument("--prev-web")
    p.add_argument("--prev-root")
    p.add_argument("--prev-home")
    p.add_argument("--sets", default="eval/bot/heldout/messages.jsonl,eval/bot/heldout/consultations.jsonl,"
                                     "eval/bot/dev/messages.jsonl")
    p.add_argument("--out", default=str(RESULTS / "routing.md"))
    args = p.parse_args(argv)
    rows = []
    for rel in args.sets.split(","):
        items = load(ROOT / rel)
        t = time.time()
        cur = score(items, converse(ROOT, os.environ.get("MINGBAI_HOME"), args.web, items))
        cur["seconds"] = round(time.time() - t, 1)
        rows.append((rel, "this release", cur))
        if args.prev_web and args.prev_root:
            prev = score(items, converse(Path(args.prev_root), args.prev_home, args.prev_web, items))
            rows.append((rel, "previous release", prev))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "rows": [{"set": s, "release": r, **m} for s, r, m in rows]}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [f"# Routing end to end ({report['date']}, through the REST channel of a running stack)", "",
             "| set | release | n | outcome acc | emergency recall | false alarms | hard non-emergencies right | domain acc |",
             "|---|---|---|---|---|---|---|---|"]
    for s, r, m in rows:
        lines.append(f"| {s} | {r} | {m['n']} | {m['outcome_acc']} | {m['emergency_recall']} ({m['emergencies']}) | "
                     f"{m['false_alarms']}/{m['non_emergencies']} ({m['false_alarm_rate']}) | {m['hard_non_emergency_acc']} | "
                     f"{m['domain_acc']} ({m['domain_n']}) |")
    lines += ["", "eval/bot/dev was the tuning split (rules and thresholds were adjusted on it); eval/bot/heldout was "
                  "written before tuning and never used for it."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
