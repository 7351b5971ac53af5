"""The 未解答 inbox (consoles/unanswered.py) and the ticket page's routing history, through the
real app and Flask's test client."""
from __future__ import annotations

import re

import pytest
import yaml

from knowledge import drafts
from tests.consoles.test_console import PW, flashes, login, post
from tests.tickets.fixtures import local_dt, make_staff
from tickets import clock, feedback, service


@pytest.fixture()
def app(db):
    from mingbai.web import create_app

    app = create_app()
    app.config["TESTING"] = True
    make_staff("wang", "网格员", "QF01")
    make_staff("zhou", "人民调解员", "QFZ")
    make_staff("admin", "管理员", None)
    try:
        from tickets.users import create_user

        create_user("shen", PW, "审核员", None, display_name="shen")
    except Exception:  # the 审核员 role is not there (yet)
        pass
    return app


def _not_sure(rk: str, question: str) -> None:
    service.record_message(rk, "in", question, "resident", "web")
    service.record_message(rk, "out", "这个问题我暂时没有把握答准……", "bot", "web")
    assert feedback.mark_unanswered(rk, "unsure", channel="web")


def _groups(html: str) -> list[str]:
    return re.findall(r'<div class="card unanswered-group"[^>]*data-count="(\d+)"', html)


def test_not_sure_questions_grouped_in_the_inbox(app):
    _not_sure("web:u1", "邻居占了我家的宅基地怎么办，我电话13812345678")
    _not_sure("web:u2", "隔壁邻居把我家宅基地占了咋办")
    _not_sure("web:u3", "老板拖欠工资不给怎么办")
    c = login(app, "zhou")
    page = c.get("/console/unanswered/").get_data(as_text=True)
    assert 'href="/console/unanswered/"' in page and "未解答" in page      # the menu item
    assert _groups(page) == ["2", "1"]
    first = page.split('class="card unanswered-group"')[1]
    assert "隔壁邻居把我家宅基地占了咋办" in first and "邻居占了我家的宅基地怎么办" in first
    assert "13812345678" not in page and "138****5678" in page               # masked
    assert "没把握 2" in first and "2 位居民" in first
    # who may look
    assert login(app, "wang").get("/console/unanswered/").status_code == 403
    assert 'href="/console/unanswered/"' not in login(app, "wang").get("/console/").get_data(as_text=True)
    assert login(app, "admin").get("/console/unanswered/").status_code == 200
    from tickets.users import get_user

    if get_user("shen"):  # 审核员 (knowledge reviewer), where that role exists
        assert login(app, "shen").get("/console/unanswered/").status_code == 200


def test_handoff_answer_and_group_to_draft(app, fresh_home):
    _not_sure("web:h1", "承包地被村里收回了不给补偿合法吗")
    service.record_message("web:h1", "in", "转人工", "resident", "web")
    h = service.start_handoff("web:h1", "居民要求人工服务")
    service.staff_reply(h["ticket_number"], "wang", "承包期内发包方不得收回承包地，可以找镇农经站或申请仲裁。")
    service.end_handoff("web:h1", "staff:wang")
    _not_sure("web:h2", "村里收回承包地没给钱怎么办")
    c = login(app, "zhou")
    page = c.get("/console/unanswered/").get_data(as_text=True)
    assert _groups(page) == ["2"] and "承包期内发包方不得收回承包地" in page and "工作人员 wang" in page
    ids = re.findall(r'name="ids" value="(\d+)"', page.split('class="draft-form"')[1])
    r = c.post("/console/unanswered/draft", data={
        "csrf": c.csrf, "ids": ids, "domain": "房产纠纷", "subtype": "宅基地/土地",
        "question": "村里收回承包地不给补偿怎么办", "answer": "承包期内发包方不得收回承包地，可以找镇农经站或申请仲裁。",
        "steps": "先找村委会问清楚\n再找镇农经站"}, follow_redirects=True)
    [(kind, msg)] = flashes(r)
    assert kind == "ok" and "已生成知识库草稿" in msg
    draft_id = re.search(r"已生成知识库草稿 (\S+)（", msg).group(1)
    if drafts.kb_store() is not None:  # DB-backed entries (knowledge.store): a new draft entry there
        from knowledge import store

        e = store.get_entry(draft_id)
        entry = {**e["data"], "status": e["status"], "id": e["id"]}
        assert e["author"] == "zhou" and "知识库" in msg
    else:
        [path] = (fresh_home / "kb_drafts").glob("*.yml")
        [entry] = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert entry["id"] == path.stem
    assert entry["id"] == draft_id
    assert entry["status"] == "draft" and entry["citations"] == [] and entry["domain"] == "房产纠纷"
    assert entry["question"] == "村里收回承包地不给补偿怎么办"
    assert sorted(entry["paraphrases"]) == sorted(["承包地被村里收回了不给补偿合法吗", "村里收回承包地没给钱怎么办"])
    assert entry["steps"] == ["先找村委会问清楚", "再找镇农经站"]
    assert _groups(r.get_data(as_text=True)) == []                              # done: out of the inbox
    done = c.get("/console/unanswered/?show=done").get_data(as_text=True)
    assert _groups(done) == ["2"] and f"草稿 {draft_id}" in done
    # no answer: refused
    _not_sure("web:h3", "狗咬人谁负责")
    page = c.get("/console/unanswered/").get_data(as_text=True)
    ids = re.findall(r'name="ids" value="(\d+)"', page.split('class="draft-form"')[1])
    r = c.post("/console/unanswered/draft", data={"csrf": c.csrf, "ids": ids, "domain": "侵权", "answer": ""},
               follow_redirects=True)
    assert flashes(r)[0][0] == "error"
    # ignore, then back to the inbox
    r = c.post("/console/unanswered/status", data={"csrf": c.csrf, "ids": ids, "to": "ignored"}, follow_redirects=True)
    assert flashes(r)[0][0] == "ok" and _groups(r.get_data(as_text=True)) == []
    assert c.post("/console/unanswered/status", data={"ids": ids, "to": "ignored"}).status_code == 400  # CSRF
    r = post(c, "/console/unanswered/status", ids=ids, to="open", show="ignored")
    assert _groups(c.get("/console/unanswered/").get_data(as_text=True)) == ["1"]


def test_ticket_page_shows_the_routing_reason(app):
    make_staff("grid1", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    clock.set_now(local_dt(2026, 12, 6, 10, 0))  # Sunday
    t = service.open_ticket("web:route", domain="侵权", summary="邻居半夜唱歌", location="大塘一组")
    page = login(app, "zhou").get(f"/console/t/{t['number']}").get_data(as_text=True)
    assert 'id="history"' in page and "流转记录" in page
    step = page.split('class="history-step"')[1]
    assert "登记 → 网格" in step and "非工作时间" in step and "12-07 08:30" in step
    # an escalation adds a step with its reason
    service.change_status(t["number"], "escalated", "staff:zhou", note="涉及多户，需要村里协调")
    page = login(app, "zhou").get(f"/console/t/{t['number']}").get_data(as_text=True)
    steps = page.split('class="history-step"')[1:]
    assert len(steps) == 2 and "网格 → 乡镇/街道" in steps[1] and "手动上报" in steps[1] and "涉及多户" in steps[1]
