#!/usr/bin/env python3
"""Validate the whole-corpus retrieval evaluation sets (bench/corpus/*.jsonl).

Every gold (law, article) must exist in the statute corpus AND be in the version in force
(the latest version file of that law), with the law named exactly as knowledge/laws.py names it
(clean_law_name of the file name: no 中华人民共和国; the 民法典 as one law "民法典").
Also checks the line format (ids, voice, domain, 1-3 gold), duplicate questions, article numbers
leaking into questions, and reports gold articles shared between heldout and dev.

    python bench/corpus/check_gold.py                      # both files
    python bench/corpus/check_gold.py bench/corpus/dev.jsonl --laws /work/shared/laws

Exit status 1 (and a list of the bad lines) when anything is wrong; prints counts per law / voice.
Only needs the standard library and knowledge/laws.py (+ knowledge/numerals.py).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.laws import law_key, parse_dir, resolve_versions  # noqa: E402
from knowledge.numerals import article_label, parse_article  # noqa: E402

DEFAULT_FILES = [HERE / "heldout.jsonl", HERE / "dev.jsonl"]
DEFAULT_LAWS = os.environ.get("MINGBAI_LAWS_DIR", "/work/shared/laws")

VOICES = ("plain", "elderly", "dialect", "typo", "traditional", "runon", "netizen", "multi", "formal")
DOMAINS = ("婚姻家庭 劳动纠纷 交通事故 债权债务 刑事辩护 合同纠纷 房产纠纷 侵权 公司法 医疗纠纷 拆迁安置 "
           "行政诉讼 建设工程 知识产权 综合咨询 人身损害 涉外法律 海事海商 消费权益 抵押担保").split()
ID_RE = re.compile(r"^[hdf]\d{3,}$")  # h held-out, d dev, f dev2
# An article number written out in a question ("第1079条", "第一千零七十九条", "1079条") is a leak.
ARTICLE_IN_TEXT = re.compile(r"第\s*[0-9零〇一二三四五六七八九十百千两]+\s*条|[0-9]{2,4}\s*条")
# Loose "names a law" detector, only for the reported rate (the sets keep it under 10%).
LAW_MENTION = re.compile(r"民法典|[\u4e00-\u9fff]{1,8}法(?:里|上|规定|第|说)|条例|司法解释|消法")


def load_corpus(laws_dir: Path):
    """(law -> {article label -> in_force}, law_key -> law name) from the project parser."""
    t0 = time.time()
    arts = resolve_versions(parse_dir(laws_dir))
    status: dict[str, dict[str, bool]] = collections.defaultdict(dict)
    for a in arts:
        cur = status[a.law]
        cur[a.article] = cur.get(a.article, False) or a.in_force
    keys = {law_key(name): name for name in status}
    print(f"corpus: {len(arts)} articles, {len(status)} laws parsed from {laws_dir} in {time.time() - t0:.1f}s")
    return status, keys


def check_gold(g, status, keys) -> str | None:
    """None when the gold is fine, else a reason."""
    if not isinstance(g, dict) or set(g) != {"law", "article"}:
        return f"gold must be {{law, article}}: {g!r}"
    law, art = g["law"], g["article"]
    if law not in status:
        alt = keys.get(law_key(law))
        return f"law {law!r} not in corpus" + (f" (name it {alt!r})" if alt else "")
    try:
        num, sub = parse_article(art)
    except ValueError:
        return f"bad article label {art!r}"
    if article_label(num, sub) != art:
        return f"article label {art!r} should be written {article_label(num, sub)!r}"
    if art not in status[law]:
        return f"{law} {art} does not exist"
    if not status[law][art]:
        return f"{law} {art} exists only in a superseded version (not in the version in force)"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="jsonl files (default: heldout.jsonl dev.jsonl)")
    ap.add_argument("--laws", type=Path, default=Path(DEFAULT_LAWS), help="statute corpus root")
    ap.add_argument("--top", type=int, default=40, help="how many laws to list per file")
    args = ap.parse_args(argv)
    files = args.files or DEFAULT_FILES

    status, keys = load_corpus(args.laws)
    errors: list[str] = []
    seen_ids: set[str] = set()
    seen_text: dict[str, str] = {}
    gold_by_file: dict[str, set[tuple[str, str]]] = {}

    for path in files:
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: not JSON ({e})")
                continue
            missing = {"id", "text", "gold", "voice", "domain"} - set(r)
            if missing:
                errors.append(f"{where}: missing {sorted(missing)}")
                continue
            where = f"{path.name}:{n} {r['id']}"
            if not ID_RE.match(str(r["id"])) or r["id"] in seen_ids:
                errors.append(f"{where}: bad or duplicate id")
            seen_ids.add(r["id"])
            text = str(r["text"]).strip()
            if not text:
                errors.append(f"{where}: empty text")
            if ARTICLE_IN_TEXT.search(text):
                errors.append(f"{where}: question gives an article number: {text}")
            norm = re.sub(r"\W", "", text)
            if norm in seen_text:
                errors.append(f"{where}: duplicate of {seen_text[norm]}")
            seen_text[norm] = where
            if r["voice"] not in VOICES:
                errors.append(f"{where}: voice {r['voice']!r} not one of {VOICES}")
            if r["domain"] not in DOMAINS:
                errors.append(f"{where}: domain {r['domain']!r} not allowed")
            gold = r["gold"]
            if not isinstance(gold, list) or not 1 <= len(gold) <= 3:
                errors.append(f"{where}: gold must be a list of 1-3 articles")
                gold = gold if isinstance(gold, list) else []
            pairs = []
            for g in gold:
                why = check_gold(g, status, keys)
                if why:
                    errors.append(f"{where}: {why}")
                else:
                    pairs.append((g["law"], g["article"]))
            if len(set(pairs)) != len(pairs):
                errors.append(f"{where}: repeated gold article")
            rows.append((r, pairs))
        gold_by_file[path.name] = {p for _, ps in rows for p in ps}

        # ---- report
        print(f"\n== {path.name}: {len(rows)} questions, "
              f"{len({ps[0][0] for _, ps in rows if ps})} laws as first gold, "
              f"{len(gold_by_file[path.name])} distinct gold articles")
        voices = collections.Counter(r["voice"] for r, _ in rows)
        print("per voice:  " + "  ".join(f"{v} {voices.get(v, 0)}" for v in VOICES))
        doms = collections.Counter(r["domain"] for r, _ in rows)
        print("per domain: " + "  ".join(f"{d} {c}" for d, c in doms.most_common()))
        laws = collections.Counter(ps[0][0] for _, ps in rows if ps)
        print(f"per law (first gold, top {args.top}):")
        for law, c in laws.most_common(args.top):
            print(f"  {c:4d}  {law}")
        if len(laws) > args.top:
            rest = laws.most_common()[args.top:]
            print(f"  {sum(c for _, c in rest):4d}  ... {len(rest)} more laws")
        named = sum(1 for r, _ in rows if LAW_MENTION.search(r["text"]))
        print(f"questions naming a law (loose match): {named} ({named / max(1, len(rows)):.1%})")

    if len(gold_by_file) > 1:
        names = list(gold_by_file)
        shared = set.intersection(*gold_by_file.values())
        print(f"\ngold articles shared by {' & '.join(names)}: {len(shared)}")
        for law, art in sorted(shared):
            print(f"  {law} {art}")

    if errors:
        print(f"\nFAIL: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: every gold article exists in the version in force")
    return 0


if __name__ == "__main__":
    sys.exit(main())
