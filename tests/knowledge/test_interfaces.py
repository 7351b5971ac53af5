"""The interfaces other tools use: POST /api/v1/ask, `mingbai ask` (text and JSONL), `mingbai kb`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from knowledge import api, cli, cli_ask

KEYS = {"answer", "citations", "entry_id", "score", "confident", "domain", "domains"}


@pytest.fixture()
def client(kb):
    from mingbai.settings import get_settings

    app = Flask(__name__)
    app.register_blueprint(api.bp)
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {get_settings().secret('api_token')}"  # the API needs a token
    return c


def test_api_ask(client):
    r = client.post("/api/v1/ask", json={"text": "老板拖欠工资不给怎么办"})
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == KEYS and body["entry_id"] == "sample-wage-001" and body["confident"] is True
    # the entry's own article is quoted verbatim (the corpus ranking may put a closer one first)
    assert {"law": "劳动法", "article": "第五十条",
            "text": "工资应当以货币形式按月支付给劳动者本人。不得克扣或者无故拖欠劳动者的工资。"} in body["citations"]


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '"text"', '{"text": 5}'])
def test_api_bad_json(client, payload):
    r = client.post("/api/v1/ask", data=payload, content_type="application/json")
    assert r.status_code == 400
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r.get_json()["error"])


def test_api_empty_text_is_a_reply(client):
    r = client.post("/api/v1/ask", json={"text": ""})
    assert r.status_code == 200 and r.get_json()["confident"] is False


def test_ask_cli_prints_answer(kb, capsys):
    assert cli_ask.main(["被家暴了怎么申请人身安全保护令"]) == 0
    out = capsys.readouterr().out
    assert "人身安全保护令" in out and "法律依据：《反家庭暴力法》第二十三条" in out


def test_ask_cli_jsonl(kb, tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [{"id": "a", "text": "彩礼给了没领证能要回来吗"}, {"id": 2, "text": ""},
             {"id": "c", "text": "今天天气怎么样"}, {"id": "d", "text": "婚姻法第三十二条"}]
    inp.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n", encoding="utf-8")
    assert cli_ask.main(["--input", str(inp), "--output", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", 2, "c", "d", None]
    assert all(set(r) == KEYS | {"id"} for r in rows)
    assert rows[0]["entry_id"] == "sample-bride-001" and rows[0]["confident"] is True
    assert rows[1]["confident"] is False and rows[2]["confident"] is False
    assert rows[3]["citations"][0]["law"] == "民法典" and rows[3]["citations"][0]["article"] == "第一千零七十九条"
    for r in rows:
        for c in r["citations"]:
            assert set(c) == {"law", "article", "text"} and not c["law"].startswith("《")


def test_ask_cli_missing_input(tmp_path, capsys):
    assert cli_ask.main(["--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl")]) == 2


LAW = """# 中华人民共和国蓝鲸保护测试法

2030年1月1日 通过

<!-- INFO END -->

## 第一章 总则

第一条 为了保护蓝鲸和珊瑚礁，制定本法。

第一条之一 禁止在珊瑚礁上钓蓝鲸。
"""


def test_kb_build_idempotent_and_ingest_searchable(fresh_home, tmp_path, capsys):
    qa_dir = Path(__file__).resolve().parent / "data"
    args = ["build", "--no-vectors", "--quiet", "--workers", "1", "--qa-dir", str(qa_dir)]
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli.main(args) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["ingest"]["added"] > 8000 and second["ingest"]["added"] == 0
    assert first["bm25_articles"]["articles_bm25"] == second["bm25_articles"]["articles_bm25"]
    assert second["qa"]["entries"] == 5

    laws_dir = tmp_path / "laws" / "行政法"
    laws_dir.mkdir(parents=True)
    (laws_dir / "蓝鲸保护测试法(2030-01-01).md").write_text(LAW, encoding="utf-8")
    assert cli.main(["ingest-laws", str(tmp_path / "laws"), "--quiet"]) == 0
    from knowledge import ask

    r = ask("蓝鲸保护测试法第一条之一")
    assert r["citations"][0] == {"law": "蓝鲸保护测试法", "article": "第一条之一", "text": "禁止在珊瑚礁上钓蓝鲸。"}
    r = ask("在珊瑚礁上钓蓝鲸犯法吗")
    assert any(c["law"] == "蓝鲸保护测试法" for c in r["citations"]), r
    assert cli.main(["ingest-laws", str(tmp_path / "missing")]) == 2


def test_kb_eval_writes_report(kb, tmp_path, capsys):
    dev = tmp_path / "dev.jsonl"
    rows = [
        {"id": "d1", "text": "工资拖了半年不发咋整", "expected_entry": "sample-wage-001",
         "expected_citations": [{"law": "劳动法", "article": "第五十条"}]},
        {"id": "d2", "text": "想离婚对方不肯", "expected_entry": "sample-divorce-001", "expected_citations": []},
        {"id": "d3", "text": "怎么腌咸菜", "expected_entry": None, "expected_citations": []},
    ]
    dev.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "knowledge.json"
    assert cli.main(["eval", str(dev), "--output", str(out)]) == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    m = rep["metrics"]
    for k in ("hit@1", "hit@5", "mrr", "citation_hit@3", "no_answer_precision", "no_answer_recall"):
        assert 0.0 <= m[k] <= 1.0
    assert m["n"] == 3 and m["n_unanswerable"] == 1 and m["hit@1"] == 1.0 and m["citation_hit@3"] == 1.0
    assert m["no_answer_recall"] == 1.0
    assert "hit@1" in capsys.readouterr().out
