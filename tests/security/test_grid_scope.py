"""Grid scope, one rule (tickets/scope.py) for the console and the REST API: a ticket escalated
away from a grid stays readable there but not writable; a staff token opens tickets only in its
own grids."""
from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from mingbai.db import session_scope
from tests.tickets.fixtures import make_staff, sqlite_db  # noqa: F401  (fixture)
from tickets import service
from tickets.models import Resident, Ticket
from tickets.users import issue_token

PW = "secret-pass-1"
CASE = dict(domain="侵权", subtype="邻里纠纷", summary="隔壁装修到半夜", location="大塘一组")


@pytest.fixture()
def grid_staff(sqlite_db):  # noqa: F811
    make_staff("wang", "网格员", "QF01")      # the grid the case comes from
    make_staff("zhou", "人民调解员", "QFZ")    # the town above it
    make_staff("chen", "网格员", "CG01")      # another street


def _escalated() -> str:
    n = service.open_ticket("web:scope-1", **CASE)["number"]
    t = service.change_status(n, "escalated", "staff:wang", note="需要镇里")
    assert t["node"] == "QFZ" and t["grid"] == "QF01" and t["assignee"] != "wang"
    return n


@pytest.fixture()
def api(grid_staff):
    from mingbai.settings import get_settings
    from tickets.api import bp

    app = Flask(__name__)
    app.register_blueprint(bp)
    c = app.test_client()
    c.h = {u: {"Authorization": f"Bearer {issue_token(u)}"} for u in ("wang", "zhou", "chen")}
    c.h["system"] = {"Authorization": f"Bearer {get_settings().secret('api_token')}"}
    return c


def test_api_escalated_ticket_is_read_only_for_the_grid_it_left(api):
    n = _escalated()
    assert api.get(f"/api/v1/tickets/{n}", headers=api.h["wang"]).status_code == 200
    assert api.get(f"/api/v1/tickets/{n}/messages", headers=api.h["wang"]).status_code == 200
    for path, body in (("notes", {"text": "x"}), ("status", {"to": "acknowledged"}), ("claim", {}),
                       ("escalate", {}), ("reply", {"text": "x"})):
        r = api.post(f"/api/v1/tickets/{n}/{path}", json=body, headers=api.h["wang"])
        assert r.status_code == 403, path
    assert api.post(f"/api/v1/tickets/{n}/notes", json={"text": "镇里接手"}, headers=api.h["zhou"]).status_code == 201
    assert api.get(f"/api/v1/tickets/{n}", headers=api.h["chen"]).status_code == 403
    assert api.post("/api/v1/tickets/2026-NO-0001/notes", json={"text": "x"}, headers=api.h["wang"]).status_code == 400


def test_api_creates_only_in_the_tokens_grids(api):
    body = {"resident_key": "rest:scope-2", **CASE}
    r = api.post("/api/v1/tickets", json=body, headers={**api.h["chen"], "Idempotency-Key": "k-1"})
    assert r.status_code == 403 and "辖区" in r.json["error"]
    with session_scope() as s:  # nothing written, not even the resident's row
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
        assert s.get(Resident, "rest:scope-2") is None
    r = api.post("/api/v1/tickets", json=body, headers={**api.h["wang"], "Idempotency-Key": "k-1"})
    assert r.status_code == 201 and r.json["grid"] == "QF01"
    # replaying another grid's intake does not hand its ticket out
    r = api.post("/api/v1/tickets", json=body, headers={**api.h["chen"], "Idempotency-Key": "k-1"})
    assert r.status_code == 403
    r = api.post("/api/v1/tickets", json=body, headers={**api.h["zhou"], "Idempotency-Key": "k-1"})
    assert r.status_code == 200 and r.json["created"] is False
    other = {"resident_key": "rest:scope-3", **CASE, "location": "城关街道"}
    assert api.post("/api/v1/tickets", json=other, headers=api.h["system"]).status_code == 201


def _login(app, user):
    c = app.test_client()
    assert c.post("/console/login", data={"username": user, "password": PW}).status_code == 302
    with c.session_transaction() as s:
        c.csrf = s["csrf"]
    return c


def test_console_escalated_ticket_is_read_only_for_the_grid_it_left(grid_staff):
    from mingbai.web import create_app

    app = create_app()
    app.config["TESTING"] = True
    n = _escalated()
    wang, zhou = _login(app, "wang"), _login(app, "zhou")
    page = wang.get(f"/console/t/{n}").get_data(as_text=True)
    assert 'id="read-only"' in page and 'id="reply-form"' not in page and 'id="escalate-btn"' not in page
    for path in ("note", "reply", "claim", "escalate", "handoff/start"):
        assert wang.post(f"/console/t/{n}/{path}", data={"csrf": wang.csrf, "text": "x"}).status_code == 403, path
    page = zhou.get(f"/console/t/{n}").get_data(as_text=True)
    assert 'id="reply-form"' in page and 'id="read-only"' not in page
    r = zhou.post(f"/console/t/{n}/note", data={"csrf": zhou.csrf, "text": "镇里接手"}, follow_redirects=True)
    assert re.findall(r'class="flash (\w+)">', r.get_data(as_text=True)) == ["ok"]
    assert _login(app, "chen").get(f"/console/t/{n}").status_code == 403
