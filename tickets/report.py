"""Monthly 平安报表: counts by domain / subtype / tier / outcome and SLA compliance."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import select

from mingbai.db import session_scope
from tickets.clock import LOCAL_TZ
from tickets.lifecycle import STATUS_LABELS, TIER_NAMES
from tickets.models import Escalation, Ticket


def month_bounds(month: str) -> tuple[datetime, datetime]:
    y, m = (int(x) for x in month.split("-"))
    start = datetime(y, m, 1, tzinfo=LOCAL_TZ)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=LOCAL_TZ)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def monthly(month: str) -> dict:
    start, end = month_bounds(month)
    with session_scope() as s:
        tickets = s.scalars(select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)).all()
        ids = [t.id for t in tickets]
        breaches = Counter()
        if ids:
            for tid, reason in s.execute(select(Escalation.ticket_id, Escalation.reason)
                                         .where(Escalation.ticket_id.in_(ids))):
                if reason.startswith("ack"):
                    breaches[(tid, "ack")] += 1
                elif reason.startswith("answer"):
                    breaches[(tid, "answer")] += 1
        n = len(tickets)
        ack_ok = sum(1 for t in tickets if not breaches[(t.id, "ack")])
        answer_ok = sum(1 for t in tickets if not breaches[(t.id, "answer")])
        resolved = [t for t in tickets if t.resolved_at]
        sat = [t.satisfaction for t in tickets if t.satisfaction]
        low_level = sum(1 for t in resolved if t.tier <= 2)
        return {
            "month": month,
            "total": n,
            "by_domain": Counter(t.domain for t in tickets).most_common(),
            "by_subtype": Counter(t.subtype or "（未分）" for t in tickets).most_common(),
            "by_tier": sorted(Counter(TIER_NAMES.get(t.tier, str(t.tier)) for t in tickets).items(),
                              key=lambda kv: list(TIER_NAMES.values()).index(kv[0])
                              if kv[0] in TIER_NAMES.values() else 9),
            "by_status": Counter(STATUS_LABELS.get(t.status, t.status) for t in tickets).most_common(),
            "by_outcome": Counter((t.outcome or "未办结") + (f"→{t.next_route}" if t.next_route else "")
                                  for t in tickets).most_common(),
            "ack_on_time": ack_ok, "answer_on_time": answer_ok,
            "ack_rate": round(100.0 * ack_ok / n, 1) if n else None,
            "answer_rate": round(100.0 * answer_ok / n, 1) if n else None,
            "resolved": len(resolved),
            "success": sum(1 for t in resolved if t.outcome == "调解成功"),
            "resolved_low_level": low_level,
            "satisfaction_avg": round(sum(sat) / len(sat), 2) if sat else None,
            "satisfaction_n": len(sat),
        }
