"""Retention (tickets.retention): after N days the transcript's texts, the outbox's copies and
finished tickets' personal data go; recent rows, open cases and the anonymous statistics stay."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import timedelta

from sqlalchemy import select

from mingbai.db import session_scope
from mingbai.outbox import Outbox
from tests.tickets.fixtures import local_dt
from tickets import clock, retention, service
from tickets.feedback import UnansweredItem
from tickets.models import Message, Ticket, TicketNote

NOW = local_dt(2026, 12, 1, 10, 0)
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=10)
PHONE = "13812345678"


def _close(number: str, when, resolution: str) -> None:
    with session_scope() as s:
        t = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        t.status, t.closed_at, t.resolved_at, t.updated_at = "closed", when, when, when
        t.outcome, t.resolution = "调解成功", resolution
        s.add(TicketNote(ticket_id=t.id, author="wang", text=f"已电话 {PHONE} 联系，住幸福路12号", created_at=when))


def _messages(rk: str) -> list[str]:
    with session_scope() as s:
        return list(s.scalars(select(Message.text).where(Message.resident_key == rk).order_by(Message.id)))


def _ticket(number: str) -> Ticket:
    with session_scope() as s:
        return s.scalars(select(Ticket).where(Ticket.number == number)).one()


def _world():
    """old: a finished case 200 days ago; busy: old messages but a case still open;
    recent: everything 10 days old."""
    clock.set_now(OLD)
    for rk in ("web:old", "web:busy"):
        service.record_consent(rk, True)
        service.record_message(rk, "in", f"老板欠我工资，我电话 {PHONE}", "resident", "web")
        service.record_message(rk, "out", "请问欠了多少？", "bot", "web")
    old = service.open_ticket("web:old", domain="劳动纠纷", summary=f"欠薪三个月，电话{PHONE}", parties=["张老板"],
                              location="幸福路12号", phone=PHONE, preferred_time="上午")
    busy = service.open_ticket("web:busy", domain="婚姻家庭", summary="离婚财产", phone=PHONE)
    record_only = service.open_ticket("web:old", domain="侵权", summary="邻居打人", consent=False)
    _close(old["number"], OLD + timedelta(days=1), f"双方和解，张老板当场付清，居民电话 {PHONE}")
    with session_scope() as s:
        s.add(Outbox(resident_key="web:old", channel="web", text="工作人员：已收到", status="polled", created_at=OLD))
        s.add(Outbox(resident_key="web:old", channel="wechat", text="还没发出", status="failed", created_at=OLD))
        s.add(UnansweredItem(ref="u-old", kind="unsure", resident_key="web:old", question=f"我的电话{PHONE}",
                             status="done", created_at=OLD))
        s.add(UnansweredItem(ref="u-open", kind="unsure", resident_key="web:old", question="还在等答复的问题",
                             status="open", created_at=OLD))
    clock.set_now(RECENT)
    service.record_consent("web:recent", True)
    service.record_message("web:recent", "in", f"我电话 {PHONE}", "resident", "web")
    recent = service.open_ticket("web:recent", domain="劳动纠纷", summary="工伤", phone=PHONE)
    _close(recent["number"], RECENT, "已办结")
    with session_scope() as s:
        s.add(Outbox(resident_key="web:recent", channel="web", text="最近的回复", status="polled", created_at=RECENT))
    clock.set_now(NOW)
    return old["number"], busy["number"], record_only["number"], recent["number"]


def test_purge_old_keeps_recent_open_and_statistics(db):
    old, busy, record_only, recent = _world()
    stats_before = retention.statistics()
    grid_before = _ticket(old).grid_code
    assert stats_before["tickets"] and stats_before["messages"]

    dry = retention.purge(180, dry_run=True)
    assert (dry["messages"], dry["tickets"], dry["outbox"], dry["unanswered"]) == (2, 2, 1, 1)
    assert PHONE in _messages("web:old")[0]  # a dry run changes nothing

    res = retention.purge(180)
    assert (res["messages"], res["tickets"], res["outbox"], res["unanswered"]) == (2, 2, 1, 1)
    assert res["notes"] == 1

    # transcript: old texts gone (rows kept for the counts), open case and recent ones kept
    assert _messages("web:old") == [retention.PURGED_TEXT] * 2
    assert PHONE in _messages("web:busy")[0] and PHONE in _messages("web:recent")[0]
    # tickets: the finished old ones lose their personal data, keep what the statistics need
    t = _ticket(old)
    assert t.summary == retention.PURGED_SUMMARY and t.phone is None and not t.parties
    assert t.preferred_time is None and "12号" not in (t.location or "") and PHONE not in t.resolution
    assert (t.domain, t.outcome, t.status, t.grid_code) == ("劳动纠纷", "调解成功", "closed", grid_before)
    assert _ticket(record_only).summary == retention.PURGED_SUMMARY
    with session_scope() as s:
        note = s.scalars(select(TicketNote).where(TicketNote.ticket_id == t.id)).one()
        assert PHONE not in note.text and "138****5678" in note.text
        outbox = {(o.text, o.status) for o in s.scalars(select(Outbox))}
        items = {i.ref: i.question for i in s.scalars(select(UnansweredItem))}
    assert _ticket(busy).summary == "离婚财产" and _ticket(busy).phone == PHONE  # still open
    assert _ticket(recent).summary == "工伤" and _ticket(recent).phone == PHONE  # closed 10 days ago
    assert outbox == {("还没发出", "failed"), ("最近的回复", "polled")}
    assert items == {"u-old": retention.PURGED_TEXT, "u-open": "还在等答复的问题"}

    # the anonymous statistics are the same as before the purge
    assert retention.statistics() == stats_before
    by_day = {(r["day"], r["domain"], r["outcome"]): r["count"] for r in stats_before["tickets"]}
    assert by_day[(OLD.date().isoformat(), "劳动纠纷", "调解成功")] == 1
    assert by_day[(RECENT.date().isoformat(), "劳动纠纷", "调解成功")] == 1

    # a second run finds nothing left
    again = retention.purge(180)
    assert (again["messages"], again["tickets"], again["outbox"], again["unanswered"]) == (0, 0, 0, 0)


def test_cli_purge_dry_run_and_days(db):
    _world()
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert retention.main(["purge", "--days", "180", "--dry-run"]) == 0
    out = buf.getvalue()
    assert json.loads(out[: out.rindex("}") + 1])["messages"] == 2 and "将删除" in out
    assert PHONE in _messages("web:old")[0]
    with redirect_stdout(io.StringIO()):
        assert retention.main(["purge", "--days", "5"]) == 0  # everything finished is older than 5 days
    assert _messages("web:recent") == [retention.PURGED_TEXT]
    with redirect_stdout(io.StringIO()):
        assert retention.main(["purge", "--days", "0"]) == 2


def test_retention_days_setting(db, monkeypatch):
    from mingbai.settings import reset_settings_cache

    _world()
    monkeypatch.setenv("MINGBAI_RETENTION_DAYS", "365")
    reset_settings_cache()
    try:
        assert retention.purge()["messages"] == 0  # nothing is a year old
        monkeypatch.setenv("MINGBAI_RETENTION_DAYS", "0")
        reset_settings_cache()
        buf = io.StringIO()
        with redirect_stdout(buf):
            assert retention.main(["purge"]) == 0
        assert "已关闭" in buf.getvalue()
    finally:
        monkeypatch.delenv("MINGBAI_RETENTION_DAYS")
        reset_settings_cache()
