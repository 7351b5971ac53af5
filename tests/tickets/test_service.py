"""The service API the bot and connectors call, against SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from mingbai.db import get_engine, session_scope
from tests.tickets.fixtures import local_dt, make_staff
from tickets import clock, service
from tickets.lifecycle import TransitionError
from tickets.models import AuditLog, AuditLogImmutable, Message, Resident, Ticket


def _audit(number):
    with session_scope() as s:
        tid = s.scalar(select(Ticket.id).where(Ticket.number == number))
        return [(a.actor, a.action, (a.detail or {}).get("to")) for a in
                s.scalars(select(AuditLog).where(AuditLog.ticket_id == tid).order_by(AuditLog.id))]


def test_full_lifecycle(db):
    clock.set_now(local_dt(2026, 11, 30, 9, 0))  # Monday morning
    make_staff("wang", "网格员", "QF01")
    make_staff("zhao", "人民调解员", "QFZ-DT")
    rk = "web:resident-1"
    service.record_consent(rk, True)
    assert service.has_consent(rk)
    loc = service.set_location(rk, label="大塘二组")
    assert loc["grid"] == "QF01"
    t = service.open_ticket(rk, domain="侵权", subtype="邻里纠纷", summary="邻居把鸡舍搭到我家地里",
                            parties=["张三", "李四"], phone="13812345678")
    assert t["created"] and t["number"] == "2026-QF01-0001"
    assert (t["status"], t["tier"], t["grid"], t["assignee"]) == ("new", 1, "QF01", None)
    assert datetime.fromisoformat(t["ack_due"]) == local_dt(2026, 11, 30, 10, 0)
    # 24 h of the grid's working time (Mon–Fri 08:30–17:30): Mon 8.5 h + Tue 9 h + Wed 6.5 h
    assert datetime.fromisoformat(t["answer_due"]) == local_dt(2026, 12, 2, 15, 0)
    n = t["number"]

    assert service.claim(n, "wang") and not service.claim(n, "zhao")
    service.change_status(n, "acknowledged", "staff:wang")
    with pytest.raises(TransitionError, match="不能改为「已办结」"):
        service.change_status(n, "resolved", "staff:wang", outcome="调解成功")
    clock.set_now(local_dt(2026, 11, 30, 9, 20))
    assert service.staff_reply(n, "wang", "您好，我是网格员小王，下午来看看。") in (True, False)
    got = service.get_ticket(n)
    assert got["answered_at"] is not None  # a staff reply answers the resident
    service.change_status(n, "in_mediation", "staff:wang")
    # 调解未成功 must name the next route
    with pytest.raises(TransitionError, match="仲裁、诉讼 或 行政部门"):
        service.change_status(n, "resolved", "staff:wang", outcome="调解未成功")
    service.change_status(n, "escalated", "staff:wang", note="涉及宅基地，需村里协调")
    got = service.get_ticket(n)
    assert (got["tier"], got["node"], got["status"], got["assignee"]) == (2, "QFZ-DT", "escalated", None)
    service.claim(n, "zhao")
    service.change_status(n, "acknowledged", "staff:zhao")
    service.change_status(n, "in_mediation", "staff:zhao")
    service.change_status(n, "resolved", "staff:zhao", outcome="调解未成功", next_route="诉讼")
    got = service.get_ticket(n)
    assert (got["status"], got["outcome"], got["next_route"]) == ("resolved", "调解未成功", "诉讼")
    service.ask_satisfaction(n, "zhao")
    service.record_message(rk, "in", "4", "resident", "web")  # the resident answers the survey
    assert service.get_ticket(n)["satisfaction"] == 4
    service.change_status(n, "closed", "staff:zhao")
    with pytest.raises(TransitionError):
        service.change_status(n, "acknowledged", "staff:zhao")

    trail = _audit(n)
    assert [a for a in trail if a[1] == "transition"] == [
        ("staff:wang", "transition", "acknowledged"), ("staff:wang", "transition", "in_mediation"),
        ("staff:zhao", "transition", "acknowledged"), ("staff:zhao", "transition", "in_mediation"),
        ("staff:zhao", "transition", "resolved"), ("staff:zhao", "transition", "closed")]
    assert ("staff:wang", "escalate", None) in trail and ("staff:wang", "claim", None) in trail
    mine = service.tickets_for_resident(rk)
    assert [m["number"] for m in mine] == [n] and mine[0]["status_label"] == "已关闭"
    # the resident heard about the escalation in the transcript
    texts = [m["text"] for m in service.transcript(rk)]
    assert any("已转交村调委会处理" in x for x in texts)


def test_idempotent_intake(db):
    kw = dict(domain="劳动纠纷", subtype="欠薪", summary="厂里欠了三个月工资", location="工业园")
    a = service.open_ticket("web:r1", **kw, idempotency_key="intake-42")
    b = service.open_ticket("web:r1", **kw, idempotency_key="intake-42")
    assert a["created"] and not b["created"] and a["number"] == b["number"]
    # no key: the same intake twice (e.g. a retried action call) is still one ticket
    c = service.open_ticket("web:r2", **kw)
    d = service.open_ticket("web:r2", **kw)
    assert c["number"] == d["number"] and not d["created"]
    e = service.open_ticket("web:r2", **{**kw, "summary": "另一件事：工伤没人管"})
    assert e["created"] and e["number"] != c["number"]
    with session_scope() as s:
        assert s.scalar(text("select count(*) from tickets")) == 3


def test_idempotent_under_concurrency(db):
    kw = dict(domain="婚姻家庭", summary="要彩礼的事", location="和平路", idempotency_key="wx-msg-9")
    results, errors = [], []
    barrier = threading.Barrier(6)

    def go():
        barrier.wait()
        try:
            results.append(service.open_ticket("web:same", **kw)["number"])
        except Exception as e:  # pragma: no cover - the assertion below shows it
            errors.append(repr(e))

    threads = [threading.Thread(target=go) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(set(results)) == 1 and len(results) == 6
    with session_scope() as s:
        assert s.scalar(text("select count(*) from tickets")) == 1


def test_numbers_per_grid_per_year(db):
    clock.set_now(local_dt(2026, 12, 31, 23, 0))
    a = service.open_ticket("web:a", domain="债权债务", summary="借钱不还 1", location="大塘一组")
    b = service.open_ticket("web:b", domain="债权债务", summary="借钱不还 2", location="大塘一组")
    c = service.open_ticket("web:c", domain="债权债务", summary="借钱不还 3", location="东门老街")
    d = service.open_ticket("web:d", domain="债权债务", summary="借钱不还 4", location="火星")  # unknown place
    clock.set_now(local_dt(2027, 1, 1, 0, 30))
    e = service.open_ticket("web:e", domain="债权债务", summary="借钱不还 5", location="大塘一组")
    assert [x["number"] for x in (a, b, c, d, e)] == [
        "2026-QF01-0001", "2026-QF01-0002", "2026-CG03-0001", "2026-QFX-0001", "2027-QF01-0001"]
    assert d["tier"] == 4  # nobody knows where: the county centre sorts it out


def test_concurrent_claim_one_winner(db):
    t = service.open_ticket("web:c1", domain="物业", summary="物业费纠纷", location="幸福小区")
    for i in range(8):
        make_staff(f"s{i}", "网格员", "QF05")
    wins, barrier = [], threading.Barrier(8)

    def go(i):
        barrier.wait()
        wins.append((i, service.claim(t["number"], f"s{i}")))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    [x.start() for x in threads]
    [x.join() for x in threads]
    winners = [i for i, w in wins if w]
    assert len(wins) == 8 and len(winners) == 1
    assert service.get_ticket(t["number"])["assignee"] == f"s{winners[0]}"


def test_handoff(db):
    rk = "web:h1"
    assert not service.in_handoff(rk)
    h = service.start_handoff(rk, "想和真人说")
    assert h["ticket_number"] and not h["already"] and "工作人员" in h["message"]
    assert service.in_handoff(rk)
    assert service.start_handoff(rk, "又点了一次")["handoff_id"] == h["handoff_id"]  # no duplicates
    service.record_message(rk, "in", "你好，有人吗", "resident", "web")
    service.end_handoff(rk, "staff:wang")  # bot.rasa_client may be down: only a warning
    assert not service.in_handoff(rk)
    service.end_handoff(rk, "staff:wang")  # idempotent
    # a handoff onto an existing ticket
    t = service.open_ticket("web:h2", domain="劳动纠纷", summary="工伤", location="茶厂")
    h2 = service.start_handoff("web:h2", "复杂", t["number"])
    assert h2["ticket_number"] == t["number"]
    with pytest.raises(service.TicketError):
        service.start_handoff("web:h3", "x", "2026-NOPE-0001")


def test_consent_refused_and_forget(db):
    # no consent to pass it on: recorded for the statistics only, without personal data
    rec = service.open_ticket("web:f0", domain="侵权", summary="邻居打人，电话13912345678", phone="13912345678",
                              parties=["王五"], location="大塘一组", consent=False)
    assert rec["created"] and rec["status"] == "closed" and rec["consent"] is False and rec["grid"] == "QF01"
    kept = service.get_ticket(rec["number"], with_phone=True)
    assert kept["phone"] is None and kept["parties"] == [] and kept["location"] is None
    assert "13912345678" not in kept["summary"] and not service.has_consent("web:f0")
    service.record_consent("web:f1", False)
    assert not service.has_consent("web:f1")
    service.record_consent("web:f1", True)
    service.record_message("web:f1", "in", "我的电话是 13912345678", "resident", "web")
    service.record_message("web:f1", "out", "收到", "bot", "web")
    t = service.open_ticket("web:f1", domain="侵权", summary="邻居打人，电话13912345678", phone="13912345678",
                            parties=["王五"])
    service.start_handoff("web:f1", "人工")
    n = service.forget_resident("web:f1")
    assert n >= 5
    assert not service.has_consent("web:f1") and not service.in_handoff("web:f1")
    assert service.transcript("web:f1") == [] and service.tickets_for_resident("web:f1") == []
    kept = service.get_ticket(t["number"], with_phone=True)  # the mediation record stays, anonymous
    assert kept["summary"] == "（应居民要求已删除）" and kept["phone"] is None and kept["parties"] == []
    assert kept["resident_key"].startswith("forgotten:")
    with session_scope() as s:
        assert s.get(Resident, "web:f1") is None
        assert not s.scalars(select(Message).where(Message.resident_key == "web:f1")).all()
        dump = " ".join(str(a.subject) + str(a.detail) for a in s.scalars(select(AuditLog)))
        assert "web:f1" not in dump.replace("staff:", "")


def test_audit_log_is_append_only(db):
    service.record_consent("web:a1", True)
    with pytest.raises(AuditLogImmutable):
        with session_scope() as s:
            s.scalars(select(AuditLog)).first().action = "tampered"
    with pytest.raises(AuditLogImmutable):
        with session_scope() as s:
            s.delete(s.scalars(select(AuditLog)).first())
    # the database refuses too, whoever asks
    for sql in ("UPDATE audit_log SET action='x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with get_engine().begin() as conn:
                conn.execute(text(sql))


def test_bad_input(db):
    with pytest.raises(service.TicketError):
        service.open_ticket("web:b", domain="侵权", summary="   ")
    with pytest.raises(service.TicketError):
        service.open_ticket("web:b", domain="侵权", summary="x", urgency="very")
    with pytest.raises(service.TicketError):
        service.record_message("web:b", "sideways", "x", "bot", "web")
    with pytest.raises(service.TicketError):
        service.get_ticket("2026-XX-9999")
    # subtype alone picks the domain from the taxonomy
    assert service.open_ticket("web:b", domain=None, subtype="欠薪", summary="工资")["domain"] == "劳动纠纷"


def test_emergency_deadlines_in_minutes(db):
    clock.set_now(local_dt(2026, 11, 30, 9, 0))
    t = service.open_ticket("web:e", domain="侵权", summary="有人拿刀", location="大塘一组", urgency="emergency")
    assert datetime.fromisoformat(t["ack_due"]) - local_dt(2026, 11, 30, 9, 0) == timedelta(minutes=10)
    assert datetime.fromisoformat(t["answer_due"]) - local_dt(2026, 11, 30, 9, 0) == timedelta(minutes=60)
