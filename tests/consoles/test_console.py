"""The staff console through the real app (mingbai.web.create_app) and Flask's test client."""
from __future__ import annotations

import json
import re
import threading

import pytest
from sqlalchemy import select

from mingbai.db import session_scope
from tests.tickets.fixtures import ROOT, make_staff
from tickets import service
from tickets.models import AuditLog

PW = "secret-pass-1"


@pytest.fixture()
def app(db):
    from mingbai.web import create_app

    app = create_app()
    app.config["TESTING"] = True
    make_staff("wang", "网格员", "QF01")
    make_staff("li", "网格员", "QF01")
    make_staff("zhou", "人民调解员", "QFZ")      # the town: oversees every grid under it
    make_staff("chen", "网格员", "CG01")         # another street: must not see 清风镇 cases
    make_staff("admin", "管理员", None)
    return app


def login(app, user):
    c = app.test_client()
    r = c.post("/console/login", data={"username": user, "password": PW})
    assert r.status_code == 302, r.get_data(as_text=True)
    with c.session_transaction() as s:
        c.csrf = s["csrf"]
    return c


def post(c, url, **data):
    return c.post(url, data={"csrf": c.csrf, **data}, follow_redirects=True)


def flashes(r):
    return re.findall(r'class="flash (\w+)">([^<]*)<', r.get_data(as_text=True))


def _ticket(**kw):
    base = dict(domain="侵权", subtype="邻里纠纷", summary="隔壁装修到半夜，电话13812345678，住幸福路12号3栋501",
                location="大塘一组", phone="13812345678", parties=["张三", "李四"])
    base.update(kw)
    return service.open_ticket("web:console-r1", **base)


def test_login_and_guards(app):
    c = app.test_client()
    assert c.get("/console/").status_code == 302
    r = c.post("/console/login", data={"username": "wang", "password": "wrong"})
    assert "用户名或密码不对" in r.get_data(as_text=True)
    c = login(app, "wang")
    t = _ticket()
    assert c.post(f"/console/t/{t['number']}/claim", data={}).status_code == 400  # no CSRF token
    assert login(app, "chen").get(f"/console/t/{t['number']}").status_code == 403
    assert login(app, "zhou").get(f"/console/t/{t['number']}").status_code == 200
    assert c.get("/console/report").status_code == 403
    assert login(app, "admin").get("/console/report").status_code == 200


def test_queues_and_badges(app):
    t = _ticket()
    page = login(app, "wang").get("/console/").get_data(as_text=True)
    assert t["number"] in page and "受理 剩" in page and 'data-due="' in page and "认领" in page
    assert t["number"] in login(app, "zhou").get("/console/").get_data(as_text=True)
    assert t["number"] not in login(app, "chen").get("/console/").get_data(as_text=True)


def test_work_a_case(app):
    t = _ticket()
    n = t["number"]
    c = login(app, "wang")
    page = c.get(f"/console/t/{n}").get_data(as_text=True)
    assert "13812345678" not in page and "138****5678" in page  # masked
    assert flashes(post(c, f"/console/t/{n}/claim")) == [("ok", "已认领，请尽快受理。")]
    assert flashes(post(login(app, "li"), f"/console/t/{n}/claim")) == [("error", "这张工单已经被别人认领了。")]
    assert flashes(post(c, f"/console/t/{n}/status", to="acknowledged"))[0][0] == "ok"
    assert flashes(post(c, f"/console/t/{n}/reply", text="您好，我下午过去看看。"))[0][0] == "ok"
    assert flashes(post(c, f"/console/t/{n}/note", text="双方都在家"))[0][0] == "ok"
    assert flashes(post(c, f"/console/t/{n}/status", to="in_mediation"))[0][0] == "ok"
    r = post(c, f"/console/t/{n}/resolve", outcome="调解未成功")
    assert flashes(r) == [("error", "调解未成功时要写明下一步途径：仲裁、诉讼 或 行政部门。")]
    r = post(c, f"/console/t/{n}/agreement")
    r = c.get(f"/console/t/{n}/agreement", follow_redirects=True)
    assert flashes(r)[0][0] == "error"  # not resolved yet
    r = post(c, f"/console/t/{n}/resolve", outcome="调解成功", resolution="晚上九点后不施工；赔偿200元")
    assert flashes(r)[0] == ("ok", "已改为「已办结」。")
    assert flashes(post(c, f"/console/t/{n}/satisfaction/ask"))[0][0] == "ok"
    service.record_message("web:console-r1", "in", "5", "resident", "web")
    page = c.get(f"/console/t/{n}").get_data(as_text=True)
    assert "满意度：5/5" in page and "您好，我下午过去看看。" in page and "双方都在家" in page
    doc = c.get(f"/console/t/{n}/agreement").get_data(as_text=True)
    statute = next((ROOT / "knowledge" / "statutes" / "诉讼与非诉讼程序法").glob("人民调解法*.md")).read_text("utf-8")
    for item in ("（一）当事人的基本情况；", "（二）纠纷的主要事实、争议事项以及各方当事人的责任；",
                 "（三）当事人达成调解协议的内容，履行的方式、期限。"):
        assert item in doc and item in statute  # quoted verbatim
    assert "晚上九点后不施工" in doc and "张三" in doc and "人民调解协议书" in doc and "window.print()" in doc
    assert flashes(post(c, f"/console/t/{n}/status", to="closed"))[0][0] == "ok"


