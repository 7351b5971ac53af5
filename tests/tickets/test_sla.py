"""SLA escalation: a simulated week with a controllable clock, catch-up after downtime,
configurable limits, and several processes ticking at once."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from mingbai.db import session_scope
from tests.tickets.fixtures import ROOT, local_dt, make_staff
from tickets import clock, service
from tickets.models import Escalation, Message, Ticket
from tickets.policy import limits
from tickets.sla import tick

WEEK_START = local_dt(2026, 11, 30, 0, 0)  # a Monday
PLACES = ["大塘一组", "大塘五组", "柳湾渡口", "锦绣花园", "幸福小区", "和平路", "东门老街", "石桥头", "火星村"]
DOMAINS = ["劳动纠纷", "婚姻家庭", "侵权", "债权债务", "房产纠纷"]


def _staff_week():
    make_staff("grid-dt", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    make_staff("grid-xj", "网格员", "QF05", duty="08:30-17:30", days="1-5")
    make_staff("grid-hp", "网格员", "CG01", duty="08:30-17:30", days="1-5")
    make_staff("vil-dt", "人民调解员", "QFZ-DT", duty="08:00-18:00", days="1-6")
    make_staff("vil-hp", "人民调解员", "CG-HP", duty="08:00-18:00", days="1-6")
    make_staff("town-qf", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5", domains=["劳动纠纷"])
    make_staff("street-cg", "人民调解员", "CGJD", duty="08:30-17:30", days="1-5")
    make_staff("county", "人民调解员", "QFX", duty="00:00-24:00", days="1-7")


def _deadlines_after(now):
    """Every pending deadline later than `now` (the simulation's next points of interest)."""
    with session_scope() as s:
        rows = s.execute(select(Ticket.status, Ticket.ack_due, Ticket.answer_due, Ticket.answered_at)
                         .where(Ticket.status.in_(("new", "acknowledged", "in_mediation", "escalated")))).all()
    out = set()
    for st, ack, ans, answered in rows:
        if st in ("new", "escalated") and ack > now:
            out.add(ack)
        if answered is None and ans > now:
            out.add(ans)
    return out


def test_simulated_week(sqlite_db):
    _staff_week()
    rnd = random.Random(2026)
    intakes = []  # (time, resident, kwargs, ack_after, answer_after)
    t = WEEK_START
    for i in range(70):
        t = t + timedelta(minutes=rnd.randint(20, 220))
        urgency = rnd.choices(["normal", "urgent", "emergency"], [80, 15, 5])[0]
        ack_after = rnd.choice([timedelta(minutes=m) for m in (5, 20, 45, 59)] + [None, timedelta(minutes=61),
                                                                                  timedelta(hours=3)])
        answer_after = rnd.choice([timedelta(hours=h) for h in (2, 10, 23)] + [None, timedelta(hours=30)])
        intakes.append((t, f"web:sim{i}", dict(domain=rnd.choice(DOMAINS), summary=f"模拟纠纷 {i}",
                                              location=rnd.choice(PLACES), urgency=urgency), ack_after, answer_after))
    end = WEEK_START + timedelta(days=7)
    # staff actions: (time, kind, resident) — they act on whatever tier the ticket is at by then
    actions = []
    for when, rk, kw, ack_after, answer_after in intakes:
        if ack_after is not None:
            actions.append((when + ack_after, "ack", rk))
            if answer_after is not None:
                actions.append((when + ack_after + answer_after, "answer", rk))
    points = sorted({x[0] for x in intakes} | {a[0] for a in actions})
    intake_at = {}
    for when, rk, kw, *_ in intakes:
        intake_at.setdefault(when, []).append((rk, kw))
    act_at = {}
    for when, kind, rk in actions:
        act_at.setdefault(when, []).append((kind, rk))

    now = WEEK_START
    early_fires = 0
    fired = []
    while now < end:
        upcoming = [p for p in points if p > now] + sorted(_deadlines_after(now))
        if not upcoming:
            break
        nxt = min(upcoming)
        if nxt >= end:
            break
        # one second before a breach nothing may fire; at the breach it must
        early = tick(nxt - timedelta(seconds=1))
        early_fires += early["escalated"] + early["reminders"]
        now = nxt
        clock.set_now(now)
        fired += tick(now)["events"]
        for rk, kw in intake_at.get(now, []):
            service.open_ticket(rk, **kw)
        for kind, rk in act_at.get(now, []):
            tk = service.tickets_for_resident(rk)[0]
            if kind == "ack" and tk["status"] in ("new", "escalated"):
                service.change_status(tk["number"], "acknowledged", "staff:sim")
            elif kind == "answer" and tk["status"] == "acknowledged":
                service.change_status(tk["number"], "in_mediation", "staff:sim")

    assert early_fires == 0
    with session_scope() as s:
        escs = s.scalars(select(Escalation).order_by(Escalation.id)).all()
        tickets = {tk.id: tk for tk in s.scalars(select(Ticket))}
        notices = [m.text for m in s.scalars(select(Message).where(Message.author == "system"))]
    assert len(tickets) == 70 and len(escs) >= 20
    # exactly at breach: the scheduler fired each escalation at its deadline, to the second
    assert all(e.fired_at == e.due_at for e in escs)
    # in tier order, per ticket: each step starts where the last ended and only goes up
    by_ticket = {}
    for e in escs:
        by_ticket.setdefault(e.ticket_id, []).append(e)
    for tid, seq in by_ticket.items():
        tier = None
        for e in seq:
            if tier is not None:
                assert e.from_tier == tier
            assert e.to_tier > e.from_tier or e.reason.endswith("_top")
            tier = e.to_tier
            assert e.due_at > tickets[tid].created_at
        assert tickets[tid].tier == tier
    # independent check of the first deadline: tickets nobody acknowledged within the limit
    # escalated exactly created_at + ack limit, from their starting tier
    for (when, rk, kw, ack_after, _), tk in zip(intakes, sorted(tickets.values(), key=lambda x: x.id)):
        ack_limit, _ans = limits(1, kw["urgency"])
        first = by_ticket.get(tk.id, [None])[0]
        if ack_after is None or ack_after > ack_limit:
            start_tier = first.from_tier if first else None
            if start_tier is not None and start_tier < 4:
                assert first.due_at == when + limits(start_tier, kw["urgency"])[0], tk.number
                assert first.reason == "ack_breach"
        elif ack_after is not None and first is not None:
            assert first.reason != "ack_breach" or first.due_at > when + ack_limit
    # residents were told in their own channel, in plain words
    assert any("已转交镇矛调中心处理" in n for n in notices)
    assert any("已转交街道矛调中心处理" in n for n in notices) or any("已转交县矛调中心处理" in n for n in notices)
    reasons = {e.reason for e in escs}
    assert {"ack_breach", "answer_breach"} <= reasons
    from collections import Counter

    summary = {"tickets": len(tickets), "escalations": len(escs), "fired_one_second_early": early_fires,
               "fired_exactly_at_breach": sum(e.fired_at == e.due_at for e in escs),
               "by_reason": dict(Counter(e.reason for e in escs)),
               "by_step": dict(Counter(f"{e.from_tier}->{e.to_tier}" for e in escs)),
               "final_tier": dict(Counter(tk.tier for tk in tickets.values())),
               "tickets_escalated": len(by_ticket)}
    import json

    (ROOT / "tests" / "artifacts" / "sla_week.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))


def test_catch_up_after_downtime(db):
    """The scheduler was down for two days: one tick replays every tier at its own breach time."""
    for name, node in [("g", "QF01"), ("v", "QFZ-DT"), ("tw", "QFZ"), ("c", "QFX")]:
        make_staff(name, "人民调解员", node)  # everyone on duty round the clock, nobody acts
    clock.set_now(local_dt(2026, 12, 5, 10, 0))
    t = service.open_ticket("web:late", domain="侵权", summary="占道", location="大塘一组")
    assert t["tier"] == 1
    r = tick(local_dt(2026, 12, 7, 10, 0))
    with session_scope() as s:
        seq = s.scalars(select(Escalation).order_by(Escalation.id)).all()
    created = local_dt(2026, 12, 5, 10, 0)
    assert [(e.from_tier, e.to_tier, e.reason) for e in seq][:3] == [
        (1, 2, "ack_breach"), (2, 3, "ack_breach"), (3, 4, "ack_breach")]
    assert [e.due_at for e in seq][:3] == [created + timedelta(hours=h) for h in (1, 2, 3)]
    assert r["escalated"] == 3 and service.get_ticket(t["number"])["tier"] == 4


def test_sla_overrides(sqlite_db, fresh_home):
    (fresh_home / "sla.toml").write_text('[normal]\nack_minutes = 30\n[tier3.normal]\nanswer_minutes = 2880\n')
    assert limits(1, "normal") == (timedelta(minutes=30), timedelta(hours=24))
    assert limits(3, "normal") == (timedelta(minutes=30), timedelta(hours=48))
    assert limits(1, "emergency") == (timedelta(minutes=10), timedelta(minutes=60))


def test_many_processes_tick_at_once(db):
    """Four `mingbai sla tick` processes race over the same breaches: each fires once."""
    clock.set_now(local_dt(2026, 11, 30, 9, 0))
    make_staff("g", "网格员", "QF01")
    make_staff("v", "人民调解员", "QFZ-DT")
    numbers = [service.open_ticket(f"web:mp{i}", domain="侵权", summary=f"事 {i}", location="大塘一组")["number"]
               for i in range(25)]
    at = (local_dt(2026, 11, 30, 10, 0)).isoformat()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "mingbai.cli", "sla", "tick", "--now", at], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) for _ in range(4)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    import json

    results = [json.loads(o[0]) for o in outs]
    assert sum(r["escalated"] for r in results) == 25  # the breaches were shared out, none twice
    with session_scope() as s:
        per = dict(s.execute(text("select ticket_id, count(*) from ticket_escalations group by ticket_id")).all())
        notices = s.scalar(text("select count(*) from messages where author = 'system'"))
    assert len(per) == 25 and set(per.values()) == {1}
    assert notices == 25  # and each resident was told once
    assert all(service.get_ticket(n)["tier"] == 2 for n in numbers)


def test_scheduler_thread_runs(sqlite_db, monkeypatch):
    import threading

    from tickets import sla

    clock.set_now(local_dt(2026, 11, 30, 9, 0))
    t = service.open_ticket("web:th", domain="侵权", summary="x", location="大塘一组")
    clock.set_now(local_dt(2026, 11, 30, 10, 0, 1))
    stop = threading.Event()
    th = threading.Thread(target=sla.run_forever, args=(1.0, stop), daemon=True)
    th.start()
    import time

    for _ in range(50):
        if service.get_ticket(t["number"])["tier"] > 1:
            break
        time.sleep(0.1)
    stop.set()
    th.join(5)
    assert service.get_ticket(t["number"])["tier"] > 1
