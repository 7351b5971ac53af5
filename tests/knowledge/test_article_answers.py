"""Whole-corpus article answers: laypeople's words, superseded law, the answer's shape, coverage."""
from __future__ import annotations

import json
import shutil

import pytest

from knowledge import ask, laws
from knowledge.answer import OFFER_PERSON, domain_steps, lead_sentence, merge_citations
from knowledge.expand import legal_words, standardize
from knowledge.search import ArticleHit


def test_colloquial_words_map_to_statute_words():
    assert "用人单位" in legal_words("老板不给工资")
    assert "劳动报酬" in legal_words("老板不给工资")
    assert "饲养动物" in legal_words("邻居家的狗咬了我")
    # the longer phrase wins over its parts
    assert "返还借款" in legal_words("他欠钱不还")


def test_dialect_is_standardized_for_search_only():
    assert standardize("俺家娃被打了 咋整") == "我家孩子被打了 怎么办"
    assert standardize("佢唔肯退钱 点算") == "他不肯退钱 怎么办"
    assert standardize("劳动合同") == "劳动合同"


def test_superseded_and_repealed_versions_are_never_in_force():
    assert laws.out_of_force("治安管理处罚法", "2012-10-26")
    assert not laws.out_of_force("治安管理处罚法", "2026-01-01")
    assert laws.out_of_force("最高人民法院关于适用《婚姻法》若干问题的解释（三）", "2011-08-09")
    assert not laws.out_of_force("最高人民法院关于适用《民法典》婚姻家庭编的解释（一）", "2020-12-29")
    # Abolished by 法释〔2020〕16号 and replaced under another name: out of force whatever the date.
    assert laws.out_of_force("最高人民法院关于审理劳动争议案件适用法律若干问题的解释（四）", "2013-01-18")
    assert laws.out_of_force("最高人民法院关于审理建设工程施工合同纠纷案件适用法律问题的解释（二）", "2018-12-30")
    assert not laws.out_of_force("最高人民法院关于审理劳动争议案件适用法律问题的解释（一）", "2020-12-29")
    shipped = [a for a in laws.load_articles() if a.law == "治安管理处罚法"]
    assert shipped and not any(a.in_force for a in shipped)


def test_superseded_law_is_not_cited(kb):
    r = ask("治安管理处罚法第四十三条")
    assert all(c["law"] != "治安管理处罚法" for c in r["citations"]), r


def test_article_answer_shape(kb):
    """No curated entry close enough: lead sentence from the article's place, the article verbatim,
    the domain's next steps, and a person offered."""
    from knowledge.answer import build_answer
    from knowledge.search import Result

    a = kb.L.corpus.get("劳动合同法", "第八十二条")
    lead = lead_sentence(a)
    assert "《劳动合同法》" in lead and "第八十二条" in lead and "法律责任" in lead
    assert domain_steps("劳动纠纷")[0] != domain_steps(None)[0]
    res = Result(query="在厂里干了一年多了老板一直不跟我签书面合同",
                 articles=[ArticleHit(a, kb.c["tau_art"] + 0.2, 0.8, 0.5)])
    r = build_answer(res, kb)
    assert r["confident"] and r["entry_id"] is None
    assert r["citations"][0] == {"law": "劳动合同法", "article": "第八十二条", "text": a.text}
    assert r["answer"].startswith(lead) and a.text.split("\n")[0] in r["answer"]
    assert "下一步" in r["answer"] and OFFER_PERSON in r["answer"]
    assert r["domain"] == "劳动纠纷"  # from the law's usual domain in the curated entries
    low = build_answer(Result(query="x", articles=[ArticleHit(a, kb.c["tau_art"] - 0.3, 0.2, 0.1)]), kb)
    assert not low["confident"] and low["citations"] == []


def test_merge_keeps_the_entry_and_adds_related(kb):
    a1 = kb.L.corpus.get("民法典", "第一千零七十九条")
    a2 = kb.L.corpus.get("民法典", "第一千零八十四条")
    a3 = kb.L.corpus.get("民法典", "第一千零八十五条")
    # the ranking's best clearly beats the entry's articles: it is quoted first
    quoted, cites = merge_citations([a1, a2], [ArticleHit(a3, 1.5, 0.7, 0.3), ArticleHit(a1, 1.0, 0.6, 0.3)])
    assert [x.article for x in quoted] == ["第一千零八十五条", "第一千零七十九条", "第一千零八十四条"]
    # the ranking prefers one of the entry's articles: it is quoted first, the others follow as related
    quoted, cites = merge_citations([a2, a1], [ArticleHit(a1, 1.2, 0.7, 0.3), ArticleHit(a3, 1.0, 0.6, 0.3)])
    assert [x.article for x in quoted] == ["第一千零七十九条", "第一千零八十四条"]
    assert [x.article for x in cites] == ["第一千零七十九条", "第一千零八十四条", "第一千零八十五条"]


