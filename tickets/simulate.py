"""A simulated week of tickets with a controllable clock (used by the tests and the benchmark).

Residents file cases at random times; staff acknowledge / answer some of them late or never.
The clock jumps from event to event and, before every deadline, ticks one second early (nothing
may fire) and then exactly at the deadline (the breach must fire).
"""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from mingbai.db import session_scope
from tickets import clock, service
from tickets.models import Escalation, Message, Ticket
from tickets.sla import tick

PLACES = ["大塘一组", "大塘五组", "柳湾渡口", "锦绣花园", "幸福小区", "和平路", "东门老街", "石桥头", "火星村"]
DOMAINS = ["劳动纠纷", "婚姻家庭", "侵权", "债权债务", "房产纠纷"]
# One 网格员 per grid on office hours, a mediator per village/community six days a week,
# the town/street centres on weekdays with a named 值班 person each (data/grids/sample.yml on_call)
# for urgent cases out of hours, the county centre round the clock.
STAFF = (
    [(f"grid-{c}", "网格员", c, "08:30-17:30", "1-5")
     for c in ("QF01", "QF02", "QF03", "QF04", "QF05", "CG01", "CG02", "CG03", "CG04")]
    + [(f"vil-{c}", "人民调解员", c, "08:00-18:00", "1-6")
       for c in ("QFZ-DT", "QFZ-LSW", "QFZ-XJ", "CG-HP", "CG-DM", "CG-SQ")]
    + [("town-qf", "人民调解员", "QFZ", "08:30-17:30", "1-5"), ("street-cg", "人民调解员", "CGJD", "08:30-17:30", "1-5"),
       ("qfz-duty", "人民调解员", "QFZ", "08:30-17:30", "1-5"), ("cg-duty", "人民调解员", "CGJD", "08:30-17:30", "1-5"),
       ("county", "人民调解员", "QFX", "00:00-24:00", "1-7")]
)


def create_staff() -> None:
    from tickets.users import create_user

    for name, role, node, duty, days in STAFF:
        create_user(name, "sim-password-1", role, node, duty=duty, days=days,
                    domains=["劳动纠纷"] if name == "town-qf" else [])


def plan(start: datetime, n: int, seed: int) -> list[tuple]:
    rnd = random.Random(seed)
    out, t = [], start
    for i in range(n):
        t = t + timedelta(minutes=rnd.randint(20, 220))
        urgency = rnd.choices(["normal", "urgent", "emergency"], [80, 15, 5])[0]
        ack_after = rnd.choice([timedelta(minutes=m) for m in (5, 20, 45, 59)]
                               + [None, timedelta(minutes=61), timedelta(hours=3)])
        answer_after = rnd.choice([timedelta(hours=h) for h in (2, 10, 23)] + [None, timedelta(hours=30)])
        out.append((t, f"web:sim{i}", dict(domain=rnd.choice(DOMAINS), summary=f"模拟纠纷 {i}",
                                           location=rnd.choice(PLACES), urgency=urgency), ack_after, answer_after))
    return out


def _deadlines_after(now: datetime) -> set[datetime]:
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


def run(start: datetime, days: int = 7, n: int = 70, seed: int = 2026) -> dict:
    """Run the week on the current database (grids imported, STAFF created). Returns a summary."""
    intakes = plan(start, n, seed)
    end = start + timedelta(days=days)
    actions: dict[datetime, list] = {}
    arrivals: dict[datetime, list] = {}
    for when, rk, kw, ack_after, answer_after in intakes:
        arrivals.setdefault(when, []).append((rk, kw))
        if ack_after is not None:
            actions.setdefault(when + ack_after, []).append(("ack", rk))
            if answer_after is not None:
                actions.setdefault(when + ack_after + answer_after, []).append(("answer", rk))
    points = sorted(set(arrivals) | set(actions))
    now, early, ticks = start, 0, 0
    try:
        while True:
            upcoming = [p for p in points if p > now] + sorted(_deadlines_after(now))
            if not upcoming or min(upcoming) >= end:
                break
            nxt = min(upcoming)
            r = tick(nxt - timedelta(seconds=1))
            early += r["escalated"] + r["reminders"]
            now = nxt
            clock.set_now(now)
            tick(now)
            ticks += 2
            for rk, kw in arrivals.get(now, []):
                service.open_ticket(rk, **kw)
            for kind, rk in actions.get(now, []):
                tk = service.tickets_for_resident(rk)[0]
                if kind == "ack" and tk["status"] in ("new", "escalated"):
                    service.change_status(tk["number"], "acknowledged", "staff:sim")
                elif kind == "answer" and tk["status"] == "acknowledged":
                    service.change_status(tk["number"], "in_mediation", "staff:sim")
    finally:
        clock.set_now(None)
    with session_scope() as s:
        escs = s.scalars(select(Escalation).order_by(Escalation.id)).all()
        tickets = {t.id: t for t in s.scalars(select(Ticket))}
        notices = [m.text for m in s.scalars(select(Message).where(Message.author == "system"))]
        by_ticket: dict[int, list] = {}
        for e in escs:
            by_ticket.setdefault(e.ticket_id, []).append(e)
        in_order = all(
            all(b.from_tier == a.to_tier for a, b in zip(seq, seq[1:]))
            and all(e.to_tier > e.from_tier or e.reason.endswith("_top") for e in seq)
            for seq in by_ticket.values())
        return {
            "tickets": len(tickets), "ticks": ticks, "escalations": len(escs),
            "tier_escalations": sum(1 for e in escs if e.to_tier > e.from_tier),
            "county_reminders": sum(1 for e in escs if e.reason.endswith("_top")),
            "fired_exactly_at_breach": sum(1 for e in escs if e.fired_at == e.due_at),
            "fired_one_second_early": early, "tier_order_ok": in_order,
            "by_reason": dict(Counter(e.reason for e in escs)),
            "by_step": dict(sorted(Counter(f"{e.from_tier}->{e.to_tier}" for e in escs).items())),
            "final_tier": dict(sorted(Counter(t.tier for t in tickets.values()).items())),
            "start_tier": dict(sorted(Counter((by_ticket[t.id][0].from_tier if t.id in by_ticket else t.tier)
                                              for t in tickets.values()).items())),
            "resident_notices": len(notices),
            "town_notices": sum("已转交镇矛调中心处理" in x for x in notices),
            "intakes": intakes,
        }
