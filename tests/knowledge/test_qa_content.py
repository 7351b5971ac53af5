"""Every curated Q&A file (whoever wrote it) must load, and every citation must exist, in force,
in the shipped statute corpus — article text is quoted from there, never from the YAML."""
from __future__ import annotations

from collections import defaultdict

import pytest
import yaml

from knowledge import laws, qa
from knowledge.laws import law_key

TAXONOMY = yaml.safe_load((qa.QA_DIR.parent / "taxonomy.yml").read_text(encoding="utf-8"))
FILES = qa.qa_files()


@pytest.fixture(scope="module")
def shipped_index():
    by = defaultdict(dict)
    for a in laws.load_articles():
        if a.in_force:
            by[law_key(a.law)][a.article] = a
    return by


@pytest.fixture(scope="module")
def entries():
    return qa.load_all()  # raises on duplicate ids or malformed entries


def test_there_are_qa_files():
    assert FILES, "knowledge/qa/*.yml is empty"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_citation_exists_in_shipped_corpus(path, shipped_index):
    missing = []
    for e in qa.load_file(path):
        for c in e.citations:
            law = law_key(c["law"])
            if law in {law_key(n) for n in laws.REPEALED_BY_CIVIL_CODE}:
                missing.append(f"{e.id}: {c['law']} was repealed on 2021-01-01; cite 民法典")
            elif law not in shipped_index:
                missing.append(f"{e.id}: law not shipped: {c['law']}")
            elif c["article"] not in shipped_index[law]:
                missing.append(f"{e.id}: {c['law']} {c['article']} does not exist")
    assert not missing, "\n".join(missing)


def test_ids_unique_and_fields_valid(entries):
    domains = set(TAXONOMY["domains"])
    bad = [f"{e.source}:{e.id}: domain {e.domain!r}" for e in entries if e.domain not in domains]
    bad += [f"{e.source}:{e.id}: guide must be 综合咨询" for e in entries if e.kind == "guide" and e.domain != "综合咨询"]
    bad += [f"{e.source}:{e.id}: no citations" for e in entries if e.kind != "guide" and not e.citations]
    assert not bad, "\n".join(bad)


def test_entries_have_three_paraphrases(entries):
    few = [f"{e.source}:{e.id}" for e in entries if len(e.paraphrases) < 3]
    assert not few, "entries with < 3 paraphrases:\n" + "\n".join(few)


def test_no_article_text_in_yaml():
    for path in FILES:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        for item in raw:
            for c in item.get("citations") or []:
                assert set(c) <= {"law", "article"}, f"{path.name}:{item.get('id')}: citations hold only law+article"


def test_answers_fit_first_screen(entries):
    long = [f"{e.source}:{e.id} ({len(e.answer)} 字)" for e in entries if len(e.answer) > 200]
    assert not long, "answers over 200 characters:\n" + "\n".join(long)


def test_every_entry_composes_into_one_message(entries, shipped_index):
    from knowledge.answer import CITE_PREFIX, MESSAGE_LIMIT, compose

    for e in entries:
        arts = [shipped_index[law_key(c["law"])][c["article"]] for c in e.citations
                if c["article"] in shipped_index.get(law_key(c["law"]), {})]
        text = compose(e.answer, arts, e.steps)
        assert len(text) <= MESSAGE_LIMIT, e.id
        assert text.startswith(e.answer)
        if arts:
            assert f"{CITE_PREFIX}《" in text, e.id
