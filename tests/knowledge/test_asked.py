"""Residents' questions per article (knowledge/asked/): the shipped files are valid, the checker
catches what a writer can get wrong, and the questions lead retrieval to their article."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from knowledge import asked
from knowledge.search import Searcher

DATA = Path(__file__).resolve().parent / "data" / "asked"


def test_shipped_questions_are_valid():
    rows = asked.load()
    assert rows, "knowledge/asked/*.yml is empty"
    assert asked.validate(rows) == []


def test_checker_rejects_what_a_writer_can_get_wrong():
    bad = [
        asked.Asked("民法典", "第九千条", ("这条根本不存在的吧请问",), "t"),
        asked.Asked("治安管理处罚法", "第四十三条", ("邻居把我打了派出所管不管",), "t"),  # superseded version
        asked.Asked("民法典", "第一千零八十五条", ("离婚后孩子由一方直接抚养的，另一方应当负担部分或者全部抚养费吗",), "t"),
        asked.Asked("民法典", "第一千零八十六条", ("第一千零八十六条说的探望是啥",), "t"),
        asked.Asked("民法典", "第一千零八十四条", ("短",), "t"),
    ]
    errors = asked.validate(bad)
    assert any("第九千条" in e and "no such article" in e for e in errors)
    assert any("治安管理处罚法" in e and "no such article" in e for e in errors)
    assert any("copies the article" in e for e in errors)
    assert any("article number" in e for e in errors)
    assert any("length" in e for e in errors)


def _rank(searcher: Searcher, text: str, law: str, article: str) -> int:
    hits = searcher.search(text, k=20).articles
    keys = [(h.article.law, h.article.article) for h in hits]
    return keys.index((law, article)) if (law, article) in keys else 99


@pytest.mark.parametrize("text,law,article", [
    ("楼上空调架子松了砸到我车上 他说不是他的责任", "民法典", "第一千二百五十三条"),
    ("干了快两年了厂里都没给签合同，可以要两倍工资吗", "劳动合同法", "第八十二条"),
])
def test_residents_questions_lead_to_their_article(kb, text, law, article):
    with_asked = _rank(kb, text, law, article)
    bare = Searcher(dataclasses.replace(kb.L, bm_asked=None, asked_rows=None, asked_vecs=None), kb.c)
    without = _rank(bare, text, law, article)
    assert with_asked < 3, (with_asked, without)
    assert with_asked < without  # the same index without the residents' questions ranks it lower


def test_no_question_is_taken_from_a_held_out_set():
    """The retrieval held-out sets measure what the questions buy; a copied one would inflate them."""
    import json
    import re

    root = Path(__file__).resolve().parents[2] / "bench" / "corpus"

    def norm(t: str) -> str:
        return re.sub(r"[\s，。？！,.?!、：:；;“”\"']", "", t)

    run = 16  # common phrases ("户口还在村里") recur naturally; a 16-character run does not
    grams = {norm(q)[i:i + run] for r in asked.load() for q in r.questions for i in range(len(norm(q)) - run + 1)}
    copied = []
    for path in sorted(root.glob("heldout*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = norm(json.loads(line)["text"]) if line.strip() else ""
            if any(text[i:i + run] in grams for i in range(len(text) - run + 1)):
                copied.append(text[:40])
    assert not copied, copied
