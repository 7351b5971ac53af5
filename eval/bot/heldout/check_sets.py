"""Sanity checks for the routing evaluation sets (held-out + dev).

Run:  python eval/bot/heldout/check_sets.py
Checks that every line parses, ids are unique, labels are in the allowed
sets, per-set minimums are met, and no text is shared between dev and
held-out. Prints counts per outcome / voice / domain / tier.
Exits non-zero on any failure.
"""
import collections
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]  # eval/bot
HELDOUT = ROOT / "heldout"
DEV = ROOT / "dev"

OUTCOMES = {"emergency", "answer", "intake", "handoff", "status", "forget",
            "chitchat", "out_of_scope"}
DOMAINS = set("婚姻家庭 劳动纠纷 交通事故 债权债务 刑事辩护 合同纠纷 房产纠纷 侵权 公司法 "
              "医疗纠纷 拆迁安置 行政诉讼 建设工程 知识产权 综合咨询 人身损害 涉外法律 "
              "海事海商 消费权益 抵押担保".split())
VOICES = {"plain", "elderly", "dialect", "typo", "traditional", "runon",
          "netizen", "multi", "formal"}
TIERS = {None, "danger_now", "harm_past"}
NULL_DOMAIN = {"chitchat", "out_of_scope", "status", "forget"}
REQUIRED = {"id", "text", "outcome", "domain", "domains", "emergency", "tier",
            "voice", "note"}

errors = []


def err(msg):
    errors.append(msg)


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                err(f"{path.name}:{n}: blank line")
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                err(f"{path.name}:{n}: bad JSON: {e}")
    return rows


def check_row(name, r):
    rid = r.get("id", "?")
    missing = REQUIRED - r.keys()
    if missing:
        err(f"{name}:{rid}: missing {sorted(missing)}")
        return
    if not isinstance(r["text"], str) or not r["text"].strip():
        err(f"{name}:{rid}: empty text")
    if r["outcome"] not in OUTCOMES:
        err(f"{name}:{rid}: bad outcome {r['outcome']}")
    if r["voice"] not in VOICES:
        err(f"{name}:{rid}: bad voice {r['voice']}")
    if r["tier"] not in TIERS:
        err(f"{name}:{rid}: bad tier {r['tier']}")
    doms = r["domains"]
    if not isinstance(doms, list) or any(d not in DOMAINS for d in doms):
        err(f"{name}:{rid}: bad domains {doms}")
    if len(set(doms)) != len(doms):
        err(f"{name}:{rid}: duplicate domains")
    if r["domain"] is None:
        if doms:
            err(f"{name}:{rid}: domain null but domains {doms}")
        if r["outcome"] not in NULL_DOMAIN | {"handoff"}:
            err(f"{name}:{rid}: {r['outcome']} needs a domain")
    else:
        if r["domain"] not in DOMAINS:
            err(f"{name}:{rid}: bad domain {r['domain']}")
        if not doms or doms[0] != r["domain"]:
            err(f"{name}:{rid}: domain must be domains[0]")
        if r["outcome"] in NULL_DOMAIN:
            err(f"{name}:{rid}: {r['outcome']} must have null domain")
    is_em = r["outcome"] == "emergency"
    if r["emergency"] is not is_em:
        err(f"{name}:{rid}: emergency flag inconsistent with outcome")
    if is_em != (r["tier"] == "danger_now"):
        err(f"{name}:{rid}: tier danger_now iff emergency")
    if r["tier"] == "harm_past" and r["outcome"] not in {"answer", "intake", "handoff"}:
        err(f"{name}:{rid}: harm_past on {r['outcome']}")
    if "hard" in r and not isinstance(r["hard"], bool):
        err(f"{name}:{rid}: hard must be bool")
    if r.get("hard") and is_em:
        err(f"{name}:{rid}: hard is for non-emergencies")


