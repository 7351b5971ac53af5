"""Staff accounts and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from typing import Optional

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from mingbai.db import session_scope
from tickets.audit import audit
from tickets.clock import now
from tickets.models import ApiToken, GridNode, StaffUser
from tickets.routing import ROLES

ROLE_ALIASES = {"grid": "网格员", "mediator": "人民调解员", "volunteer": "法律明白人", "admin": "管理员",
                "reviewer": "审核员"}
# 审核员 (knowledge reviewer): works in the 知识库 console only; takes no tickets (no grid needed).
REVIEWER = "审核员"
STAFF_ROLES = (*ROLES, REVIEWER)
NO_GRID_ROLES = ("管理员", REVIEWER)


class UserError(ValueError):
    pass


def _days(spec: str) -> list[int]:
    """'1-5' (Mon-Fri), '1-7', '1,3,5' → [0..6] weekday numbers (Mon=0)."""
    out: set[int] = set()
    for part in str(spec).replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = (int(x) for x in part.split("-"))
            out.update(range(a - 1, b))
        else:
            out.add(int(part) - 1)
    if not out or min(out) < 0 or max(out) > 6:
        raise UserError("值班日写法如 1-5 (周一到周五)、1-7 或 1,3,5")
    return sorted(out)


def create_user(username: str, password: str, role: str, grid: Optional[str], *, display_name: str = "",
                domains: Optional[list[str]] = None, duty: str = "08:30-17:30", days: str = "1-5",
                notify_key: Optional[str] = None, actor: str = "system:cli") -> dict:
    role = ROLE_ALIASES.get(role, role)
    if role not in STAFF_ROLES:
        raise UserError(f"角色只能是: {'、'.join(STAFF_ROLES)}")
    if not username or len(password or "") < 8:
        raise UserError("需要用户名, 密码至少 8 位")
    try:
        start, end = duty.split("-")
        for v in (start, end):
            h, m = v.split(":")
            assert 0 <= int(h) <= 24 and 0 <= int(m) < 60
    except Exception:
        raise UserError("值班时间写法如 08:30-17:30 或 00:00-24:00") from None
    with session_scope() as s:
        node = None
        if grid:
            node = s.scalars(select(GridNode).where(GridNode.code == grid)).first()
            if node is None:
                raise UserError(f"没有网格码 {grid} (先运行 mingbai grid import)")
        elif role not in NO_GRID_ROLES:
            raise UserError("除管理员外, 账号必须绑定网格 (--grid)")
        if s.scalars(select(StaffUser).where(StaffUser.username == username)).first():
            raise UserError(f"用户 {username} 已存在")
        u = StaffUser(username=username, display_name=display_name or username,
                      password_hash=generate_password_hash(password), role=role,
                      node_id=node.id if node else None, domains=list(domains or []), duty_days=_days(days),
                      duty_start=start, duty_end=end, notify_key=notify_key, created_at=now())
        s.add(u)
        s.flush()
        audit(s, actor, "user_create", subject=username, detail={"role": role, "grid": grid})
        return {"id": u.id, "username": username, "role": role, "grid": grid}


def authenticate(username: str, password: str) -> Optional[dict]:
    with session_scope() as s:
        u = s.scalars(select(StaffUser).where(StaffUser.username == username)).first()
        ok = bool(u and u.active and check_password_hash(u.password_hash, password or ""))
        audit(s, f"staff:{username}"[:80], "login" if ok else "login_failed")
        return user_dict(s, u) if ok else None


def user_dict(s, u: StaffUser) -> dict:
    node = s.get(GridNode, u.node_id) if u.node_id else None
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
            "node_id": u.node_id, "node_code": node.code if node else None, "node_name": node.name if node else None,
            "domains": u.domains or [], "duty": f"{u.duty_start}-{u.duty_end}", "duty_days": u.duty_days}


def get_user(username: str) -> Optional[dict]:
    with session_scope() as s:
        u = s.scalars(select(StaffUser).where(StaffUser.username == username, StaffUser.active.is_(True))).first()
        return user_dict(s, u) if u else None


def issue_token(username: str, name: str = "api") -> str:
    token = "mbt_" + secrets.token_urlsafe(32)
    with session_scope() as s:
        u = s.scalars(select(StaffUser).where(StaffUser.username == username)).first()
        if u is None:
            raise UserError(f"没有用户 {username}")
        s.add(ApiToken(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=u.id, name=name,
                       created_at=now()))
        audit(s, "system:cli", "token_issue", subject=username, detail={"name": name})
    return token


def user_for_token(token: str) -> Optional[dict]:
    if not token:
        return None
    h = hashlib.sha256(token.encode()).hexdigest()
    with session_scope() as s:
        t = s.scalars(select(ApiToken).where(ApiToken.token_hash == h, ApiToken.revoked.is_(False))).first()
        if t is None:
            return None
        u = s.get(StaffUser, t.user_id)
        if u is None or not u.active:
            return None
        t.last_used_at = now()
        return user_dict(s, u)
