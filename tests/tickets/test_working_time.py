"""Routing that keeps cases low: working hours and holidays per tier (data/grids/sample.yml),
the SLA clock in working time, urgent cases out of hours to the town's on-call person, and a
reason in words for every step."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from mingbai.db import session_scope
from tests.tickets.fixtures import SAMPLE, local_dt, make_staff
from tickets import clock, service
from tickets.clock import CN_HOLIDAYS_2026, CN_HOLIDAYS_2027, CN_WORKDAYS_2026, builtin_calendar, local
from tickets.grids import calendar_for, read_calendars
from tickets.lifecycle import history
from tickets.models import AuditLog, GridNode, StaffNotification, Ticket
from tickets.sla import tick


def _staff_office():
    make_staff("grid1", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    make_staff("vil1", "人民调解员", "QFZ-DT", duty="08:00-18:00", days="1-6")
    make_staff("town1", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5")
    make_staff("qfz-duty", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5")  # named on_call in sample.yml
    make_staff("county1", "人民调解员", "QFX", duty="08:30-17:30", days="1-5")


def _due(t, key):
    return local(datetime.fromisoformat(t[key]))


def test_sunday_noise_complaint_stays_at_the_grid(sqlite_db):
    _staff_office()
    clock.set_now(local_dt(2026, 12, 6, 10, 0))  # Sunday morning
    t = service.open_ticket("web:noise", domain="侵权", subtype="噪音", summary="邻居半夜唱歌太吵",
                            location="清风镇大塘一组")
    assert (t["tier"], t["node"], t["status"]) == (1, "QF01", "new")
    # the 1 h / 24 h clock runs in the grid's working time (Mon–Fri 08:30–17:30)
    assert _due(t, "ack_due") == local_dt(2026, 12, 7, 9, 30)
    assert _due(t, "answer_due") == local_dt(2026, 12, 9, 14, 30)   # 9 h Mon + 9 h Tue + 6 h Wed
    with session_scope() as s:
        tk = s.get(Ticket, t["id"])
        steps = history(s, tk)
        notified = s.scalars(select(StaffNotification.username).where(StaffNotification.ticket_id == t["id"])).all()
    assert steps[0]["kind"] == "route" and "非工作时间" in steps[0]["why"] and "12-07 08:30" in steps[0]["why"]
    assert notified == ["grid1"]          # the grid worker sees it on Monday morning
    # nothing breaches over the weekend; Monday 09:30 it does, and goes to the village
    assert tick(local_dt(2026, 12, 7, 9, 29, 59))["escalated"] == 0
    assert tick(local_dt(2026, 12, 7, 9, 30))["escalated"] == 1
    got = service.get_ticket(t["number"])
    assert (got["tier"], got["node"]) == (2, "QFZ-DT")
    assert _due(got, "ack_due") == local_dt(2026, 12, 7, 10, 30)
    with session_scope() as s:
        steps = history(s, s.get(Ticket, t["id"]))
    assert [h["kind"] for h in steps] == ["route", "ack_breach"]
    assert "网格未在1 小时（工作时间）内受理（12-07 09:30 到期）" in steps[1]["why"]
    assert "大塘村" in steps[1]["why"]


def test_urgent_case_out_of_hours_goes_to_the_towns_on_call_person(sqlite_db):
    _staff_office()
    clock.set_now(local_dt(2026, 12, 6, 22, 0))  # Sunday night
    t = service.open_ticket("web:fight", domain="侵权", summary="两家为宅基地吵起来了，要动手", location="大塘一组",
                            urgency="urgent")
    assert (t["tier"], t["node"], t["assignee"]) == (3, "QFZ", "qfz-duty")
    assert _due(t, "ack_due") == local_dt(2026, 12, 6, 22, 30)      # urgent: wall clock, 30 min
    with session_scope() as s:
        notified = s.scalars(select(StaffNotification.username).where(StaffNotification.ticket_id == t["id"])).all()
        why = history(s, s.get(Ticket, t["id"]))[0]["why"]
        opened = s.scalars(select(AuditLog).where(AuditLog.ticket_id == t["id"], AuditLog.action == "open")).one()
    assert notified == ["qfz-duty"]
    assert "网格「大塘村第一网格」非工作时间且没有值班人员" in why and "值班人员 qfz-duty" in why
    assert opened.detail["skipped"] == [1, 2] and opened.detail["assignee"] == "qfz-duty"
    # in working hours the same urgent case stays at the grid
    clock.set_now(local_dt(2026, 12, 7, 10, 0))
    t2 = service.open_ticket("web:fight2", domain="侵权", summary="又吵起来了", location="大塘一组", urgency="urgent")
    assert (t2["tier"], t2["node"]) == (1, "QF01")


def test_nobody_at_all_goes_up_at_once(sqlite_db):
    make_staff("town1", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5")
    clock.set_now(local_dt(2026, 12, 6, 10, 0))
    t = service.open_ticket("web:x", domain="侵权", summary="x", location="大塘一组")
    assert (t["tier"], t["node"]) == (3, "QFZ")          # no grid/village staff at all
    assert _due(t, "ack_due") == local_dt(2026, 12, 7, 9, 30)


def test_holidays_are_skipped_and_makeup_workdays_count(sqlite_db):
    _staff_office()
    clock.set_now(local_dt(2026, 9, 30, 17, 0))  # the day before the National Day week
    t = service.open_ticket("web:hol", domain="债权债务", summary="借钱不还", location="大塘一组")
    assert t["tier"] == 1
    # 30 min on 09-30, then 10-01..10-07 are holidays: the other 30 min on Thursday 10-08
    assert _due(t, "ack_due") == local_dt(2026, 10, 8, 9, 0)
    with session_scope() as s:
        cal = calendar_for(s, s.scalars(select(GridNode).where(GridNode.code == "QF01")).one())
    assert not cal.is_open(local_dt(2026, 10, 1, 10, 0))
    assert cal.is_open(local_dt(2026, 10, 10, 10, 0))           # Saturday, 调休上班
    assert cal.add(local_dt(2026, 10, 9, 17, 0), timedelta(hours=1)) == local_dt(2026, 10, 10, 9, 0)
    assert not cal.is_open(local_dt(2026, 2, 17, 10, 0))        # 春节
    assert not cal.is_open(local_dt(2027, 2, 8, 10, 0))         # 2027 春节 (初三, a Monday)


def test_sample_calendar_matches_builtin_holidays():
    from datetime import date

    cals = {c.code: c for c in read_calendars(SAMPLE)}
    assert {"grid", "village", "town", "county", "always"} <= set(cals)
    want = {date.fromisoformat(d) for d in CN_HOLIDAYS_2026 + CN_HOLIDAYS_2027}
    assert cals["grid"].holidays == want == builtin_calendar().holidays
    assert cals["grid"].workdays == {date.fromisoformat(d) for d in CN_WORKDAYS_2026}
    assert cals["always"].always_open
    assert cals["village"].is_open(local_dt(2026, 12, 5, 10, 0))   # Saturday: villages open
    assert not cals["grid"].is_open(local_dt(2026, 12, 5, 10, 0))


def test_working_time_arithmetic():
    cal = builtin_calendar()
    fri = local_dt(2026, 12, 4, 17, 0)
    assert cal.add(fri, timedelta(hours=1)) == local_dt(2026, 12, 7, 9, 0)
    assert cal.working_between(fri, local_dt(2026, 12, 7, 9, 0)) == timedelta(hours=1)
    assert cal.next_open(local_dt(2026, 12, 5, 12, 0)) == local_dt(2026, 12, 7, 8, 30)
    assert cal.add(local_dt(2026, 12, 7, 8, 0), timedelta(minutes=30)) == local_dt(2026, 12, 7, 9, 0)
