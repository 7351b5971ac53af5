"""The grid hierarchy: import from YAML/CSV and look-ups (ancestors, tiers, place names)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Optional

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from tickets.clock import WorkCalendar, builtin_calendar
from tickets.models import LEVEL_TIER, TIER_LEVEL, GridNode, WorkCalendar as WorkCalendarRow

LEVELS = ["county", "town", "village", "grid"]
DEFAULT_KIND = {"county": "县", "town": "镇", "village": "村", "grid": "网格"}
DEFAULT_CENTRE = {"county": "县矛调中心", "town": "镇矛调中心", "village": "村调委会", "grid": "网格员"}


class GridImportError(ValueError):
    pass


def _flatten_yaml(data: dict) -> list[dict]:
    rows: list[dict] = []

    def walk(node: dict, depth: int, parent: Optional[str]) -> None:
        if depth >= len(LEVELS):
            raise GridImportError(f"层级太深: {node.get('code')}")
        level = node.get("level") or LEVELS[depth]
        rows.append({**{k: v for k, v in node.items() if k != "children"}, "level": level, "parent": parent})
        for child in node.get("children") or []:
            walk(child, depth + 1, node["code"])

    roots = data.get("counties") or ([data["county"]] if "county" in data else [])
    if not roots:
        raise GridImportError("文件里没有 county / counties")
    for root in roots:
        walk(root, 0, None)
    return rows


def _read_csv(path: Path) -> list[dict]:
    """CSV columns: code,name,level,parent,kind,centre,aliases(以 | 分隔),lat,lon[,calendar,on_call]."""
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            r = {k.strip(): (v or "").strip() for k, v in r.items() if k}
            rows.append({
                "code": r.get("code"), "name": r.get("name"), "level": r.get("level"),
                "parent": r.get("parent") or r.get("parent_code") or None,
                "kind": r.get("kind") or None, "centre": r.get("centre") or None,
                "aliases": [a for a in (r.get("aliases") or "").split("|") if a],
                "lat": float(r["lat"]) if r.get("lat") else None,
                "lon": float(r["lon"]) if r.get("lon") else None,
                "calendar": r.get("calendar") or None, "on_call": r.get("on_call") or None,
            })
    return rows


def read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise GridImportError(f"文件不存在: {path}")
    if path.suffix.lower() == ".csv":
        rows = _read_csv(path)
    else:
        rows = _flatten_yaml(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    seen = set()
    for r in rows:
        if not r.get("code") or not r.get("name"):
            raise GridImportError(f"每一行都需要 code 和 name: {r}")
        if r["level"] not in LEVEL_TIER:
            raise GridImportError(f"未知层级 {r['level']!r} (应为 {'/'.join(LEVELS)})")
        if r["code"] in seen:
            raise GridImportError(f"网格码重复: {r['code']}")
        seen.add(r["code"])
    return rows


def import_rows(session: Session, rows: Iterable[dict]) -> dict:
    """Upsert by code; parents must come before children (YAML order guarantees it)."""
    created = updated = 0
    by_code = {n.code: n for n in session.scalars(select(GridNode))}
    for r in rows:
        parent_id = None
        if r.get("parent"):
            parent = by_code.get(r["parent"])
            if parent is None:
                raise GridImportError(f"{r['code']} 的上级 {r['parent']} 不存在")
            parent_id = parent.id
        node = by_code.get(r["code"])
        if node is None:
            node = GridNode(code=r["code"])
            session.add(node)
            created += 1
        else:
            updated += 1
        node.name = r["name"]
        node.level = r["level"]
        node.kind = r.get("kind") or DEFAULT_KIND[r["level"]]
        node.centre = r.get("centre") or DEFAULT_CENTRE[r["level"]]
        node.parent_id = parent_id
        node.aliases = [str(a) for a in (r.get("aliases") or [])]
        node.lat = r.get("lat")
        node.lon = r.get("lon")
        node.calendar = r.get("calendar") or None
        node.on_call = str(r["on_call"]) if r.get("on_call") else None
        session.flush()
        by_code[node.code] = node
    return {"created": created, "updated": updated}


def import_file(path: str | Path, session: Session | None = None) -> dict:
    rows = read_rows(path)
    calendars = read_calendars(path)
    if session is not None:
        result = import_rows(session, rows)
        result["calendars"] = import_calendars(session, calendars)
        return result
    from mingbai.db import session_scope

    with session_scope() as s:
        result = import_rows(s, rows)
        result["calendars"] = import_calendars(s, calendars)
        from tickets.audit import audit

        audit(s, "system:cli", "grid_import", subject=str(path), detail=result)
        return result


# Working-time calendars -----------------------------------------------------
#
# The grid YAML may carry a `working_time:` block (see data/grids/sample.yml):
#
#   working_time:
#     holidays: [2026-10-01, ...]     # closed all day (every calendar unless it sets its own)
#     workdays: [2026-10-10, ...]     # 调休: weekend days worked
#     calendars:
#       grid:    {name: 网格员, hours: {mon-fri: "08:30-17:30"}}
#       village: {hours: {mon-sat: "08:00-18:00"}}
#       always:  {hours: {mon-sun: "00:00-24:00"}, holidays: []}
#
# Calendars named grid / village / town / county are the defaults of that tier; a node picks
# another with `calendar: always`. A town names its 值班 person with `on_call: <username>`.

def read_calendars(path: str | Path) -> list[WorkCalendar]:
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    wt = data.get("working_time") or {}
    holidays = wt.get("holidays") or []
    workdays = wt.get("workdays") or []
    out = []
    for code, conf in (wt.get("calendars") or {}).items():
        conf = conf or {}
        try:
            out.append(WorkCalendar.from_config(
                str(code), conf.get("name") or "", conf.get("hours") or {},
                conf["holidays"] if conf.get("holidays") is not None else holidays,
                conf["workdays"] if conf.get("workdays") is not None else workdays))
        except (ValueError, TypeError) as e:
            raise GridImportError(f"工作时间 {code}: {e}") from None
    return out


def import_calendars(session: Session, calendars: list[WorkCalendar]) -> int:
    from tickets.clock import now

    for cal in calendars:
        row = session.get(WorkCalendarRow, cal.code) or WorkCalendarRow(code=cal.code)
        row.name = cal.name
        row.hours = cal.to_json_hours()
        row.holidays = sorted(d.isoformat() for d in cal.holidays)
        row.workdays = sorted(d.isoformat() for d in cal.workdays)
        row.updated_at = now()
        session.add(row)
    session.flush()
    session.info.pop("mingbai.calendars", None)
    return len(calendars)


def calendars(session: Session) -> dict[str, WorkCalendar]:
    """All stored calendars by code (cached for the session)."""
    cache = session.info.get("mingbai.calendars")
    if cache is None:
        cache = {r.code: WorkCalendar.from_stored(r.code, r.name, r.hours, r.holidays, r.workdays)
                 for r in session.scalars(select(WorkCalendarRow))}
        session.info["mingbai.calendars"] = cache
    return cache


def calendar_for(session: Session, node: Optional[GridNode]) -> WorkCalendar:
    """The node's own calendar, else its tier's (grid/village/town/county), else the built-in
    office calendar (Mon–Fri 08:30–17:30 with the Chinese public holidays)."""
    cals = calendars(session)
    if node is not None:
        for code in (node.calendar, node.level):
            if code and code in cals:
                return cals[code]
        if node.calendar == "always":
            from tickets.clock import ALWAYS_OPEN

            return ALWAYS_OPEN
    return cals.get("default") or builtin_calendar()


# Look-ups ------------------------------------------------------------------

def ancestors(session: Session, node: GridNode) -> list[GridNode]:
    """The node and its parents, nearest first."""
    chain = [node]
    while chain[-1].parent_id is not None:
        chain.append(session.get(GridNode, chain[-1].parent_id))
    return chain


def node_at_tier(session: Session, node: GridNode, tier: int) -> Optional[GridNode]:
    """The ancestor of `node` at `tier` (1 grid … 4 county); None above the top."""
    level = TIER_LEVEL.get(tier)
    for n in ancestors(session, node):
        if n.level == level:
            return n
    return None


def descendants_ids(session: Session, node: GridNode) -> set[int]:
    ids = {node.id}
    frontier = [node.id]
    while frontier:
        children = session.scalars(select(GridNode.id).where(GridNode.parent_id.in_(frontier))).all()
        frontier = [c for c in children if c not in ids]
        ids.update(frontier)
    return ids


def first_grid_under(session: Session, node: GridNode) -> GridNode:
    while node.level != "grid":
        child = session.scalars(
            select(GridNode).where(GridNode.parent_id == node.id).order_by(GridNode.code)).first()
        if child is None:
            return node
        node = child
    return node


def top_node(session: Session) -> Optional[GridNode]:
    return session.scalars(select(GridNode).where(GridNode.parent_id.is_(None)).order_by(GridNode.id)).first()


def tier_label(node: Optional[GridNode]) -> str:
    """How a resident hears about the body: 镇矛调中心, 街道矛调中心, 村调委会…"""
    if node is None:
        return "县矛调中心"
    if node.level == "grid":
        return "网格员"
    return node.centre or DEFAULT_CENTRE[node.level]
