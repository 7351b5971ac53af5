"""POST/GET /api/v1/tickets… with Bearer tokens (staff tokens and the installation token)."""
from __future__ import annotations

import pytest
from flask import Flask

from tests.tickets.fixtures import make_staff
from tickets.users import issue_token


@pytest.fixture()
def client(db):
    from mingbai.settings import get_settings
    from tickets.api import bp

    app = Flask(__name__)
    app.register_blueprint(bp)
    make_staff("wang", "网格员", "QF01")
    make_staff("li", "网格员", "QF01")
    make_staff("chen", "网格员", "CG01")
    c = app.test_client()
    c.wang = {"Authorization": f"Bearer {issue_token('wang')}"}
    c.li = {"Authorization": f"Bearer {issue_token('li')}"}
    c.chen = {"Authorization": f"Bearer {issue_token('chen')}"}
    c.system = {"Authorization": f"Bearer {get_settings().secret('api_token')}"}
    return c


BODY = {"resident_key": "rest:hotline-1", "domain": "劳动纠纷", "subtype": "欠薪", "summary": "包工头欠薪",
        "location": "大塘一组", "phone": "13800001111"}


def test_auth_required(client):
    assert client.get("/api/v1/tickets").status_code == 401
    assert client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/tickets", headers=client.system).status_code == 200


def test_create_is_idempotent(client):
    r1 = client.post("/api/v1/tickets", json=BODY, headers={**client.system, "Idempotency-Key": "hotline-77"})
    r2 = client.post("/api/v1/tickets", json=BODY, headers={**client.system, "Idempotency-Key": "hotline-77"})
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json["number"] == r2.json["number"] == "2026-QF01-0001" or r1.json["number"].endswith("QF01-0001")
    assert "phone" not in r1.json  # integrations don't get the phone back
    assert client.post("/api/v1/tickets", json={"resident_key": "rest:x"}, headers=client.system).status_code == 400


def test_lifecycle_over_http(client):
    n = client.post("/api/v1/tickets", json=BODY, headers=client.system).json["number"]
    assert client.get(f"/api/v1/tickets/{n}", headers=client.wang).json["status"] == "new"
    assert client.get("/api/v1/tickets/2026-NO-0001", headers=client.wang).status_code == 404
    assert client.post(f"/api/v1/tickets/{n}/claim", headers=client.wang).status_code == 200
    r = client.post(f"/api/v1/tickets/{n}/claim", headers=client.li)
    assert r.status_code == 409 and "已经有人认领" in r.json["error"]
    r = client.post(f"/api/v1/tickets/{n}/status", json={"to": "resolved", "outcome": "调解成功"}, headers=client.wang)
    assert r.status_code == 409 and "不能改为「已办结」" in r.json["error"]
    for to in ("acknowledged", "in_mediation"):
        assert client.post(f"/api/v1/tickets/{n}/status", json={"to": to}, headers=client.wang).status_code == 200
    r = client.post(f"/api/v1/tickets/{n}/reply", json={"text": "明天上午来村委会，电话13800001111"}, headers=client.wang)
    assert r.status_code == 200
    assert client.post(f"/api/v1/tickets/{n}/reply", json={"text": "x"}, headers=client.system).status_code == 403
    msgs = client.get(f"/api/v1/tickets/{n}/messages", headers=client.wang).json["messages"]
    assert msgs[-1]["author"] == "staff:wang" and "138****1111" in msgs[-1]["text"]
    assert client.post(f"/api/v1/tickets/{n}/notes", json={"text": "老板答应周五付"}, headers=client.wang).status_code == 201
    r = client.post(f"/api/v1/tickets/{n}/status", json={"to": "resolved", "outcome": "调解成功",
                                                         "resolution": "周五前付清"}, headers=client.wang)
    assert r.status_code == 200 and r.json["outcome"] == "调解成功"
    listing = client.get("/api/v1/tickets?resident_key=rest:hotline-1", headers=client.wang).json
    assert listing["count"] == 1 and listing["tickets"][0]["status"] == "resolved"
    assert client.get("/api/v1/tickets?open=1", headers=client.wang).json["count"] == 0
    assert client.get("/api/v1/tickets?node=QFZ", headers=client.wang).json["count"] == 1
    assert client.get("/api/v1/tickets?node=CGJD", headers=client.wang).json["count"] == 0
    # another street's staff token sees nothing of 清风镇; the installation token sees everything
    assert client.get(f"/api/v1/tickets/{n}", headers=client.chen).status_code == 403
    assert client.post(f"/api/v1/tickets/{n}/notes", json={"text": "x"}, headers=client.chen).status_code == 403
    assert client.get("/api/v1/tickets", headers=client.chen).json["count"] == 0
    assert client.get("/api/v1/tickets", headers=client.system).json["count"] == 1


def test_escalate_over_http(client):
    n = client.post("/api/v1/tickets", json=BODY, headers=client.system).json["number"]
    r = client.post(f"/api/v1/tickets/{n}/escalate", json={"note": "需要镇里"}, headers=client.wang)
    assert r.status_code == 200 and r.json["status"] == "escalated" and r.json["tier"] > 1
