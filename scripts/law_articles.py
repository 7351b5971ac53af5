"""Print the in-force articles of shipped laws, for people writing knowledge/asked/ questions.

    python3 scripts/law_articles.py --list                 # law names (as knowledge/laws.py names them) + counts
    python3 scripts/law_articles.py 劳动合同法 [--from 1 --to 40]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.laws import law_key, load_articles  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("law", nargs="?")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--from", dest="lo", type=int, default=0)
    ap.add_argument("--to", dest="hi", type=int, default=10**6)
    a = ap.parse_args()
    arts = [x for x in load_articles() if x.in_force]
    if a.list or not a.law:
        counts: dict[str, int] = {}
        for x in arts:
            counts[x.law] = counts.get(x.law, 0) + 1
        for law, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"{n:5d}  {law}")
        return
    key = law_key(a.law)
    chapter = None
    for x in arts:
        if law_key(x.law) != key or not (a.lo <= x.num <= a.hi):
            continue
        place = " ".join(p for p in (x.book, x.chapter, x.section) if p)
        if place != chapter:
            print(f"\n## {place}")
            chapter = place
        print(f"{x.article}  {x.text}")


if __name__ == "__main__":
    main()
