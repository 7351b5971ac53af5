"""平安报表 that tells the truth: SLA met only when actually met, pending-not-due apart,
pending-overdue missed; RAG by configurable rules; CSV columns; the page's charts."""
from __future__ import annotations

import csv
import io

import pytest

from tests.tickets.fixtures import local_dt, make_staff
from tickets import clock, report, service
from tickets.sla import tick

MONDAY9 = local_dt(2026, 11, 30, 9, 0)


def _open(rk, **kw):
    base = dict(domain="侵权", subtype="邻里纠纷", summary=f"事情 {rk}", location="大塘一组")
    base.update(kw)
    return service.open_ticket(rk, **base)


def test_unacknowledged_ticket_is_not_met(db):
    make_staff("wang", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    make_staff("zhao", "人民调解员", "QFZ-DT", duty="08:00-18:00", days="1-6")
    clock.set_now(MONDAY9)
    a = _open("web:a")                      # nobody ever acknowledges it
    b = _open("web:b")                      # acknowledged after 20 min: met
    c = _open("web:c")                      # acknowledged after 2 h: late, escalated first
    clock.set_now(local_dt(2026, 11, 30, 9, 20))
    service.change_status(b["number"], "acknowledged", "staff:wang")

    r = report.build("month", "2026-11", now=local_dt(2026, 11, 30, 9, 30))
    s = r["summary"]
    assert (s["ack_met"], s["ack_missed"], s["ack_pending"]) == (1, 0, 2)   # a, c not yet due: apart
    assert s["ack_rate"] == 100.0

    # 10:30, the scheduler has not run: a and c are pending and overdue → missed, not "on time"
    r = report.build("month", "2026-11", now=local_dt(2026, 11, 30, 10, 30))
    s = r["summary"]
    assert (s["ack_met"], s["ack_missed"], s["ack_pending"], s["ack_overdue_pending"]) == (1, 2, 0, 2)
    assert s["ack_rate"] == pytest.approx(33.3)

    # the breach escalates a and c; c is acknowledged later by the village: still missed
    tick(local_dt(2026, 11, 30, 10, 0))
    clock.set_now(local_dt(2026, 11, 30, 11, 0))
    service.change_status(c["number"], "acknowledged", "staff:zhao")
    r = report.build("month", "2026-11", now=local_dt(2026, 11, 30, 11, 0))
    s = r["summary"]
    assert (s["ack_met"], s["ack_missed"], s["ack_pending"]) == (1, 2, 0)
    assert s["escalated"] == 2 and r["total"] == 3
    # answers: none yet, all still within 24 working hours → pending, not missed
    assert (s["answer_met"], s["answer_missed"], s["answer_pending"]) == (0, 0, 3)
    grid = next(g for g in r["grids"] if g["code"] == "QF01")
    assert grid["total"] == 3 and grid["backlog"] == 3
    assert a["number"]  # (a stays unacknowledged)
    # scope: the other street sees none of it
    assert report.build("month", "2026-11", scope="CGJD", now=local_dt(2026, 11, 30, 11, 0))["total"] == 0
    # a week view of the same days, and the trend is zero-filled per day
    w = report.build("week", "2026-W49", now=local_dt(2026, 11, 30, 11, 0))
    assert w["label"] == "2026-W49" and w["total"] == 3 and len(w["trend"]["labels"]) == 7
    assert w["trend"]["counts"][0] == 3


def test_resolution_level_success_and_satisfaction(sqlite_db):
    make_staff("wang", "网格员", "QF01")
    clock.set_now(MONDAY9)
    n = _open("web:r1")["number"]
    for to in ("acknowledged", "in_mediation"):
        service.change_status(n, to, "staff:wang")
    service.change_status(n, "resolved", "staff:wang", outcome="调解成功")
    service.set_satisfaction(n, 5, "staff:wang")
    m = _open("web:r2", domain="劳动纠纷", subtype="欠薪")["number"]
    service.change_status(m, "escalated", "staff:wang", note="需要镇里")
    r = report.build("month", "2026-11", now=local_dt(2026, 11, 30, 9, 30))
    s = r["summary"]
    assert (s["resolved"], s["success"], s["success_rate"], s["low_level_rate"]) == (1, 1, 100.0, 100.0)
    assert s["escalated"] == 1 and s["satisfaction"] == 5.0
    assert dict(r["by_domain"]) == {"侵权": 1, "劳动纠纷": 1}
    assert ("欠薪", 1) in r["by_subtype"]


def test_rag_follows_the_rules(fresh_home):
    row = dict(report._ZERO, total=10, backlog=0)
    row.update(ack_rate=99.0, answer_rate=95.0, success_rate=90.0, low_level_rate=90.0, satisfaction=4.5,
               overdue_open=0)
    rules = report.rag_rules()
    assert report.rag(row, rules) == ("green", [])
    assert report.rag({**row, "ack_rate": 90.0}, rules)[0] == "yellow"
    colour, why = report.rag({**row, "ack_rate": 70.0, "overdue_open": 1}, rules)
    assert colour == "red" and "红：受理及时率 70 < 80" in why and "黄：超时未办 1 ≥ 1" in why
    assert report.rag({**row, "overdue_open": 3}, rules)[0] == "red"
    assert report.rag({**row, "success_rate": None}, rules)[0] == "green"      # no data: not judged
    assert report.rag({**row, "total": 0}, rules)[0] == "grey"
    # thresholds come from $MINGBAI_HOME/report.yml
    (fresh_home / "report.yml").write_text("rag:\n  ack_rate: {red_below: 99.5, yellow_below: 100}\n",
                                           encoding="utf-8")
    assert report.rag(row, report.rag_rules())[0] == "red"
    assert report.rag_rules()["answer_rate"] == report.RAG_DEFAULTS["answer_rate"]


@pytest.fixture()
def admin_client(sqlite_db):
    from mingbai.web import create_app

    app = create_app()
    app.config["TESTING"] = True
    make_staff("admin", "管理员", None)
    make_staff("wang", "网格员", "QF01")
    c = app.test_client()
    assert c.post("/console/login", data={"username": "admin", "password": "secret-pass-1"}).status_code == 302
    return c


def test_csv_export_columns(admin_client):
    clock.set_now(MONDAY9)
    _open("web:csv")
    r = admin_client.get("/console/report.csv?period=month&at=2026-11")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == report.CSV_COLUMNS
    assert rows[0][:6] == ["周期", "层级", "编码", "名称", "所属", "登记"]
    by_code = {row[2]: row for row in rows[1:]}
    assert by_code["QF01"][1] == "网格" and by_code["QF01"][5] == "1"
    assert by_code["QFZ"][1] == "乡镇/街道" and rows[-1][1] == "合计" and rows[-1][5] == "1"
    assert all(len(row) == len(report.CSV_COLUMNS) for row in rows)
    assert admin_client.get("/console/report.csv?period=week&at=bad").status_code == 400


def test_report_page_has_charts_and_vendored_chartjs(admin_client):
    clock.set_now(MONDAY9)
    _open("web:page")
    page = admin_client.get("/console/report?period=month&at=2026-11&scope=QFZ").get_data(as_text=True)
    assert '<canvas id="chart-trend"' in page and '<canvas id="chart-sla"' in page
    assert "/console/static/vendor/chartjs/chart.umd.min.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    assert 'id="total">1<' in page and 'data-code="QF01"' in page and "@media print" in page
    js = admin_client.get("/console/static/vendor/chartjs/chart.umd.min.js")
    assert js.status_code == 200 and b"Chart.js v4" in js.data[:200]
    assert admin_client.get("/console/report?period=week&at=2026-W49").status_code == 200
    assert admin_client.get("/console/report?period=year&at=2026").status_code == 200
    assert admin_client.get("/console/report?month=2026-13").status_code == 400