def test_reveal_is_audited(app):
    t = _ticket()
    c = login(app, "wang")
    r = post(c, f"/console/t/{t['number']}/reveal", reason="需要电话联系当事人")
    assert "13812345678" in r.get_data(as_text=True)
    with session_scope() as s:
        a = s.scalars(select(AuditLog).where(AuditLog.action == "reveal_pii")).one()
        assert a.actor == "staff:wang" and a.detail["reason"] == "需要电话联系当事人"


def test_escalate_from_console(app):
    t = _ticket()
    c = login(app, "wang")
    r = post(c, f"/console/t/{t['number']}/escalate", note="涉及宅基地")
    assert flashes(r)[0][0] == "ok"
    got = service.get_ticket(t["number"])
    assert got["status"] == "escalated" and got["tier"] == 3  # nobody at the village: to the town
    texts = [m["text"] for m in service.transcript("web:console-r1")]
    assert any("已转交镇矛调中心处理" in x for x in texts)


def test_concurrent_claim_over_http(app):
    t = _ticket()
    clients = [login(app, u) for u in ("wang", "li", "zhou")]
    barrier, results = threading.Barrier(3), []

    def go(c):
        barrier.wait()
        results.append(flashes(post(c, f"/console/t/{t['number']}/claim"))[0][0])

    ths = [threading.Thread(target=go, args=(c,)) for c in clients]
    [x.start() for x in ths]
    [x.join() for x in ths]
    assert sorted(results) == ["error", "error", "ok"]


def test_handoff_and_sse(app, monkeypatch):
    import consoles.ticket as v

    monkeypatch.setattr(v, "SSE_POLL_S", 0.05)
    monkeypatch.setattr(v, "SSE_MAX_S", 5)
    t = _ticket()
    c = login(app, "wang")
    post(c, f"/console/t/{t['number']}/claim")
    assert flashes(post(c, f"/console/t/{t['number']}/handoff/start"))[0][0] == "ok"
    assert service.in_handoff("web:console-r1")
    last = service.transcript("web:console-r1")
    after = last[-1]["id"] if last else 0
    resp = c.get(f"/console/t/{t['number']}/stream?after={after}", buffered=False)
    assert resp.mimetype == "text/event-stream"
    it = iter(resp.response)
    # written by "another process": straight into the messages table
    threading.Timer(0.3, lambda: service.record_message("web:console-r1", "in", "我在家，电话13812345678",
                                                        "resident", "web")).start()
    got = ""
    for chunk in it:
        got += chunk.decode() if isinstance(chunk, bytes) else chunk
        if "event: message" in got:
            break
    resp.close()
    data = json.loads(got.split("data: ", 1)[1].split("\n", 1)[0])
    assert data["text"] == "我在家，电话138****5678" and data["author"] == "resident"
    assert flashes(post(c, f"/console/t/{t['number']}/handoff/end"))[0][0] == "ok"
    assert not service.in_handoff("web:console-r1")


def test_report(app):
    service.open_ticket("web:r2", domain="劳动纠纷", subtype="欠薪", summary="欠薪", location="工业园")
    n = _ticket()["number"]
    service.claim(n, "wang")
    for to in ("acknowledged", "in_mediation"):
        service.change_status(n, to, "staff:wang")
    service.change_status(n, "resolved", "staff:wang", outcome="调解成功")
    from tickets.clock import local, now

    month = local(now()).strftime("%Y-%m")
    page = login(app, "admin").get(f"/console/report?month={month}").get_data(as_text=True)
    assert 'id="total">2<' in page and "劳动纠纷" in page and "欠薪" in page and "调解成功" in page
    assert "1 小时内受理" in page
