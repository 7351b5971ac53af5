"""The 知识库 console through the real app: citation check, review rules, versions and rollback,
import/export, golden questions, re-index switch. A small index (the knowledge tests' frozen Q&A
fixture + the shipped statutes, no article vectors) is built once per module and copied into each
test's data directory; the vector cache is a copy under tmp."""
from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import BUILT_HOME, ROOT
from tests.tickets.fixtures import make_staff

PW = "secret-pass-1"
FIXTURE_QA = ROOT / "tests" / "knowledge" / "data"


@pytest.fixture(scope="module")
def base_index(tmp_path_factory):
    """(index folder, vector cache) built once for the module."""
    d = tmp_path_factory.mktemp("kb-base")
    cache = d / "kb-vectors.sqlite"
    shared = BUILT_HOME / "cache" / "kb-vectors.sqlite"
    if shared.exists():
        shutil.copy(shared, cache)  # a copy: the tests never write to var/
    mp = pytest.MonkeyPatch()
    mp.setenv("MINGBAI_KB_VECTOR_CACHE", str(cache))
    mp.setenv("OMP_NUM_THREADS", "1")
    from knowledge import index

    index.build(d / "index", qa_dir=FIXTURE_QA, article_vectors=False, workers=1, progress=False)
    yield d / "index"
    mp.undo()


@pytest.fixture()
def kb_home(sqlite_db, fresh_home, base_index, monkeypatch):
    monkeypatch.setenv("MINGBAI_KB_VECTOR_CACHE", str(base_index.parent / "kb-vectors.sqlite"))
    shutil.copytree(base_index, fresh_home / "index", dirs_exist_ok=True)
    from knowledge import store

    store.ensure_seeded(FIXTURE_QA)
    yield fresh_home
    from knowledge import reindex

    reindex.wait(120)  # a publish may have started a background build


@pytest.fixture()
def app(kb_home):
    from mingbai.web import create_app

    app = create_app()
    app.config["TESTING"] = True
    make_staff("wang", "网格员", "QF01")
    make_staff("admin", "管理员", None)
    make_staff("alice", "审核员", None)
    make_staff("bob", "审核员", None)
    return app


def login(app, user):
    c = app.test_client()
    r = c.post("/console/login", data={"username": user, "password": PW})
    assert r.status_code == 302, r.get_data(as_text=True)
    with c.session_transaction() as s:
        c.csrf = s["csrf"]
    return c


def post(c, url, follow=True, **data):
    return c.post(url, data={"csrf": c.csrf, **data}, follow_redirects=follow)


def flashes(r):
    return re.findall(r'class="flash (\w+)"[^>]*>(.*?)</div>', r.get_data(as_text=True), re.S)


ENTRY = dict(domain="劳动纠纷", subtype="欠薪", kind="qa", question="没签劳动合同，能要双倍工资吗？",
             paraphrases="老板一直不跟我签合同\n干了半年都没签合同能赔钱吗",
             answer="入职超过一个月不满一年还没签书面劳动合同的，老板要每月付您两倍工资。可以先协商，不行就申请劳动仲裁。",
             steps="保留工资条、考勤和聊天记录\n向劳动争议仲裁委员会申请仲裁",
             citations="劳动合同法第八十二条")


def create(c, **over):
    r = post(c, "/console/kb/new", follow=False, **{**ENTRY, **over})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    return r.headers["Location"].rstrip("/").split("/")[-1]


