"""Routing: which grid a resident belongs to, and which tier/person takes the case.

Grid: the resident's stated place matched against grid names and aliases (longest match wins),
or a WeChat location → the nearest grid centre. Person: staff bound to the tier's node, domain
specialists first (劳动纠纷 → labour mediation).

Tier (小事不出村): a normal case stays at the lowest tier that has any staff at all, in or out of
working hours — out of hours it waits for the next working morning, with its 1 h / 24 h clock
running in that node's working time (tickets.clock.WorkCalendar). Only two things send a case up
at once: nobody at all is set up at a tier, or the case is urgent/emergency and nobody is on duty
there right now — then the first tier up with someone on duty, or a named 值班 person
(GridNode.on_call), takes it. The county keeps what reaches it. Every step has a reason in words.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tickets.clock import WorkCalendar, local
from tickets.grids import calendar_for, first_grid_under, node_at_tier, top_node
from tickets.models import LEVEL_TIER, TIER_COUNTY, GridNode, StaffUser, Ticket

ROLES = ("网格员", "人民调解员", "法律明白人", "管理员")
# Which mediation team a domain goes to; staff list the domains they take in `domains`.
DOMAIN_TEAMS = {
    "劳动纠纷": "劳动争议调解",
    "婚姻家庭": "婚姻家庭调解",
    "交通事故": "交通事故调解",
    "医疗纠纷": "医疗纠纷调解",
    "房产纠纷": "物业与土地纠纷调解",
    "拆迁安置": "征地拆迁调解",
    "消费权益": "消费纠纷调解",
    "债权债务": "民间借贷调解",
    "侵权": "邻里纠纷调解",
}
OPEN_STATUSES = ("new", "acknowledged", "in_mediation", "escalated")
URGENT = ("urgent", "emergency")
TIER_WORDS = {1: "网格", 2: "村/社区", 3: "乡镇/街道", 4: "县级矛调中心"}
MAX_GEO_KM = 30.0  # farther than this from every grid: not ours


def match_place(session: Session, text: Optional[str]) -> Optional[GridNode]:
    """The most specific node named in `text`: nodes whose parents are named too come first
    (城关街道和平路 → 和平社区第一网格), then the deeper level, then the longer name."""
    if not text:
        return None
    text = text.strip()
    hits: dict[int, tuple[GridNode, int]] = {}
    nodes = {n.id: n for n in session.scalars(select(GridNode))}
    for node in nodes.values():
        for name in [node.name, *(node.aliases or [])]:
            if name and name in text and len(name) > hits.get(node.id, (None, 0))[1]:
                hits[node.id] = (node, len(name))
    if not hits:
        return None

    def consistent(node: GridNode) -> int:
        n, c = node, 0
        while n.parent_id is not None:
            n = nodes[n.parent_id]
            c += n.id in hits
        return c

    return max(hits.values(), key=lambda h: (consistent(h[0]), -LEVEL_TIER[h[0].level], h[1], -h[0].id))[0]


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def nearest_grid(session: Session, lat: float, lon: float) -> Optional[GridNode]:
    best = None
    for node in session.scalars(select(GridNode).where(GridNode.level == "grid", GridNode.lat.is_not(None))):
        d = _km(lat, lon, node.lat, node.lon)
        if d <= MAX_GEO_KM and (best is None or d < best[0]):
            best = (d, node)
    return best[1] if best else None


def resolve_node(session: Session, label: Optional[str] = None, lat: Optional[float] = None,
                 lon: Optional[float] = None) -> Optional[GridNode]:
    """The lowest node we can be sure of: a grid, or a town/county when only that is known.

    A village/community without a grid named goes to its first grid (the grid staff there
    know their neighbours); a town or the county stays at that tier.
    """
    node = match_place(session, label)
    if node is None and lat is not None and lon is not None:
        node = nearest_grid(session, float(lat), float(lon))
    if node is None:
        return None
    if node.level == "village":
        node = first_grid_under(session, node)
    return node


# On duty -------------------------------------------------------------------

def _minutes(value: str) -> int:
    h, m = (value or "00:00").split(":")
    return int(h) * 60 + int(m)


def is_on_duty(user: StaffUser, when: datetime) -> bool:
    """Duty hours are local (Asia/Shanghai); "00:00"-"24:00" is all day; 20:00-08:00 spans midnight."""
    if not user.active:
        return False
    t = local(when)
    cur = t.hour * 60 + t.minute + t.second / 60
    start, end = _minutes(user.duty_start), _minutes(user.duty_end)
    days = set(user.duty_days or [])
    if start < end:
        return t.weekday() in days and start <= cur < end
    if start == end:
        return t.weekday() in days
    if cur >= start:
        return t.weekday() in days
    return cur < end and (t.weekday() - 1) % 7 in days


def staff_at(session: Session, node: GridNode) -> list[StaffUser]:
    """Everyone active who works cases at the node (admins do not)."""
    return list(session.scalars(select(StaffUser).where(
        StaffUser.node_id == node.id, StaffUser.active.is_(True), StaffUser.role.notin_(("管理员", "审核员")))
        .order_by(StaffUser.id)))


def on_duty_staff(session: Session, node: GridNode, when: datetime) -> list[StaffUser]:
    return [u for u in staff_at(session, node) if is_on_duty(u, when)]


def on_call_user(session: Session, node: GridNode) -> Optional[StaffUser]:
    """The node's named 值班 person, if that account exists and is active."""
    if not node.on_call:
        return None
    return session.scalars(select(StaffUser).where(StaffUser.username == node.on_call,
                                                   StaffUser.active.is_(True))).first()


