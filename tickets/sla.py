"""SLA timers: `tick(now)` escalates every breached ticket to the next tier, exactly at breach.

Deadlines live in the tickets table, so they survive restarts. Any number of processes may
tick at once: each escalation is a compare-and-set on the ticket's version column, so only
one process wins a given breach and only the winner notifies anyone.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from datetime import datetime
from typing import Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.orm.exc import StaleDataError

from tickets.clock import now as clock_now
from tickets.db import tx
from tickets.lifecycle import OPEN, escalate, sla_reminder
from tickets.models import TIER_COUNTY, Ticket

log = logging.getLogger(__name__)
ACK_PENDING = ("new", "escalated")


def _breach(t: Ticket, now: datetime) -> Optional[tuple[str, datetime]]:
    """The earliest breached deadline of this ticket at `now`, or None."""
    found = []
    if t.status in ACK_PENDING and t.ack_due <= now:
        found.append(("ack", t.ack_due))
    if t.status in OPEN and t.answered_at is None and t.answer_due <= now:
        found.append(("answer", t.answer_due))
    return min(found, key=lambda kd: kd[1]) if found else None


def _due_ids(now: datetime, limit: int) -> list[int]:
    from mingbai.db import session_scope

    cond = or_(and_(Ticket.status.in_(ACK_PENDING), Ticket.ack_due <= now),
               and_(Ticket.status.in_(OPEN), Ticket.answered_at.is_(None), Ticket.answer_due <= now))
    with session_scope() as s:
        return list(s.scalars(select(Ticket.id).where(cond).order_by(Ticket.id).limit(limit)))


def tick(now: Optional[datetime] = None, limit: int = 500) -> dict:
    """Process every breach up to `now`. Returns counts (escalated, reminders, conflicts)."""
    now = now or clock_now()
    stats = {"escalated": 0, "reminders": 0, "conflicts": 0, "events": []}
    for _round in range(50):  # a ticket may cross several tiers when the scheduler was down
        ids = _due_ids(now, limit)
        if not ids:
            break
        progressed = False
        for tid in ids:
            try:
                with tx() as s:
                    t = s.get(Ticket, tid)
                    b = _breach(t, now) if t else None
                    if b is None:
                        continue
                    kind, due = b
                    if t.tier < TIER_COUNTY:
                        esc = escalate(s, t, "system:sla", reason=f"{kind}_breach", due_at=due, when=now)
                        stats["escalated"] += 1
                    else:
                        esc = sla_reminder(s, t, kind, due, now)
                        stats["reminders"] += 1
                    s.flush()  # the compare-and-set happens here
                    stats["events"].append({"number": t.number, "kind": esc.reason, "from_tier": esc.from_tier,
                                            "to_tier": esc.to_tier, "due_at": due.isoformat()})
                    progressed = True
            except StaleDataError:
                stats["conflicts"] += 1  # another process got there first
        if not progressed:
            break
    return stats


# Scheduler ------------------------------------------------------------------

_started = threading.Event()


def _interval() -> float:
    try:
        return max(1.0, float(os.environ.get("MINGBAI_SLA_INTERVAL", "15")))
    except ValueError:
        return 15.0


def run_forever(interval: Optional[float] = None, stop: Optional[threading.Event] = None) -> None:
    interval = interval or _interval()
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            r = tick()
            if r["escalated"] or r["reminders"]:
                log.info("SLA tick: %s escalated, %s reminders", r["escalated"], r["reminders"])
        except Exception:
            log.exception("SLA tick failed")
        # wake on the interval boundary so breaches fire at most `interval` late
        stop.wait(interval - (time.time() % interval))


def start_scheduler(app=None) -> Optional[threading.Thread]:
    """Start the SLA thread once per process (called by mingbai.web.create_app)."""
    if _started.is_set() or os.environ.get("MINGBAI_SLA_DISABLED") == "1":
        return None
    _started.set()
    th = threading.Thread(target=run_forever, name="mingbai-sla", daemon=True)
    th.start()
    return th


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai sla", description="SLA 超时升级")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tick", help="处理到现在为止的所有超时工单")
    t.add_argument("--now", help="ISO 时间 (测试用), 默认现在")
    r = sub.add_parser("run", help="持续运行")
    r.add_argument("--interval", type=float, default=None, help="秒, 默认 15")
    args = p.parse_args(argv)
    from mingbai.db import init_db

    init_db()
    if args.cmd == "tick":
        when = datetime.fromisoformat(args.now) if args.now else None
        res = tick(when)
        print(json.dumps(res, ensure_ascii=False, indent=1))
        return 0
    from mingbai.privacy import setup_logging
    from mingbai.settings import get_settings

    setup_logging(get_settings().log_level)
    print(f"SLA 定时检查已启动，每 {args.interval or _interval():g} 秒一次 (Ctrl-C 停止)")
    run_forever(args.interval)
    return 0
