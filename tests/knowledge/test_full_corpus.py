"""The whole statute corpus (../shared/laws, ~58k articles) ingests within budget and stays searchable."""
from __future__ import annotations

import json
import time

import pytest

from knowledge import cli
from tests.conftest import ROOT

LAWS = ROOT.parent / "shared" / "laws"


@pytest.mark.skipif(not LAWS.is_dir(), reason="../shared/laws not present")
def test_ingest_whole_corpus(fresh_home, capsys):
    t = time.time()
    assert cli.main(["ingest-laws", str(LAWS), "--quiet", "--no-vectors"]) == 0
    took = time.time() - t
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["bm25_articles"]["articles_bm25"] >= 57000  # in force (superseded versions excluded)
    assert took < 600
    from knowledge import ask

    r = ask("海关法第一条")  # not shipped, only in the full corpus
    assert r["citations"][0]["law"] == "海关法" and r["citations"][0]["article"] == "第一条"
    r = ask("走私普通货物海关怎么处罚")
    assert r["citations"], r
    assert ask("民法典第一千二百六十条")["citations"][0]["text"].startswith("本法自2021年1月1日起施行")