def _open_load(session: Session, usernames: list[str]) -> dict[str, int]:
    if not usernames:
        return {}
    rows = session.execute(select(Ticket.assignee, func.count()).where(
        Ticket.assignee.in_(usernames), Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.assignee)).all()
    return {u: n for u, n in rows}


def pick_assignee(session: Session, staff: list[StaffUser], domain: Optional[str]) -> Optional[str]:
    """A domain specialist (fewest open cases) gets the case; otherwise it waits in the node's
    queue for any colleague to claim."""
    specialists = [u for u in staff if domain and domain in (u.domains or [])]
    if not specialists:
        return None
    load = _open_load(session, [u.username for u in specialists])
    return min(specialists, key=lambda u: (load.get(u.username, 0), u.id)).username


def clock_mode(urgency: str) -> str:
    """"business" (the SLA clock runs in the node's working time) or "wall" (round the clock).
    Defaults: normal → business, urgent/emergency → wall; `[clock]` in $MINGBAI_HOME/sla.toml
    overrides, e.g. `urgent = "business"`."""
    from tickets.policy import _overrides

    try:
        conf = (_overrides() or {}).get("clock") or {}
    except Exception:
        conf = {}
    mode = conf.get(urgency) or ("wall" if urgency in URGENT else "business")
    return mode if mode in ("business", "wall") else "business"


def deadlines_for(session: Session, node: Optional[GridNode], tier: int, urgency: str,
                  start: datetime) -> tuple[datetime, datetime]:
    """Acknowledge/answer due times for a case owned by `node` from `start`: the limits of
    tickets.policy (1 h / 24 h for normal cases), counted in the node's working time."""
    from tickets.policy import limits

    ack, answer = limits(tier, urgency)
    if clock_mode(urgency) == "wall":
        return start + ack, start + answer
    cal = calendar_for(session, node)
    return cal.add(start, ack), cal.add(start, answer)


def _fmt(dt: Optional[datetime]) -> str:
    return local(dt).strftime("%m-%d %H:%M") if dt else "（无工作时间）"


@dataclass
class Route:
    node: GridNode
    tier: int
    assignee: Optional[str]
    on_duty: list[str] = field(default_factory=list)  # who to tell now (on duty; else the node's staff)
    skipped: list[int] = field(default_factory=list)  # tiers passed over
    steps: list[str] = field(default_factory=list)    # why, in words, one line per tier looked at
    urgency: str = "normal"
    on_call: bool = False                             # the 值班 person took it
    open_now: bool = True                             # the node is in working hours at `when`
    ack_due: Optional[datetime] = None
    answer_due: Optional[datetime] = None
    origin_id: Optional[int] = None
    when: Optional[datetime] = None

    @property
    def reason(self) -> str:
        return "；".join(self.steps)


