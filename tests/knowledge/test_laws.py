"""Statute ingest: article numbers, 之一, paragraphs, versions, dedup, the whole 民法典."""
from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import laws
from knowledge.numerals import article_label, cn2int, int2cn, parse_article


def test_numerals_round_trip():
    for n in range(1, 3000):
        assert cn2int(int2cn(n)) == n
    assert int2cn(1079) == "一千零七十九"
    assert int2cn(15) == "十五" and int2cn(110) == "一百一十" and int2cn(1260) == "一千二百六十"
    assert cn2int("两百") == 200
    assert article_label(17, 1) == "第十七条之一"
    assert parse_article("第一千零七十九条") == (1079, 0)
    assert parse_article("第1079条") == (1079, 0)
    assert parse_article("第十七条之一") == (17, 1)
    with pytest.raises(ValueError):
        parse_article("第X条")


@pytest.fixture(scope="module")
def shipped():
    return laws.load_articles()


def test_civil_code_all_articles(shipped):
    cc = [a for a in shipped if a.law == "民法典" and a.in_force]
    assert sorted(a.num for a in cc) == list(range(1, 1261))
    books = {a.book for a in cc}
    assert books == {"总则", "物权编", "合同编", "人格权编", "婚姻家庭编", "继承编", "侵权责任编", "附则"}
    a = next(a for a in cc if a.num == 1079)
    assert a.article == "第一千零七十九条" and a.book == "婚姻家庭编" and a.chapter.endswith("离婚")
    # later paragraphs and items belong to the article
    assert a.text.startswith("夫妻一方要求离婚的")
    assert "（一）重婚或者与他人同居；" in a.text
    assert a.text.endswith("一方再次提起离婚诉讼的，应当准予离婚。")
    assert "第一千零八十条" not in a.text


def test_inserted_articles(shipped):
    a = next(a for a in shipped if a.law == "刑法" and a.num == 17 and a.sub == 1)
    assert a.article == "第十七条之一" and a.text.startswith("已满七十五周岁的人")
    plain = next(a for a in shipped if a.law == "刑法" and a.num == 17 and a.sub == 0)
    assert "七十五周岁" not in plain.text


def test_versions_and_dedup(shipped):
    versions = {(a.version, a.in_force) for a in shipped if a.law == "妇女权益保障法"}
    assert versions == {("2018-10-26", False), ("2022-10-30", True)}
    # 反电信网络诈骗法 is filed under two kinds: one copy only
    firsts = [a for a in shipped if a.law == "反电信网络诈骗法" and a.num == 1]
    assert len(firsts) == 1
    assert not any("中华人民共和国" in a.law for a in shipped)


SYNTH = {
    "社会法/测试保护法(2010-01-01).md": """# 中华人民共和国测试保护法

2010年1月1日 第一次会议通过

<!-- INFO END -->

## 第一章\u3000总则

第一条 旧版第一条。

第二条 旧版第二条。
""",
    "社会法/测试保护法(2020-06-01).md": """# 中华人民共和国测试保护法

2010年1月1日 通过 2020年6月1日 修订

<!-- INFO END -->

## 第一章\u2002总　则

### 第一节 一般规定

第一条 为了测试，制定本法。

第二条 下列人员适用本法：

（一）甲；

（二）乙。

本条第一款另有规定的除外。

第二条之一 插入的条文。

## 第二章 附则

第三条 本法自2020年6月1日起施行。
""",
    "行政法/测试保护法(2020-06-01).md": None,  # same file in a second folder
}


@pytest.fixture()
def synth_dir(tmp_path) -> Path:
    first = None
    for rel, body in SYNTH.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if body is None:
            body = first
        p.write_text(body, encoding="utf-8")
        first = body
    return tmp_path


def test_parse_synthetic_folder(synth_dir, tmp_path):
    arts = laws.resolve_versions(laws.parse_dir(synth_dir))
    new = {(a.num, a.sub): a for a in arts if a.in_force}
    old = [a for a in arts if not a.in_force]
    assert {a.text for a in old} == {"旧版第一条。", "旧版第二条。"}
    assert set(new) == {(1, 0), (2, 0), (2, 1), (3, 0)}  # deduped across the two folders
    assert new[(2, 0)].text == "下列人员适用本法：\n（一）甲；\n（二）乙。\n本条第一款另有规定的除外。"
    assert new[(2, 1)].article == "第二条之一"
    assert new[(1, 0)].law == "测试保护法" and new[(1, 0)].version == "2020-06-01"
    assert new[(1, 0)].chapter == "第一章 总 则" and new[(1, 0)].section == "第一节 一般规定"
    assert new[(3, 0)].chapter == "第二章 附则" and new[(3, 0)].section == ""

    db = tmp_path / "idx" / "laws.sqlite"
    laws.store_articles(db, arts, shipped=False)
    laws.store_articles(db, arts, shipped=False)  # idempotent
    c = laws.Corpus(db)
    assert c.count() == 6
    assert c.get("中华人民共和国测试保护法", "第二条之一").text == "插入的条文。"
    assert c.get("《测试保护法》", 1).text == "为了测试，制定本法。"
    assert c.get("测试保护法", "第一条", in_force=False).version == "2020-06-01"
    assert c.versions("测试保护法") == [("2010-01-01", False), ("2020-06-01", True)]


def test_repealed_list():
    assert set(laws.REPEALED_BY_CIVIL_CODE) == {"婚姻法", "继承法", "合同法", "物权法", "侵权责任法", "民法通则",
                                                "民法总则", "担保法", "收养法"}
