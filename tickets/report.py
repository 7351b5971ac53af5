"""平安报表: weekly / monthly / yearly, for the whole county or one town / village / grid.

Everything is counted with SQL aggregates (GROUP BY on the tickets table), so a year of 50k+
tickets is a handful of queries, not 50k ORM objects (bench/bench_tickets.py --only report).

What the numbers mean (tickets registered in the period; residents who did not agree to pass
the case on — consent=False, record only — count in 登记 but have no SLA):

- 受理 / 答复 on time: `ack_sla` / `answer_sla` are fixed when the first acknowledgement / answer
  happens (met only if before its due time) or when a breach escalates the case (missed).
  A ticket still waiting counts as **missed once its due time has passed** (pending-overdue),
  and is shown apart as **pending, not yet due** before that. Rates are met / (met + missed).
- 调解成功率: 调解成功 / resolved. 基层化解率: resolved while owned by a grid or village/community
  (tier ≤ 2) / resolved. 上报: tickets escalated to a higher tier at least once.
- Backlog (积压): open tickets in scope now, whenever registered, by age; 超时 = a due time passed.
- RAG (红/黄/绿) per grid, village and town: every rule below is checked, the worst colour wins,
  and the page lists why. Defaults (RAG_DEFAULTS) are overridden by `$MINGBAI_HOME/report.yml`:

      rag:
        ack_rate:       {red_below: 80, yellow_below: 95}    # 受理及时率 %
        answer_rate:    {red_below: 80, yellow_below: 90}    # 答复及时率 %
        success_rate:   {red_below: 50, yellow_below: 70}    # 调解成功率 %
        low_level_rate: {red_below: 60, yellow_below: 80}    # 基层化解率 %
        satisfaction:   {red_below: 3.0, yellow_below: 4.0}  # 满意度 (1–5)
        overdue_open:   {red_at_least: 3, yellow_at_least: 1}  # 超时未办 (件)
        min_tickets: 1        # fewer registered and nothing open: grey (无数据)

  A metric without data (e.g. nothing resolved yet) is not judged.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import and_, case, exists, func, or_, select

from mingbai.db import session_scope
from tickets.clock import LOCAL_TZ, local, now as clock_now
from tickets.lifecycle import OPEN, STATUS_LABELS, TIER_NAMES
from tickets.models import Escalation, GridNode, Ticket

PERIODS = ("week", "month", "year")
ACK_PENDING = ("new", "escalated")
RAG_DEFAULTS: dict = {
    "ack_rate": {"red_below": 80, "yellow_below": 95},
    "answer_rate": {"red_below": 80, "yellow_below": 90},
    "success_rate": {"red_below": 50, "yellow_below": 70},
    "low_level_rate": {"red_below": 60, "yellow_below": 80},
    "satisfaction": {"red_below": 3.0, "yellow_below": 4.0},
    "overdue_open": {"red_at_least": 3, "yellow_at_least": 1},
    "min_tickets": 1,
}
METRIC_WORDS = {"ack_rate": "受理及时率", "answer_rate": "答复及时率", "success_rate": "调解成功率",
                "low_level_rate": "基层化解率", "satisfaction": "满意度", "overdue_open": "超时未办"}
RAG_WORDS = {"red": "红", "yellow": "黄", "green": "绿", "grey": "无数据"}
AGE_BUCKETS = [("1 天内", 0, 1), ("1–3 天", 1, 3), ("3–7 天", 3, 7), ("7–30 天", 7, 30), ("30 天以上", 30, None)]
CSV_COLUMNS = ["周期", "层级", "编码", "名称", "所属", "登记", "办结", "调解成功", "调解成功率%", "基层化解",
               "基层化解率%", "上报过", "上报率%", "受理按时", "受理超时", "受理未到期", "受理及时率%",
               "答复按时", "答复超时", "答复未到期", "答复及时率%", "积压", "超时未办", "满意度", "评价数",
               "红黄绿", "原因"]
LEVEL_WORDS = {"grid": "网格", "village": "村/社区", "town": "乡镇/街道", "county": "县"}


class ReportError(ValueError):
    pass


# Periods -----------------------------------------------------------------------------------------

def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


def period_bounds(period: str, at: Optional[str]) -> tuple[str, date, date]:
    """("month", "2026-11") / ("week", "2026-W48") / ("year", "2026") → (label, first day, day after)."""
    today = local(clock_now()).date()
    if period not in PERIODS:
        raise ReportError(f"周期只能是 {'/'.join(PERIODS)}")
    try:
        if period == "month":
            y, m = (int(x) for x in (at or today.strftime("%Y-%m")).split("-"))
            start = date(y, m, 1)
            end = date(y + (m == 12), m % 12 + 1, 1)
            return f"{y}-{m:02d}", start, end
        if period == "week":
            if at:
                mt = re.fullmatch(r"(\d{4})-?W(\d{1,2})", at.strip())
                if not mt:
                    raise ValueError(at)
                start = date.fromisocalendar(int(mt.group(1)), int(mt.group(2)), 1)
            else:
                start = today - timedelta(days=today.weekday())
            iso = start.isocalendar()
            return f"{iso[0]}-W{iso[1]:02d}", start, start + timedelta(days=7)
        y = int(at or today.year)
        return str(y), date(y, 1, 1), date(y + 1, 1, 1)
    except (ValueError, TypeError):
        raise ReportError({"month": "月份格式应为 2026-11", "week": "周的格式应为 2026-W48",
                           "year": "年份格式应为 2026"}[period]) from None


def month_bounds(month: str) -> tuple[datetime, datetime]:
    _label, a, b = period_bounds("month", month)
    return _utc(a), _utc(b)


# Rules -------------------------------------------------------------------------------------------

def rag_rules() -> dict:
    rules = {k: (dict(v) if isinstance(v, dict) else v) for k, v in RAG_DEFAULTS.items()}
    try:
        import yaml

        from mingbai.settings import get_settings

        path = get_settings().home / "report.yml"
        if path.exists():
            conf = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rag") or {}
            for k, v in conf.items():
                if isinstance(v, dict) and isinstance(rules.get(k), dict):
                    rules[k].update(v)
                else:
                    rules[k] = v
    except Exception:  # a broken file must not take the report down: defaults, and say so
        rules["_error"] = "report.yml 无法读取，使用默认规则"
    return rules


def rag(row: dict, rules: Optional[dict] = None) -> tuple[str, list[str]]:
    """(colour, reasons) for one row of metrics; the worst colour of all rules wins."""
    rules = rules or rag_rules()
    if row["total"] < int(rules.get("min_tickets", 1)) and not row["backlog"]:
        return "grey", []
    colour, why = "green", []
    order = {"green": 0, "yellow": 1, "red": 2}
    for metric, rule in rules.items():
        if not isinstance(rule, dict) or metric not in METRIC_WORDS:
            continue
        value = row.get(metric)
        if value is None:
            continue
        for level in ("red", "yellow"):
            below, at_least = rule.get(f"{level}_below"), rule.get(f"{level}_at_least")
            hit = None
            if below is not None and value < below:
                hit = f"{METRIC_WORDS[metric]} {_num(value)} < {_num(below)}"
            elif at_least is not None and value >= at_least:
                hit = f"{METRIC_WORDS[metric]} {_num(value)} ≥ {_num(at_least)}"
            if hit:
                why.append(f"{RAG_WORDS[level]}：{hit}")
                if order[level] > order[colour]:
                    colour = level
                break
    return colour, why


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


# Aggregates --------------------------------------------------------------------------------------

def _sum(cond):
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _local_bucket(dialect: str, col, unit: str):
    """Local (Asia/Shanghai) day "YYYY-MM-DD" or month "YYYY-MM" of a UTC timestamp, in SQL."""
    if dialect == "postgresql":
        fmt = "YYYY-MM-DD" if unit == "day" else "YYYY-MM"
        return func.to_char(func.timezone("Asia/Shanghai", col), fmt)
    fmt = "%Y-%m-%d" if unit == "day" else "%Y-%m"
    return func.strftime(fmt, col, "+8 hours")


def _ack_missed(now: datetime):
    t = Ticket
    return and_(t.consent.is_(True), or_(t.ack_sla == "missed",
                                         and_(t.ack_sla.is_(None), or_(t.ack_due <= now, ~t.status.in_(OPEN)))))


def _metric_columns(now: datetime):
    t = Ticket
    sla = t.consent.is_(True)
    is_open = t.status.in_(OPEN)
    ack_missed = _ack_missed(now)
    ack_pending = and_(sla, t.ack_sla.is_(None), t.ack_due > now, is_open)
    ans_missed = and_(sla, or_(t.answer_sla == "missed",
                               and_(t.answer_sla.is_(None), or_(t.answer_due <= now, ~is_open))))
    ans_pending = and_(sla, t.answer_sla.is_(None), t.answer_due > now, is_open)
    went_up = exists().where(Escalation.ticket_id == t.id, Escalation.to_tier > Escalation.from_tier)
    return [
        func.count().label("total"),
        _sum(t.resolved_at.is_not(None)).label("resolved"),
        _sum(t.outcome == "调解成功").label("success"),
        _sum(and_(t.resolved_at.is_not(None), t.tier <= 2)).label("resolved_low"),
        _sum(went_up).label("escalated"),
        _sum(and_(sla, t.ack_sla == "met")).label("ack_met"),
        _sum(ack_missed).label("ack_missed"),
        _sum(ack_pending).label("ack_pending"),
        _sum(and_(sla, t.answer_sla == "met")).label("answer_met"),
        _sum(ans_missed).label("answer_missed"),
        _sum(ans_pending).label("answer_pending"),
        _sum(and_(ack_missed, t.ack_sla.is_(None))).label("ack_overdue_pending"),
        _sum(and_(ans_missed, t.answer_sla.is_(None), is_open)).label("answer_overdue_pending"),
        func.coalesce(func.sum(t.satisfaction), 0).label("sat_sum"),
        func.count(t.satisfaction).label("sat_n"),
        _sum(t.satisfaction >= 4).label("sat_good"),
    ]


def _overdue_open(now: datetime):
    t = Ticket
    return and_(t.status.in_(OPEN), t.consent.is_(True),
                or_(and_(t.status.in_(ACK_PENDING), t.ack_due <= now),
                    and_(t.answered_at.is_(None), t.answer_due <= now)))


def _rate(a: int, b: int) -> Optional[float]:
    return round(100.0 * a / b, 1) if b else None


def _derive(row: dict) -> dict:
    row["ack_rate"] = _rate(row["ack_met"], row["ack_met"] + row["ack_missed"])
    row["answer_rate"] = _rate(row["answer_met"], row["answer_met"] + row["answer_missed"])
    row["success_rate"] = _rate(row["success"], row["resolved"])
    row["low_level_rate"] = _rate(row["resolved_low"], row["resolved"])
    row["escalated_rate"] = _rate(row["escalated"], row["total"])
    row["satisfaction"] = round(row["sat_sum"] / row["sat_n"], 2) if row["sat_n"] else None
    return row


_ZERO = dict(total=0, resolved=0, success=0, resolved_low=0, escalated=0, ack_met=0, ack_missed=0,
             ack_pending=0, answer_met=0, answer_missed=0, answer_pending=0, ack_overdue_pending=0,
             answer_overdue_pending=0, sat_sum=0, sat_n=0, sat_good=0, backlog=0, overdue_open=0)


def build(period: str = "month", at: Optional[str] = None, scope: Optional[str] = None,
          now: Optional[datetime] = None) -> dict:
    """The whole report as plain data (for the page, the CSV and the charts)."""
    now = now or clock_now()
    label, first, after = period_bounds(period, at)
    start, end = _utc(first), _utc(after)
    rules = rag_rules()
    t = Ticket
    with session_scope() as s:
        dialect = s.get_bind().dialect.name
        nodes = {n.id: n for n in s.scalars(select(GridNode))}
        scope_node = None
        if scope:
            scope_node = next((n for n in nodes.values() if n.code == scope), None)
            if scope_node is None:
                raise ReportError(f"没有这个网格/村/镇: {scope}")
        children = defaultdict(list)
        for n in nodes.values():
            children[n.parent_id].append(n.id)
        ids = None
        if scope_node is not None:
            ids, frontier = {scope_node.id}, [scope_node.id]
            while frontier:
                frontier = [c for f in frontier for c in children[f]]
                ids.update(frontier)
        in_period = [t.created_at >= start, t.created_at < end]
        in_scope = [t.grid_id.in_(ids)] if ids is not None else []
        where = in_period + in_scope

        metrics = _metric_columns(now)
        per_grid: dict = {}
        for r in s.execute(select(t.grid_id, *metrics).where(*where).group_by(t.grid_id)):
            m = dict(r._mapping)
            per_grid[m.pop("grid_id")] = m
        backlog_rows = s.execute(
            select(t.grid_id, func.count().label("backlog"), _sum(_overdue_open(now)).label("overdue_open"))
            .where(t.status.in_(OPEN), *in_scope).group_by(t.grid_id)).all()
        for gid, n, od in backlog_rows:
            per_grid.setdefault(gid, dict(_ZERO)).update(backlog=n, overdue_open=od)

        # every breakdown from one scan: GROUP BY the (few) dimension values, roll up here
        dims = s.execute(select(t.tier, t.domain, t.subtype, t.status, t.urgency, t.outcome, t.next_route,
                                func.count(), _sum(t.resolved_at.is_not(None)))
                         .where(*where)
                         .group_by(t.tier, t.domain, t.subtype, t.status, t.urgency, t.outcome, t.next_route)).all()
        acc: dict[str, dict] = defaultdict(lambda: defaultdict(int))
        tier_resolved: dict[int, int] = defaultdict(int)
        for tier, dom, sub, st, urg, outc, nr, n, res in dims:
            acc["domain"][dom] += n
            acc["subtype"][sub or "（未分）"] += n
            acc["status"][STATUS_LABELS.get(st, st)] += n
            acc["urgency"][urg] += n
            acc["outcome"][(outc or "未办结") + (f"→{nr}" if nr else "")] += n
            acc["tier"][tier] += n
            tier_resolved[tier] += int(res)

        def ranked(key):
            return sorted(acc[key].items(), key=lambda kv: (-kv[1], str(kv[0])))

        by_domain, by_subtype, by_status = ranked("domain"), ranked("subtype"), ranked("status")
        by_outcome, by_urgency = ranked("outcome"), ranked("urgency")
        by_tier_rows = [(k, acc["tier"][k], tier_resolved[k]) for k in sorted(acc["tier"])]
        unit = "month" if period == "year" else "day"
        bucket = _local_bucket(dialect, t.created_at, unit)
        trend_rows = {k: (n, int(res), int(miss)) for k, n, res, miss in s.execute(
            select(bucket, func.count(), _sum(t.resolved_at.is_not(None)), _sum(_ack_missed(now)))
            .where(*where).group_by(bucket))}
        # ageing of the open backlog (whenever registered)
        age = t.created_at
        age_cols = []
        for name, lo, hi in AGE_BUCKETS:
            cond = [age <= now - timedelta(days=lo)]
            if hi is not None:
                cond.append(age > now - timedelta(days=hi))
            age_cols.append(_sum(and_(*cond)).label(name))
        age_row = s.execute(select(*age_cols, _sum(_overdue_open(now)).label("overdue"))
                            .where(t.status.in_(OPEN), *in_scope)).one()._mapping

    # roll grids up to villages and towns -------------------------------------------------------
    def chain(nid):
        out = []
        while nid is not None and nid in nodes:
            out.append(nodes[nid])
            nid = nodes[nid].parent_id
        return out

    levels: dict[str, dict[int, dict]] = {"grid": {}, "village": {}, "town": {}, "county": {}}
    total = dict(_ZERO)
    for gid, m in per_grid.items():
        full = {**_ZERO, **m}
        for k in _ZERO:
            total[k] += full[k]
        for n in chain(gid):
            agg = levels[n.level].setdefault(n.id, dict(_ZERO))
            for k in _ZERO:
                agg[k] += full[k]
    # every grid / village / town in scope is listed, even without cases
    for n in nodes.values():
        if n.level in ("grid", "village", "town") and (ids is None or n.id in ids):
            levels[n.level].setdefault(n.id, dict(_ZERO))

    def rows_for(level: str) -> list[dict]:
        out = []
        for nid, agg in levels[level].items():
            n = nodes[nid]
            parent = nodes.get(n.parent_id)
            row = _derive({**agg, "code": n.code, "name": n.name, "level": level,
                           "parent": parent.name if parent else ""})
            row["rag"], row["rag_why"] = rag(row, rules)
            out.append(row)
        return sorted(out, key=lambda r: r["code"])

    total = _derive(total)
    total["rag"], total["rag_why"] = rag(total, rules)

    # trend: every bucket of the period, zero-filled
    labels, counts, resolved, ack_missed = [], [], [], []
    d = first
    while d < after:
        key = d.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m")
        labels.append(key[5:] if unit == "day" else key)
        n, res, miss = trend_rows.get(key, (0, 0, 0))
        counts.append(n)
        resolved.append(res)
        ack_missed.append(miss)
        d = d + timedelta(days=1) if unit == "day" else date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    by_tier = [(TIER_NAMES.get(k, str(k)), n, int(res)) for k, n, res in by_tier_rows]
    return {
        "period": period, "label": label, "month": label if period == "month" else None,
        "start": first.isoformat(), "end": (after - timedelta(days=1)).isoformat(),
        "as_of": local(now).strftime("%Y-%m-%d %H:%M"),
        "scope": scope_node.code if scope_node else None,
        "scope_name": scope_node.name if scope_node else "全县",
        "scopes": [(n.code, ("　" * ["county", "town", "village", "grid"].index(n.level)) + n.name)
                   for n in _tree_order(nodes)],
        "total": total["total"], "summary": total,
        "by_domain": by_domain, "by_subtype": by_subtype, "by_tier": [(k, n) for k, n, _r in by_tier],
        "by_tier_resolved": by_tier, "by_status": by_status, "by_outcome": by_outcome,
        "by_urgency": by_urgency,
        "trend": {"unit": unit, "labels": labels, "counts": counts, "resolved": resolved, "ack_missed": ack_missed},
        "ageing": [(name, int(age_row[name])) for name, _lo, _hi in AGE_BUCKETS],
        "backlog": sum(int(age_row[name]) for name, _lo, _hi in AGE_BUCKETS),
        "backlog_overdue": int(age_row["overdue"]),
        "grids": rows_for("grid"), "villages": rows_for("village"), "towns": rows_for("town"),
        "rules": {k: v for k, v in rules.items()}, "metric_words": METRIC_WORDS,
        # kept for older callers
        "resolved": total["resolved"], "success": total["success"], "resolved_low_level": total["resolved_low"],
        "ack_on_time": total["ack_met"], "answer_on_time": total["answer_met"],
        "ack_rate": total["ack_rate"], "answer_rate": total["answer_rate"],
        "satisfaction_avg": total["satisfaction"], "satisfaction_n": total["sat_n"],
    }


def _tree_order(nodes: dict[int, GridNode]) -> list[GridNode]:
    kids = defaultdict(list)
    for n in nodes.values():
        kids[n.parent_id].append(n)
    out: list[GridNode] = []

    def walk(pid):
        for n in sorted(kids[pid], key=lambda x: x.code):
            out.append(n)
            walk(n.id)

    walk(None)
    return out


def monthly(month: str) -> dict:
    return build("month", month)


# CSV -------------------------------------------------------------------------------------------

def to_csv(r: dict) -> str:
    """One row per town, village and grid in scope, then the total (UTF-8 with BOM for Excel)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)

    def line(level_word, row):
        def pct(x):
            return "" if x is None else f"{x:.1f}"
        w.writerow([r["label"], level_word, row.get("code", ""), row.get("name", ""), row.get("parent", ""),
                    row["total"], row["resolved"], row["success"], pct(row["success_rate"]),
                    row["resolved_low"], pct(row["low_level_rate"]), row["escalated"], pct(row["escalated_rate"]),
                    row["ack_met"], row["ack_missed"], row["ack_pending"], pct(row["ack_rate"]),
                    row["answer_met"], row["answer_missed"], row["answer_pending"], pct(row["answer_rate"]),
                    row["backlog"], row["overdue_open"],
                    "" if row["satisfaction"] is None else f"{row['satisfaction']:.2f}", row["sat_n"],
                    RAG_WORDS[row["rag"]], "；".join(row["rag_why"])])

    for key, word in (("towns", "乡镇/街道"), ("villages", "村/社区"), ("grids", "网格")):
        for row in r[key]:
            line(word, row)
    line("合计", {**r["summary"], "code": r["scope"] or "", "name": r["scope_name"]})
    return "\ufeff" + buf.getvalue()
