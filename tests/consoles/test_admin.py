"""管理 pages: staff accounts, grid import with preview, canned replies."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from mingbai.db import session_scope
from tests.tickets.fixtures import make_staff
from tickets.models import AuditLog, GridNode, StaffUser

PW = "secret-pass-1"


@pytest.fixture()
def app(sqlite_db):
    from mingbai.web import create_app

    app = create_app()
    app.config["TESTING"] = True
    make_staff("admin", "管理员", None)
    make_staff("wang", "网格员", "QF01")
    return app


def login(app, user, pw=PW):
    c = app.test_client()
    r = c.post("/console/login", data={"username": user, "password": pw})
    if r.status_code != 302:
        return None
    with c.session_transaction() as s:
        c.csrf = s["csrf"]
    return c


def post(c, url, **data):
    return c.post(url, data={"csrf": c.csrf, **data}, follow_redirects=True)


def flashes(r):
    return re.findall(r'class="flash (\w+)"[^>]*>(.*?)</div>', r.get_data(as_text=True), re.S)


def test_only_admins(app):
    assert login(app, "wang").get("/console/admin/users").status_code == 403
    c = login(app, "admin")
    html = c.get("/console/admin/users").get_data(as_text=True)
    assert "wang" in html and "审核员" in html
    assert c.post("/console/admin/users", data={"username": "x"}).status_code == 400  # no CSRF token


def test_create_disable_reset_edit_user(app):
    c = login(app, "admin")
    r = post(c, "/console/admin/users", username="liu", display_name="刘审核", role="审核员", grid="",
             duty="08:30-17:30", days="1-5", domains="", password="")
    msg = " ".join(m for _, m in flashes(r))
    pw = re.search(r"初始密码：(\S+?)（", msg).group(1)
    assert login(app, "liu", pw) is not None
    r = post(c, "/console/admin/users", username="zhao", role="网格员", grid="", password="long-enough-1")
    assert r.status_code == 400 and "必须绑定网格" in r.get_data(as_text=True)
    post(c, "/console/admin/users", username="zhao", role="网格员", grid="QF01", password="long-enough-1",
         duty="00:00-24:00", days="1-7", domains="劳动纠纷，工伤")
    liu = login(app, "liu", pw)
    # disable: the next request and the next login both fail
    post(c, "/console/admin/users/liu/active", active="0")
    assert liu.get("/console/kb/").status_code == 302
    assert login(app, "liu", pw) is None
    post(c, "/console/admin/users/liu/active", active="1")
    r = post(c, "/console/admin/users/liu/password", password="another-pass-9")
    assert login(app, "liu", "another-pass-9") is not None and login(app, "liu", pw) is None
    # cannot disable oneself / the last admin
    r = post(c, "/console/admin/users/admin/active", active="0")
    assert any("不能停用自己" in m for _, m in flashes(r))
    # edit: role, grid, duty hours
    r = post(c, "/console/admin/users/zhao", display_name="赵网格", role="人民调解员", grid="QFZ",
             domains="婚姻家庭", duty="09:00-18:00", days="1,3,5", notify_key="")
    assert any("已保存" in m for _, m in flashes(r)), flashes(r)
    with session_scope() as s:
        u = s.scalars(select(StaffUser).where(StaffUser.username == "zhao")).one()
        node = s.get(GridNode, u.node_id)
        assert (u.role, node.code, u.duty_start, u.duty_end, u.duty_days, u.domains) == (
            "人民调解员", "QFZ", "09:00", "18:00", [0, 2, 4], ["婚姻家庭"])
        acts = [a for a, in s.execute(select(AuditLog.action).where(AuditLog.actor == "staff:admin"))]
    assert {"user_create", "user_disable", "user_enable", "user_password_reset", "user_update"} <= set(acts)
    r = post(c, "/console/admin/users/zhao", role="网格员", grid="", duty="9-18", days="1-5")
    assert any("值班时间" in m for _, m in flashes(r))


def test_grid_import_preview_then_apply(app):
    c = login(app, "admin")
    body = ("code,name,level,parent,kind,centre,aliases,lat,lon\n"
            "QF01,大塘网格（新名）,grid,QFDT,,,大塘,,\n"
            "QF99,新建网格,grid,QFDT,,,新村|新建,30.1,120.1\n").encode("utf-8")
    with session_scope() as s:
        parent = s.get(GridNode, s.scalars(select(GridNode.parent_id).where(GridNode.code == "QF01")).one())
        body = body.replace(b"QFDT", parent.code.encode())
        old_name = s.scalars(select(GridNode.name).where(GridNode.code == "QF01")).one()
    r = c.post("/console/admin/grids", data={"csrf": c.csrf, "file": (io.BytesIO(body), "g.csv")},
               content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert "新增 <strong>1</strong> 个，修改 <strong>1</strong> 个" in html
    assert old_name in html and "大塘网格（新名）" in html and "不会被删除" in html
    with session_scope() as s:  # nothing written yet
        assert s.scalars(select(GridNode).where(GridNode.code == "QF99")).first() is None
    token = re.search(r'name="token" value="([0-9a-f]+)"', html).group(1)
    r = post(c, "/console/admin/grids/apply", token=token, suffix=".csv", filename="g.csv")
    assert any("新增 1 个，更新 1 个" in m for _, m in flashes(r)), flashes(r)
    with session_scope() as s:
        assert s.scalars(select(GridNode.name).where(GridNode.code == "QF01")).one() == "大塘网格（新名）"
        assert s.scalars(select(GridNode).where(GridNode.code == "QF99")).one().aliases == ["新村", "新建"]
    bad = "code,name,level,parent\nX1,某网格,grid,NOPE\n".encode()
    r = c.post("/console/admin/grids", data={"csrf": c.csrf, "file": (io.BytesIO(bad), "bad.csv")},
               content_type="multipart/form-data")
    assert "上级 NOPE 不存在" in r.get_data(as_text=True) and "grid-apply" not in r.get_data(as_text=True)


def test_canned_replies(app):
    from consoles.admin import CANNED, canned_replies

    assert canned_replies() == CANNED
    c = login(app, "admin")
    assert CANNED[1] in c.get("/console/admin/canned").get_data(as_text=True)
    post(c, "/console/admin/canned", texts="您好，我是{who}。\n\n我们明天上午到您家看看。\n")
    assert canned_replies() == ["您好，我是{who}。", "我们明天上午到您家看看。"]
    r = post(c, "/console/admin/canned", texts="坏的 {name}")
    assert any("花括号" in m for _, m in flashes(r))
    post(c, "/console/admin/canned", texts="")
    assert canned_replies() == CANNED
