"""What residents ask that a statute article answers: knowledge/asked/*.yml.

Each file is a list of `{law, article, asked: [question, …]}`, written from the statute text alone
(never from an evaluation set). Retrieval indexes the questions as one more field of their
article (lexical), so a resident's words (老板, 欠条, 彩礼) meet the article's legal ones (用人单位,
借款, 婚约财产) — the doc2query idea, with people instead of a model writing the questions.
`validate()` is what the content test and writers run:

    python3 -m knowledge.asked [FILE …]
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from knowledge.laws import Article, law_key, load_articles

ASKED_DIR = Path(__file__).resolve().parent / "asked"
_ART_NUM = re.compile(r"第[一二三四五六七八九十百千零〇两0-9]+条")
MIN_LEN, MAX_LEN, MAX_PER_ARTICLE = 6, 90, 6
VERBATIM = 12  # a question sharing this many consecutive characters with the article pasted it


@dataclass(frozen=True)
class Asked:
    law: str
    article: str
    questions: tuple[str, ...]
    source: str


def load(paths: list[Path] | None = None) -> list[Asked]:
    import yaml

    out: list[Asked] = []
    for p in paths or sorted(ASKED_DIR.glob("*.yml")):
        rows = yaml.safe_load(Path(p).read_text(encoding="utf-8")) or []
        for r in rows:
            if isinstance(r, dict):
                qs = tuple(str(q).strip() for q in (r.get("asked") or []) if str(q).strip())
                out.append(Asked(str(r.get("law", "")), str(r.get("article", "")), qs, Path(p).name))
    return out


def _shares_run(q: str, text: str, n: int = VERBATIM) -> bool:
    q = re.sub(r"\s", "", q)
    return any(q[i:i + n] in text for i in range(0, max(len(q) - n + 1, 0)))


def validate(items: list[Asked], articles: list[Article] | None = None) -> list[str]:
    """Problems, one line each: unknown or out-of-force article, bad length, pasted text, duplicates."""
    arts = articles if articles is not None else load_articles()
    by = {(law_key(a.law), a.article): a for a in arts if a.in_force}
    errors: list[str] = []
    seen_art: set[tuple[str, str]] = set()
    seen_q: set[str] = set()
    for it in items:
        where = f"{it.source}: {it.law} {it.article}"
        a = by.get((law_key(it.law), it.article))
        if a is None:
            errors.append(f"{where}: no such article in force")
            continue
        if (law_key(it.law), it.article) in seen_art:
            errors.append(f"{where}: article listed twice")
        seen_art.add((law_key(it.law), it.article))
        if not 1 <= len(it.questions) <= MAX_PER_ARTICLE:
            errors.append(f"{where}: {len(it.questions)} questions (1–{MAX_PER_ARTICLE})")
        for q in it.questions:
            if not MIN_LEN <= len(q) <= MAX_LEN:
                errors.append(f"{where}: length {len(q)}: {q}")
            if _ART_NUM.search(q):
                errors.append(f"{where}: names an article number: {q}")
            if _shares_run(q, a.text):
                errors.append(f"{where}: copies the article's words: {q}")
            if q in seen_q:
                errors.append(f"{where}: duplicate question: {q}")
            seen_q.add(q)
    return errors


if __name__ == "__main__":
    files = [Path(x) for x in sys.argv[1:]] or None
    rows = load(files)
    errs = validate(rows)
    print("\n".join(errs) if errs else "ok")
    print(f"{len(rows)} articles, {sum(len(r.questions) for r in rows)} questions, {len(errs)} problems")
    sys.exit(1 if errs else 0)
