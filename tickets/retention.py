"""Data retention (PIPL art. 19: keep personal data no longer than the purpose needs).

`purge(days)` deletes what residents wrote and what was written about them once it is older than
`days` (MINGBAI_RETENTION_DAYS, default 180), and keeps only anonymous statistics:

- transcript (messages): the text of every message older than the cutoff is replaced by
  PURGED_TEXT. The rows stay, without words (direction, channel, time), so the number of
  messages per day can still be counted. A resident with a case still open keeps the transcript
  until the case is finished;
- copies of texts: finished rows of the outbox (mingbai.outbox) are deleted; finished items of
  the 未解答 inbox lose the question's text (the connectors purge their own inbound-dedup rows
  after 3 days: connectors.gateway.purge_dedup);
- tickets resolved or closed before the cutoff: summary → PURGED_SUMMARY, parties, phone and
  preferred time cleared, place, resolution and internal notes masked (mingbai.privacy.mask).
  Number, domain, subtype, grid, tier, status, outcome, next route, satisfaction, SLA verdicts and
  times stay: they are the statistics (`statistics()`: counts per day / domain / outcome).

Every step only touches rows not purged yet, so running it daily costs little and running it twice
changes nothing. `mingbai run` runs `mingbai retention purge` once a day (mingbai.run.build_jobs);
without `mingbai run`, use the systemd timer or cron line in deploy/README.md.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm.exc import StaleDataError

from tickets.clock import local, now as clock_now
from tickets.lifecycle import OPEN
# The markers live with the models: the encrypted columns keep them readable for the SQL below.
# FORGOTTEN_SUMMARY: tickets.residents.forget_resident left nothing to purge.
from tickets.models import FORGOTTEN_SUMMARY, PURGED_SUMMARY, PURGED_TEXT, Message, Ticket, TicketNote

log = logging.getLogger(__name__)
FINISHED_OUTBOX = ("sent", "polled", "dead")
BATCH = 500


def cutoff_for(days: int, now: Optional[datetime] = None) -> datetime:
    if days <= 0:
        raise ValueError("保存天数必须大于 0")
    # UTC: the connectors' tables store naive UTC on SQLite, compared as text
    return (now or clock_now()).astimezone(timezone.utc) - timedelta(days=days)


def _finished_at():
    return func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at)


def _ticket_cond(cutoff: datetime):
    return and_(Ticket.status.not_in(OPEN), _finished_at() < cutoff,
                Ticket.summary.not_in((PURGED_SUMMARY, FORGOTTEN_SUMMARY)))


def _message_cond(cutoff: datetime):
    still_open = select(Ticket.resident_key).where(Ticket.status.in_(OPEN))
    return and_(Message.created_at < cutoff, Message.text != PURGED_TEXT,
                Message.resident_key.not_in(still_open))


def _count(s, model, cond) -> int:
    return int(s.scalar(select(func.count()).select_from(model).where(cond)) or 0)


def purge(days: Optional[int] = None, *, now: Optional[datetime] = None, dry_run: bool = False) -> dict:
    """Purge everything older than `days` (default: settings.retention_days). Returns the number of
    rows purged per kind (with dry_run: the rows that would be), plus the cutoff."""
    from mingbai.db import session_scope
    from mingbai.outbox import Outbox
    from mingbai.privacy import mask
    from mingbai.settings import get_settings
    from tickets.feedback import UnansweredItem

    days = get_settings().retention_days if days is None else int(days)
    cutoff = cutoff_for(days, now)
    out = {"days": days, "cutoff": cutoff.isoformat(), "dry_run": dry_run}
    msg_cond = _message_cond(cutoff)
    outbox_cond = and_(Outbox.created_at < cutoff, Outbox.status.in_(FINISHED_OUTBOX))
    item_cond = and_(UnansweredItem.created_at < cutoff, UnansweredItem.status != "open",
                     UnansweredItem.question != PURGED_TEXT)

    if dry_run:
        with session_scope() as s:
            out["messages"] = _count(s, Message, msg_cond)
            out["outbox"] = _count(s, Outbox, outbox_cond)
            out["unanswered"] = _count(s, UnansweredItem, item_cond)
            out["tickets"] = _count(s, Ticket, _ticket_cond(cutoff))
        return out

    with session_scope() as s:
        out["messages"] = s.execute(update(Message).where(msg_cond).values(text=PURGED_TEXT)
                                    .execution_options(synchronize_session=False)).rowcount or 0
        out["outbox"] = s.execute(delete(Outbox).where(outbox_cond)
                                  .execution_options(synchronize_session=False)).rowcount or 0
        out["unanswered"] = s.execute(update(UnansweredItem).where(item_cond).values(question=PURGED_TEXT)
                                      .execution_options(synchronize_session=False)).rowcount or 0

    # Tickets one batch per transaction, through the ORM: each update is the usual compare-and-set
    # on the version column, so a staff edit at the same moment wins and the ticket waits a day.
    out["tickets"], out["notes"], conflicts = 0, 0, 0
    while True:
        try:
            batch = _purge_tickets(cutoff, out, mask, session_scope)
        except StaleDataError:  # someone changed one of them just now: try again, not forever
            conflicts += 1
            if conflicts >= 3:
                log.warning("retention purge: tickets kept changing, the rest waits for the next run")
                break
            continue
        if batch < BATCH:
            break
    log.info("retention purge (%s days): %s", days, {k: v for k, v in out.items() if isinstance(v, int)})
    return out


def _purge_tickets(cutoff: datetime, out: dict, mask, session_scope) -> int:
    """One batch of finished tickets in one transaction; the number of tickets it found."""
    notes = 0
    with session_scope() as s:
        batch = list(s.scalars(select(Ticket).where(_ticket_cond(cutoff)).order_by(Ticket.id).limit(BATCH)))
        for t in batch:
            t.summary, t.parties, t.phone, t.preferred_time = PURGED_SUMMARY, None, None, None
            t.location = mask(t.location) if t.location else None
            t.resolution = mask(t.resolution) if t.resolution else t.resolution
        ids = [t.id for t in batch]
        if ids:
            for note in s.scalars(select(TicketNote).where(TicketNote.ticket_id.in_(ids))):
                masked = mask(note.text)
                if masked != note.text:
                    note.text = masked
                    notes += 1
    out["tickets"] += len(batch)
    out["notes"] += notes
    return len(batch)


def statistics(since: Optional[datetime] = None) -> dict:
    """What survives a purge, anonymous: tickets per local day / domain / outcome and messages
    per local day / direction."""
    from mingbai.db import session_scope

    tickets: Counter = Counter()
    messages: Counter = Counter()
    with session_scope() as s:
        q = select(Ticket.created_at, Ticket.domain, Ticket.outcome)
        if since is not None:
            q = q.where(Ticket.created_at >= since)
        for created, domain, outcome in s.execute(q):
            tickets[(local(created).date().isoformat(), domain, outcome or "")] += 1
        q = select(Message.created_at, Message.direction)
        if since is not None:
            q = q.where(Message.created_at >= since)
        for created, direction in s.execute(q.execution_options(yield_per=2000)):
            messages[(local(created).date().isoformat(), direction)] += 1
    return {
        "tickets": [{"day": d, "domain": dom, "outcome": o, "count": n} for (d, dom, o), n in sorted(tickets.items())],
        "messages": [{"day": d, "direction": dr, "count": n} for (d, dr), n in sorted(messages.items())],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai retention", description="数据保存期限：删除过期的聊天内容和工单个人信息")
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("purge", help="删除超过保存期限的聊天内容，工单只留统计信息")
    pp.add_argument("--days", type=int, default=None, help="保存天数，默认 MINGBAI_RETENTION_DAYS (180)")
    pp.add_argument("--dry-run", action="store_true", help="只统计将要删除的条数，不删除")
    st = sub.add_parser("stats", help="保留下来的匿名统计（按天/类别/结果）")
    st.add_argument("--since", help="起始日期 YYYY-MM-DD")
    args = p.parse_args(argv)

    from mingbai.db import init_db
    from mingbai.settings import get_settings

    if args.cmd == "purge":
        days = get_settings().retention_days if args.days is None else args.days
        if days <= 0:
            if args.days is None:
                print("MINGBAI_RETENTION_DAYS=0: 已关闭定期删除，未做任何操作。")
                return 0
            print("--days 必须大于 0")
            return 2
        init_db()
        res = purge(days, dry_run=args.dry_run)
        print(json.dumps(res, ensure_ascii=False, indent=1))
        verb = "将删除" if args.dry_run else "已删除"
        print(f"{verb} {res['cutoff'][:10]} 之前的: 聊天内容 {res['messages']} 条，工单个人信息 {res['tickets']} 件，"
              f"待发/已发消息副本 {res['outbox']} 条，未解答问题原文 {res['unanswered']} 条。")
        return 0
    init_db()
    since = None
    if args.since:
        from tickets.clock import LOCAL_TZ

        since = datetime.fromisoformat(args.since).replace(tzinfo=LOCAL_TZ)
    print(json.dumps(statistics(since), ensure_ascii=False, indent=1))
    return 0