def report(name, rows):
    print(f"\n== {name}: {len(rows)} rows")
    for key in ("outcome", "voice", "tier"):
        c = collections.Counter(str(r[key]) for r in rows)
        print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in c.most_common()))
    c = collections.Counter(str(r["domain"]) for r in rows)
    print("  domain: " + ", ".join(f"{k}={v}" for k, v in c.most_common()))
    multi = sum(1 for r in rows if len(r["domains"]) > 1)
    hard = sum(1 for r in rows if r.get("hard"))
    print(f"  multi-domain={multi}  hard_non_emergency={hard}")
    lens = sorted(len(r["text"]) for r in rows)
    print(f"  text length min={lens[0]} median={lens[len(lens)//2]} max={lens[-1]}")


def main():
    sets = {
        "heldout/messages.jsonl": HELDOUT / "messages.jsonl",
        "heldout/consultations.jsonl": HELDOUT / "consultations.jsonl",
        "dev/messages.jsonl": DEV / "messages.jsonl",
    }
    data = {}
    for name, path in sets.items():
        if not path.exists():
            err(f"missing file {path}")
            continue
        data[name] = load(path)
        for r in data[name]:
            check_row(name, r)

    all_ids = collections.Counter(r.get("id") for rows in data.values() for r in rows)
    for i, n in all_ids.items():
        if n > 1:
            err(f"duplicate id {i} ({n}x)")

    def norm(t):
        return "".join(ch for ch in t if ch.isalnum())

    for name, rows in data.items():
        seen = collections.Counter(norm(r["text"]) for r in rows)
        for t, n in seen.items():
            if n > 1:
                err(f"{name}: duplicate text {t[:30]}")

    held_texts = {norm(r["text"]) for k, rows in data.items() if k.startswith("heldout") for r in rows}
    for r in data.get("dev/messages.jsonl", []):
        if norm(r["text"]) in held_texts:
            err(f"dev text also in heldout: {r['id']} {r['text'][:30]}")

    # near-duplicates: character-bigram Jaccard between every dev text and
    # every held-out text; >= 0.6 fails, >= 0.4 is printed as a warning.
    def bigrams(t):
        t = norm(t)
        return {t[i:i + 2] for i in range(len(t) - 1)} or {t}

    held_bg = [(r["id"], bigrams(r["text"])) for k, rows in data.items()
               if k.startswith("heldout") for r in rows]
    for r in data.get("dev/messages.jsonl", []):
        b = bigrams(r["text"])
        sim, hid = max(((len(b & x) / len(b | x), i) for i, x in held_bg), default=(0, None))
        if sim >= 0.6:
            err(f"dev {r['id']} near-duplicate of heldout {hid} (jaccard {sim:.2f})")
        elif sim >= 0.4:
            print(f"warning: dev {r['id']} similar to heldout {hid} (jaccard {sim:.2f})")

    msgs = data.get("heldout/messages.jsonl", [])
    oc = collections.Counter(r["outcome"] for r in msgs)
    if len(msgs) < 340:
        err(f"heldout messages: {len(msgs)} < 340")
    if oc["emergency"] < 70:
        err(f"heldout messages: emergencies {oc['emergency']} < 70")
    hard = sum(1 for r in msgs if r.get("hard") and r["outcome"] != "emergency")
    if hard < 110:
        err(f"heldout messages: hard non-emergencies {hard} < 110")

    cons = data.get("heldout/consultations.jsonl", [])
    if len(cons) < 70:
        err(f"consultations: {len(cons)} < 70")
    for r in cons:
        if not 120 <= len(r["text"]) <= 400:
            err(f"consultation {r['id']}: length {len(r['text'])} outside 120-400")

    dev = data.get("dev/messages.jsonl", [])
    if not 140 <= len(dev) <= 200:
        err(f"dev messages: {len(dev)} not about 160")

    for name, rows in data.items():
        report(name, rows)

    if errors:
        print(f"\nFAIL: {len(errors)} problem(s)")
        for e in errors[:200]:
            print("  -", e)
        sys.exit(1)
    print("\nOK")


if __name__ == "__main__":
    main()