def route(session: Session, origin: GridNode, domain: Optional[str], when: datetime,
          start_tier: Optional[int] = None, urgency: str = "normal") -> Route:
    """From `start_tier` (default: the origin's own tier) up to the first tier that may keep the
    case (see the module docstring). Deadlines (ack_due/answer_due) are computed from `when`."""
    tier = start_tier or LEVEL_TIER[origin.level]
    urgent = urgency in URGENT
    skipped: list[int] = []
    steps: list[str] = []
    last = None
    result: Optional[Route] = None
    while tier <= TIER_COUNTY and result is None:
        node = node_at_tier(session, origin, tier)
        if node is None:
            tier += 1
            continue
        last = (node, tier)
        where = f"{TIER_WORDS.get(tier, tier)}「{node.name}」"
        cal: WorkCalendar = calendar_for(session, node)
        open_now = cal.is_open(when)
        staff = staff_at(session, node)
        duty = [u for u in staff if is_on_duty(u, when)]
        oc = on_call_user(session, node)
        if not urgent and staff:
            pool = duty or staff
            if open_now and duty:
                steps.append(f"{where}工作时间内有人在岗，留在本级")
            elif open_now:
                steps.append(f"{where}工作时间内暂无人在岗，留在本级待认领")
            else:
                steps.append(f"{where}现在非工作时间（{cal.name}），普通案件留在本级，"
                             f"{_fmt(cal.next_open(when))} 上班后按工作时间计时")
            result = Route(node, tier, pick_assignee(session, pool, domain), [u.username for u in pool],
                           skipped, steps, urgency, open_now=open_now)
        elif urgent and open_now and duty:
            steps.append(f"{where}工作时间内有人在岗，紧急案件由本级处理")
            result = Route(node, tier, pick_assignee(session, duty, domain), [u.username for u in duty],
                           skipped, steps, urgency)
        elif urgent and oc is not None:
            steps.append(f"{where}{'非工作时间' if not open_now else '无人在岗'}，紧急案件交值班人员 {oc.username}")
            result = Route(node, tier, oc.username, [oc.username], skipped, steps, urgency, on_call=True,
                           open_now=open_now)
        elif tier >= TIER_COUNTY:
            why = "没有设置工作人员" if not staff else ("非工作时间" if not open_now else "暂无人在岗")
            pool = duty or staff
            steps.append(f"{where}{why}，县级兜底接收")
            result = Route(node, tier, pick_assignee(session, pool, domain), [u.username for u in pool],
                           skipped, steps, urgency, open_now=open_now)
        else:
            if not staff and not urgent:
                steps.append(f"{where}没有设置任何工作人员 → 上一级")
            elif not staff:
                steps.append(f"{where}没有设置任何工作人员，也没有值班人员 → 上一级")
            else:
                steps.append(f"{where}{'非工作时间' if not open_now else '无人在岗'}且没有值班人员，"
                             f"紧急案件不能等 → 上一级")
            skipped.append(tier)
            tier += 1
    if result is None:
        if last is None:
            top = top_node(session) or origin
            last = (top, LEVEL_TIER[top.level])
        steps.append(f"{TIER_WORDS.get(last[1], last[1])}「{last[0].name}」兜底接收")
        result = Route(last[0], last[1], None, [], skipped, steps, urgency)
    result.ack_due, result.answer_due = deadlines_for(session, result.node, result.tier, urgency, when)
    result.origin_id, result.when = origin.id, when
    if result.urgency not in URGENT and not result.open_now and result.ack_due:
        result.steps[-1] += f"（受理时限 {_fmt(result.ack_due)}）"
    session.info.setdefault("mingbai.routes", []).append(result)
    return result
