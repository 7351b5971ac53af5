"""调解协议书 draft: the items of 人民调解法 第二十九条, quoted verbatim from the statute corpus."""
from __future__ import annotations

import re
from functools import lru_cache

from mingbai.settings import PROJECT_ROOT

LAW_GLOB = "knowledge/statutes/诉讼与非诉讼程序法/人民调解法*.md"
_ARTICLE = re.compile(r"^第[一二三四五六七八九十百零]+条")


@lru_cache(maxsize=8)
def article(number: str = "第二十九条") -> dict:
    """{"law", "article", "paragraphs"} of one article, verbatim; the newest file wins."""
    files = sorted(PROJECT_ROOT.glob(LAW_GLOB))
    if not files:
        raise FileNotFoundError(f"statute file missing: {LAW_GLOB}")
    path = files[-1]
    lines = path.read_text(encoding="utf-8").splitlines()
    title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("# ")), "中华人民共和国人民调解法")
    paras: list[str] = []
    inside = False
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        if _ARTICLE.match(s) or s.startswith("#"):
            if inside:
                break
            if s.startswith(number):
                inside = True
                paras.append(s)
            continue
        if inside:
            paras.append(s)
    if not paras:
        raise KeyError(f"{number} not found in {path.name}")
    return {"law": title, "article": number, "paragraphs": paras, "source": path.name}


def items() -> list[str]:
    """The （一）（二）（三） items of 第二十九条."""
    return [p for p in article()["paragraphs"] if p.startswith("（")]