def test_roles_and_menu(app):
    assert app.test_client().get("/console/kb/").status_code == 302
    assert login(app, "wang").get("/console/kb/").status_code == 403
    page = login(app, "alice").get("/console/").get_data(as_text=True)
    assert "知识库" in page and ">管理<" not in page
    r = login(app, "admin").get("/console/kb/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "sample-wage-001" in html and ">管理<" in html
    # filters: text, domain, status
    c = login(app, "alice")
    assert "sample-bride-001" in c.get("/console/kb/?q=彩礼").get_data(as_text=True)
    html = c.get("/console/kb/?domain=劳动纠纷").get_data(as_text=True)
    assert "sample-wage-001" in html and "sample-bride-001" not in html
    assert "sample-wage-001" not in c.get("/console/kb/?status=draft").get_data(as_text=True)


def test_live_citation_check(app):
    c = login(app, "alice")
    q = "民法典 1079\n劳动合同法第八十二条\n婚姻法 32\n治安管理处罚法第十条\n民法典 99999\n不存在法 3"
    res = c.get("/console/kb/cite.json", query_string={"q": q}).get_json()["results"]
    ok = [x["ok"] for x in res]
    assert ok == [True, True, False, False, False, False]
    assert res[0]["article"] == "第一千零七十九条" and res[0]["text"].startswith("夫妻一方要求离婚的")
    assert "二倍的工资" in res[1]["text"]
    assert "废止" in res[2]["error"] and res[2]["suggestion"] == "民法典 第一千零七十九条"
    assert "失效" in res[3]["error"]
    assert "没有第九万九千九百九十九条" in res[4]["error"]
    assert "没有《不存在法》" in res[5]["error"]


@pytest.mark.parametrize("cite,why", [("治安管理处罚法第十条", "失效"), ("民法典 99999", "没有第九万"),
                                      ("婚姻法第三十二条", "废止"), ("不存在法 3", "没有《不存在法》")])
def test_bad_citation_cannot_be_saved(app, cite, why):
    c = login(app, "alice")
    r = post(c, "/console/kb/new", **{**ENTRY, "citations": cite})
    assert r.status_code == 400 and why in r.get_data(as_text=True)
    from knowledge import store

    assert store.list_entries(q="双倍工资")[1] == 0
    # the store refuses too, whatever the form does
    with pytest.raises(store.KbError):
        store.save(None, {**store.form_to_data(ENTRY), "citations": [{"law": "治安管理处罚法", "article": "第十条"}]},
                   "alice")


def test_answer_length_limit(app):
    c = login(app, "alice")
    r = post(c, "/console/kb/new", **{**ENTRY, "answer": "字" * 201})
    assert r.status_code == 400 and "答复太长：201 字" in r.get_data(as_text=True)
    assert "answer-count" in c.get("/console/kb/new").get_data(as_text=True)


def test_author_cannot_approve_own_entry(app):
    from knowledge import reindex, store

    alice, bob = login(app, "alice"), login(app, "bob")
    eid = create(alice, then="submit")
    e = store.get_entry(eid)
    assert e["status"] == "review" and e["author"] == "alice" and e["published_version"] is None
    page = alice.get(f"/console/kb/e/{eid}").get_data(as_text=True)
    assert "不能审核自己" in page and "publish-btn" not in page
    r = post(alice, f"/console/kb/e/{eid}/publish")
    assert ("error", "不能审核自己编写或提交的条目，请另一位审核员审核") in flashes(r)
    assert store.get_entry(eid)["status"] == "review"
    # bob may: golden questions pass, the entry is published, a re-index starts
    r = post(bob, f"/console/kb/e/{eid}/publish", reindex_form="1")  # checkbox off: no re-index
    assert any("已发布第 1 版" in m for _, m in flashes(r)), flashes(r)
    assert reindex.status()["state"] == "idle"
    e = store.get_entry(eid)
    assert e["status"] == "published" and e["published_version"] == 1 and e["reviewed_by"] == "bob"
    # bob edits it: a new draft; the published version stays what residents get
    r = post(bob, f"/console/kb/e/{eid}/edit", **{**ENTRY, "answer": ENTRY["answer"] + "仲裁不收费。",
                                                   "base_version": "1"})
    e = store.get_entry(eid)
    assert e["version"] == 2 and e["status"] == "draft" and e["published_version"] == 1
    assert [x.answer for x in store.db_served_entries() if x.id == eid] == [ENTRY["answer"]]
    post(bob, f"/console/kb/e/{eid}/submit")
    r = post(bob, f"/console/kb/e/{eid}/publish")
    assert store.get_entry(eid)["status"] == "review"  # bob wrote v2
    post(alice, f"/console/kb/e/{eid}/reject", note="再改改")
    assert store.get_entry(eid)["status"] == "draft"
    from sqlalchemy import select

    from mingbai.db import session_scope
    from tickets.models import AuditLog

    with session_scope() as s:
        acts = [a for a, in s.execute(select(AuditLog.action).where(AuditLog.subject == eid).order_by(AuditLog.id))]
    assert acts == ["kb_create", "kb_submit", "kb_publish", "kb_edit", "kb_submit", "kb_reject"]


def test_stale_edit_is_refused(app):
    c = login(app, "alice")
    r = post(c, "/console/kb/e/sample-wage-001/edit", **{**ENTRY, "base_version": "7"})
    assert r.status_code == 400 and "刚被别人改过" in r.get_data(as_text=True)


def test_versions_diff_and_rollback(app):
    from knowledge import store

    c = login(app, "alice")
    v1 = store.get_entry("sample-wage-001")["data"]
    form = {"domain": v1["domain"], "subtype": v1["subtype"], "kind": "qa", "question": v1["question"],
            "paraphrases": "\n".join(v1["paraphrases"]), "answer": "拖欠工资违法，先协商，再投诉或申请仲裁。",
            "steps": "\n".join(v1["steps"]),
            "citations": "\n".join(f"{x['law']} {x['article']}" for x in v1["citations"]), "base_version": "1"}
    post(c, "/console/kb/e/sample-wage-001/edit", **form)
    assert store.get_entry("sample-wage-001")["version"] == 2
    # saving the same content again makes no version
    r = post(c, "/console/kb/e/sample-wage-001/edit", **{**form, "base_version": "2"})
    assert any("没有变化" in m for _, m in flashes(r)) and store.get_entry("sample-wage-001")["version"] == 2
    html = c.get("/console/kb/e/sample-wage-001/history?a=1&b=2").get_data(as_text=True)
    assert "<del>" in html and "<ins>" in html and "答复" in html
    r = post(c, "/console/kb/e/sample-wage-001/rollback", version="1")
    e = store.get_entry("sample-wage-001")
    assert e["version"] == 3 and e["status"] == "draft"
    assert store.content(e["data"]) == store.content(v1)
    assert [v["note"] for v in store.versions("sample-wage-001")][0] == "回滚到第 1 版"
    assert "第 1 版" in c.get("/console/kb/e/sample-wage-001?v=1").get_data(as_text=True)


def test_export_import_round_trip(app):
    from knowledge import store

    c = login(app, "admin")
    r = c.get("/console/kb/export.csv")
    raw = r.get_data()
    assert r.status_code == 200 and raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {x["id"] for x in rows} >= {"sample-wage-001", "sample-bride-001"}
    wage = next(x for x in rows if x["id"] == "sample-wage-001")
    assert "劳动合同法 第三十条" in wage["citations"].split("\n")
    ymlb = c.get("/console/kb/export.yml").get_data()
    assert [e["id"] for e in yaml.safe_load(ymlb)] == sorted(x["id"] for x in rows)
    # the unchanged files import as "nothing changed"
    for name, body in (("kb.yml", ymlb), ("kb.csv", raw)):
        r = c.post("/console/kb/import", data={"csrf": c.csrf, "file": (io.BytesIO(body), name)},
                   content_type="multipart/form-data")
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and "新增 <strong>0</strong> 条，修改 <strong>0</strong> 条" in html, html[:3000]
    # a spreadsheet edit: one answer changed, one new row with a repealed citation (skipped)
    wage["answer"] = "拖欠工资违法。先协商，协商不成可以投诉或者申请劳动仲裁。"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=store.CSV_COLUMNS)
    w.writeheader()
    w.writerows(rows)
    w.writerow({**rows[0], "id": "new-bad-001", "question": "离婚怎么办", "citations": "婚姻法 32"})
    body = ("\ufeff" + out.getvalue()).encode()
    r = c.post("/console/kb/import", data={"csrf": c.csrf, "file": (io.BytesIO(body), "edit.csv")},
               content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert "修改 <strong>1</strong> 条" in html and "new-bad-001" in html and "废止" in html
    token = re.search(r'name="token" value="([0-9a-f]+)"', html).group(1)
    r = post(c, "/console/kb/import/apply", token=token, suffix=".csv", filename="edit.csv")
    assert any("已导入 1 条" in m for _, m in flashes(r)), flashes(r)
    e = store.get_entry("sample-wage-001")
    assert e["version"] == 2 and e["status"] == "review" and e["data"]["answer"] == wage["answer"]
    assert e["published_version"] == 1
    with pytest.raises(KeyError):
        store.get_entry("new-bad-001")


def test_golden_questions_block_publishing(app):
    from knowledge import store

    alice, bob = login(app, "alice"), login(app, "bob")
    rows = store.golden_list()
    assert any(g["expect_entry"] == "sample-wage-001" for g in rows)  # seeded from entries' own questions
    r = post(alice, "/console/kb/golden", action="run")
    assert "golden-report" in r.get_data(as_text=True) and "没找到" not in r.get_data(as_text=True)
    post(alice, "/console/kb/golden", action="add", question="结婚前给的彩礼，没结成婚能要回来吗",
         expect="sample-bride-001", top_k="2")
    post(alice, "/console/kb/golden", action="add", question="民法典第1079条怎么说", expect="民法典 1079", top_k="3")
    r = post(alice, "/console/kb/golden", action="add", question="x", expect="婚姻法 32")
    assert any("既不是条目编号" in m for _, m in flashes(r))
    # alice rewrites the wage entry into something else: its golden question would break
    post(alice, "/console/kb/e/sample-wage-001/edit", **{
        **ENTRY, "domain": "侵权", "subtype": "", "question": "邻居家的狗把我咬了，谁赔医药费？",
        "paraphrases": "被狗咬了找谁", "answer": "狗的主人要赔医药费，除非是您故意招惹。",
        "steps": "", "citations": "民法典 1245", "base_version": "1", "then": "submit"})
    r = post(bob, "/console/kb/e/sample-wage-001/publish")
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "golden-failures" in html and "老板拖欠工资不给怎么办？" in html
    e = store.get_entry("sample-wage-001")
    assert e["status"] == "review" and e["published_version"] == 1
    # the golden run of the current index still passes
    rep = store.run_golden()
    assert rep["failures"] == [] and rep["total"] >= 4


def test_publish_reindex_switch_and_try_box(app):
    from knowledge import reindex, store
    from knowledge.answer import ask

    alice, bob = login(app, "alice"), login(app, "bob")
    eid = create(alice, then="submit")
    assert ask(ENTRY["question"])["entry_id"] != eid
    old = reindex.current_index_dir()
    r = post(bob, f"/console/kb/e/{eid}/publish")
    assert any("正在重建索引" in m for _, m in flashes(r)), flashes(r)
    st = reindex.wait(300)
    assert st["state"] == "done" and st["percent"] == 100, st
    assert bob.get("/console/kb/index/status.json").get_json()["state"] == "done"
    new = reindex.current_index_dir()
    assert new != old and new.name.startswith("index-") and (new.parent / "index-current").exists()
    a = ask(ENTRY["question"])
    assert a["entry_id"] == eid and a["answer"].startswith(ENTRY["answer"])
    html = alice.get("/console/kb/try", query_string={"q": ENTRY["question"]}).get_data(as_text=True)
    assert f'data-id="{eid}"' in html and "居民会收到" in html and "法条排名" in html
    assert "index-" in alice.get("/console/kb/index").get_data(as_text=True)
    # withdrawing it: the next index no longer answers with it
    post(alice, f"/console/kb/e/{eid}/withdraw")
    assert reindex.wait(300)["state"] == "done"
    assert ask(ENTRY["question"])["entry_id"] != eid
    assert store.get_entry(eid)["published_version"] is None


def test_served_entries_hook(kb_home):
    from knowledge import qa, store

    ids = {e.id for e in qa.served_entries()}
    assert ids == {e.id for e in qa.load_all(FIXTURE_QA)}  # the DB, seeded from the fixture
    assert store.is_seeded()
    assert {e.id for e in qa.served_entries(FIXTURE_QA)} == ids  # an explicit folder still reads YAML
