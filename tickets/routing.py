"""Routing: which grid a resident belongs to, and which tier/person takes the case.

Grid: the resident's stated place matched against grid names and aliases (longest match wins),
or a WeChat location → the nearest grid centre. Person: on-duty staff bound to the tier's node,
domain specialists first (劳动纠纷 → labour mediation). Nobody on duty → the next tier up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tickets.clock import local
from tickets.grids import first_grid_under, node_at_tier, top_node
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


def on_duty_staff(session: Session, node: GridNode, when: datetime) -> list[StaffUser]:
    users = session.scalars(select(StaffUser).where(
        StaffUser.node_id == node.id, StaffUser.active.is_(True), StaffUser.role != "管理员")).all()
    return [u for u in users if is_on_duty(u, when)]


def _open_load(session: Session, usernames: list[str]) -> dict[str, int]:
    if not usernames:
        return {}
    rows = session.execute(select(Ticket.assignee, func.count()).where(
        Ticket.assignee.in_(usernames), Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.assignee)).all()
    return {u: n for u, n in rows}


def pick_assignee(session: Session, staff: list[StaffUser], domain: Optional[str]) -> Optional[str]:
    """A domain specialist (fewest open cases) gets the case; otherwise it waits in the node's
    queue for any on-duty colleague to claim."""
    specialists = [u for u in staff if domain and domain in (u.domains or [])]
    if not specialists:
        return None
    load = _open_load(session, [u.username for u in specialists])
    return min(specialists, key=lambda u: (load.get(u.username, 0), u.id)).username


@dataclass
class Route:
    node: GridNode
    tier: int
    assignee: Optional[str]
    on_duty: list[str] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # tiers passed over: nobody on duty


def route(session: Session, origin: GridNode, domain: Optional[str], when: datetime,
          start_tier: Optional[int] = None) -> Route:
    """From `start_tier` (default: the origin's own tier) upward to the first tier with someone
    on duty; the county keeps the case even when nobody is on duty there."""
    tier = start_tier or LEVEL_TIER[origin.level]
    skipped: list[int] = []
    last = None
    while tier <= TIER_COUNTY:
        node = node_at_tier(session, origin, tier)
        if node is not None:
            last = (node, tier)
            staff = on_duty_staff(session, node, when)
            if staff:
                return Route(node, tier, pick_assignee(session, staff, domain),
                             [u.username for u in staff], skipped)
            if tier < TIER_COUNTY:
                skipped.append(tier)
        tier += 1
    if last is None:
        top = top_node(session) or origin
        last = (top, LEVEL_TIER[top.level])
    return Route(last[0], last[1], None, [], skipped)