def test_no_answer_for_nonsense_is_honest(kb):
    r = ask("啊啊啊啊啊啊")
    assert not r["confident"]


def test_background_vectors_cover_an_ingested_folder(fresh_home, tmp_path, capsys, monkeypatch):
    """`kb ingest-laws --no-vectors` answers by BM25 at once; `kb vectors` then covers every article
    in force and `kb status` says so."""
    from knowledge import cli, index
    from knowledge import search as search_mod
    from mingbai.settings import get_settings

    # The CLI resets the process cache: keep the session's loaded index for the tests that follow.
    monkeypatch.setattr(search_mod, "reset_cache", lambda: None)

    from tests.knowledge.conftest import DATA

    shipped = tmp_path / "shipped" / "行政法"
    shipped.mkdir(parents=True)
    shutil.copy(laws.STATUTES_DIR / "行政法" / "行政处罚法(2021-01-22).md", shipped)
    src = tmp_path / "laws" / "行政法"
    src.mkdir(parents=True)
    shutil.copy(laws.STATUTES_DIR / "行政法" / "居民身份证法(2011-10-29).md", src)
    idx = get_settings().index_dir
    index.build(idx, statutes_dir=tmp_path / "shipped", qa_dir=DATA, article_vectors=False, workers=1,
                progress=False)
    assert cli.main(["ingest-laws", str(tmp_path / "laws"), "--quiet", "--no-vectors"]) == 0
    capsys.readouterr()
    assert cli.main(["status"]) == 0
    before = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert before["with_vectors"] < before["articles_in_force"]
    assert cli.main(["vectors", "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["status"]) == 0
    after = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert after["with_vectors"] == after["articles_in_force"] and after["coverage"] == 1.0


def test_setup_leaves_article_vectors_to_one_background_build(fresh_home, tmp_path, capsys, monkeypatch):
    """Setup's `kb build --vectors-later` answers by BM25 at once and keeps vectors made before;
    `kb vectors` fills the rest, rewrites nothing once complete (serving processes reload on a
    rewrite), and with --if-idle leaves at once while another build holds the lock."""
    import fcntl

    from knowledge import cli, index
    from knowledge import search as search_mod
    from mingbai.settings import get_settings
    from tests.knowledge.conftest import DATA

    monkeypatch.setattr(search_mod, "reset_cache", lambda: None)
    monkeypatch.setenv("MINGBAI_KB_VECTOR_CACHE", str(tmp_path / "kb-vectors.sqlite"))  # nothing cached yet
    shipped = tmp_path / "shipped" / "行政法"
    shipped.mkdir(parents=True)
    shutil.copy(laws.STATUTES_DIR / "行政法" / "居民身份证法(2011-10-29).md", shipped)
    idx = get_settings().index_dir
    kw = dict(statutes_dir=tmp_path / "shipped", qa_dir=DATA, workers=1, progress=False)
    index.build(idx, article_vectors="later", **kw)
    assert index.dense_coverage(idx)["with_vectors"] == 0
    asked = index.asked_coverage(idx)["asked_questions"]
    assert asked > 0 and index.missing_vectors(idx) == index.dense_coverage(idx)["articles_in_force"] + asked
    assert search_mod.Searcher(index.load(idx)).search("身份证丢了怎么补办").articles  # BM25 serves meanwhile

    lock = open(idx / ".vectors.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert cli.main(["vectors", "--workers", "1", "--quiet", "--if-idle"]) == 0
    assert index.dense_coverage(idx)["with_vectors"] == 0  # left to the build that holds the lock
    lock.close()

    capsys.readouterr()
    assert cli.main(["vectors", "--workers", "1", "--quiet"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cov = index.dense_coverage(idx)
    assert cov["with_vectors"] == cov["articles_in_force"] == first["articles_dense"] > 0
    assert index.missing_vectors(idx) == 0 and first["asked"]["asked_vectors"] == asked
    assert index.load(idx).asked_vecs.ntotal == asked
    stamp = (idx / "dense_art.npy").stat().st_mtime_ns, (idx / "meta.json").stat().st_mtime_ns
    assert cli.main(["vectors", "--workers", "1", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["complete"]
    assert ((idx / "dense_art.npy").stat().st_mtime_ns, (idx / "meta.json").stat().st_mtime_ns) == stamp

    index.build(idx, article_vectors="later", **kw)  # a second setup keeps them (the asked ones from the cache)
    assert index.missing_vectors(idx) == 0
