"""管理 pages (/console/admin, role 管理员): staff accounts (create, disable, reset password,
roles, grids, duty hours) through tickets.users, grid import with a preview of what would change
(tickets.grids), and the console's canned replies (knowledge.models.CannedReply; the ticket page
falls back to the built-in CANNED while none are saved)."""
from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from consoles.access import admin_required
from mingbai.db import session_scope
from tickets.audit import audit
from tickets.models import GridNode, StaffUser

bp = Blueprint("admin", __name__, url_prefix="/console/admin", template_folder="templates")

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
DAY_NAMES = "一二三四五六日"


def _actor() -> str:
    return f"staff:{g.user['username']}"


def _render(tpl: str, **kw):
    return render_template(f"console/{tpl}", user=g.user, **kw)


def _roles() -> tuple:
    from tickets.users import STAFF_ROLES

    return STAFF_ROLES


def _days_text(days: list[int]) -> str:
    """[0,1,2,3,4] → '1-5'; [0,2,4] → '1,3,5' (the spelling tickets.users._days reads)."""
    ds = sorted(set(int(d) for d in days or []))
    if ds and ds == list(range(ds[0], ds[-1] + 1)) and len(ds) > 1:
        return f"{ds[0] + 1}-{ds[-1] + 1}"
    return ",".join(str(d + 1) for d in ds)


def _days_label(days: list[int]) -> str:
    return "、".join("周" + DAY_NAMES[d] for d in sorted(days or []))


# Staff --------------------------------------------------------------------------------------------

def _user_rows() -> list[dict]:
    with session_scope() as s:
        nodes = {n.id: n for n in s.scalars(select(GridNode))}
        out = []
        for u in s.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.role, StaffUser.username)):
            n = nodes.get(u.node_id)
            out.append({"username": u.username, "display_name": u.display_name, "role": u.role, "active": u.active,
                        "grid": n.code if n else "", "grid_name": n.name if n else "", "domains": u.domains or [],
                        "duty": f"{u.duty_start}-{u.duty_end}", "days": _days_text(u.duty_days),
                        "days_label": _days_label(u.duty_days), "notify_key": u.notify_key or ""})
        return out


def _grid_options() -> list[dict]:
    with session_scope() as s:
        return [{"code": n.code, "name": n.name, "level": n.level}
                for n in s.scalars(select(GridNode).order_by(GridNode.id))]


def _domains(text: str) -> list[str]:
    return [d.strip() for d in (text or "").replace("，", ",").replace("、", ",").split(",") if d.strip()]


@bp.get("/")
@admin_required
def index():
    return redirect(url_for("admin.users"))


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users():
    form = {}
    if request.method == "POST":
        from tickets.users import UserError, create_user

        f = request.form
        form = {k: f.get(k, "") for k in ("username", "display_name", "role", "grid", "domains", "duty", "days",
                                          "notify_key")}
        pw = f.get("password") or ""
        generated = not pw
        if generated:
            pw = secrets.token_urlsafe(9)
        try:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{2,64}", form["username"].strip()):
                raise UserError("用户名只能用字母、数字和 _ . -（2–64 位）")
            create_user(form["username"].strip(), pw, form["role"], form["grid"].strip() or None,
                        display_name=form["display_name"].strip(), domains=_domains(form["domains"]),
                        duty=form["duty"].strip() or "08:30-17:30", days=form["days"].strip() or "1-5",
                        notify_key=form["notify_key"].strip() or None, actor=_actor())
        except (UserError, ValueError) as e:
            flash(str(e) if isinstance(e, UserError) else "值班日写法如 1-5 (周一到周五)、1-7 或 1,3,5", "error")
            return _render("admin_users.html", rows=_user_rows(), grids=_grid_options(), roles=_roles(),
                           form=form), 400
        msg = f"已创建账号 {form['username']}。"
        if generated:
            msg += f"初始密码：{pw}（只显示这一次，请转告本人并让其尽快修改）"
        flash(msg, "ok")
        return redirect(url_for("admin.users"))
    return _render("admin_users.html", rows=_user_rows(), grids=_grid_options(), roles=_roles(), form=form)


def _load_user(s, username: str) -> StaffUser:
    u = s.scalars(select(StaffUser).where(StaffUser.username == username)).first()
    if u is None:
        abort(404)
    return u


def _active_admins(s) -> int:
    return s.scalar(select(func.count()).select_from(StaffUser).where(StaffUser.role == "管理员",
                                                                      StaffUser.active.is_(True))) or 0


@bp.route("/users/<username>", methods=["GET", "POST"])
@admin_required
def user_edit(username: str):
    from tickets.users import NO_GRID_ROLES, ROLE_ALIASES, UserError, _days

    if request.method == "POST":
        f = request.form
        try:
            role = ROLE_ALIASES.get(f.get("role", ""), f.get("role", ""))
            if role not in _roles():
                raise UserError(f"角色只能是：{'、'.join(_roles())}")
            duty = (f.get("duty") or "").strip()
            m = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", duty)
            if not m or int(m[1]) > 24 or int(m[3]) > 24 or int(m[2]) > 59 or int(m[4]) > 59:
                raise UserError("值班时间写法如 08:30-17:30 或 00:00-24:00")
            days = _days(f.get("days") or "")
            with session_scope() as s:
                u = _load_user(s, username)
                grid = (f.get("grid") or "").strip()
                node = None
                if grid:
                    node = s.scalars(select(GridNode).where(GridNode.code == grid)).first()
                    if node is None:
                        raise UserError(f"没有网格码 {grid}")
                elif role not in NO_GRID_ROLES:
                    raise UserError("除管理员、审核员外，账号必须绑定网格")
                if u.role == "管理员" and role != "管理员" and u.active and _active_admins(s) <= 1:
                    raise UserError("这是最后一个管理员，不能改成别的角色")
                before = {"role": u.role, "node_id": u.node_id, "duty": f"{u.duty_start}-{u.duty_end}",
                          "days": u.duty_days, "domains": u.domains}
                start, end = duty.split("-")
                u.display_name = (f.get("display_name") or "").strip()[:64] or u.username
                u.role, u.node_id = role, node.id if node else None
                u.domains = _domains(f.get("domains", ""))
                u.duty_start, u.duty_end, u.duty_days = start.zfill(5), end.zfill(5), days
                u.notify_key = (f.get("notify_key") or "").strip() or None
                audit(s, _actor(), "user_update", subject=username,
                      detail={"before": before, "after": {"role": role, "grid": grid or None, "duty": duty,
                                                          "days": days, "domains": u.domains}})
        except (UserError, ValueError) as e:
            flash(str(e) if isinstance(e, UserError) else "值班日写法如 1-5 (周一到周五)、1-7 或 1,3,5", "error")
            return redirect(url_for("admin.user_edit", username=username))
        flash("已保存。", "ok")
        return redirect(url_for("admin.users"))
    row = next((r for r in _user_rows() if r["username"] == username), None)
    if row is None:
        abort(404)
    return _render("admin_user.html", u=row, grids=_grid_options(), roles=_roles())


@bp.post("/users/<username>/active")
@admin_required
def user_active(username: str):
    want = request.form.get("active") == "1"
    with session_scope() as s:
        u = _load_user(s, username)
        if not want:
            if username == g.user["username"]:
                flash("不能停用自己的账号。", "error")
                return redirect(url_for("admin.users"))
            if u.role == "管理员" and u.active and _active_admins(s) <= 1:
                flash("这是最后一个管理员，不能停用。", "error")
                return redirect(url_for("admin.users"))
        u.active = want
        audit(s, _actor(), "user_enable" if want else "user_disable", subject=username)
    flash(f"已{'启用' if want else '停用'} {username}。" + ("" if want else "该账号立即不能再登录。"), "ok")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/password")
@admin_required
def user_password(username: str):
    from werkzeug.security import generate_password_hash

    pw = request.form.get("password") or ""
    generated = not pw
    if generated:
        pw = secrets.token_urlsafe(9)
    if len(pw) < 8:
        flash("密码至少 8 位。", "error")
        return redirect(url_for("admin.user_edit", username=username))
    with session_scope() as s:
        u = _load_user(s, username)
        u.password_hash = generate_password_hash(pw)
        audit(s, _actor(), "user_password_reset", subject=username)
    flash(f"已重置 {username} 的密码" + (f"：{pw}（只显示这一次）" if generated else "。"), "ok")
    return redirect(url_for("admin.users"))


# Grids --------------------------------------------------------------------------------------------

GRID_FIELDS = {"name": "名称", "level": "层级", "parent": "上级", "kind": "类别", "centre": "调解机构",
               "aliases": "别名", "lat": "纬度", "lon": "经度", "calendar": "工作时间", "on_call": "值班"}


def _upload_dir() -> Path:
    from mingbai.settings import get_settings

    d = get_settings().home / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def grid_preview(path: Path) -> dict:
    """What importing the file would do, without doing it."""
    from tickets.grids import DEFAULT_CENTRE, DEFAULT_KIND, read_calendars, read_rows

    rows = read_rows(path)
    cals = read_calendars(path)
    new, changed, same, errors = [], [], 0, []
    with session_scope() as s:
        nodes = {n.id: n for n in s.scalars(select(GridNode))}
        by_code = {n.code: n for n in nodes.values()}
        in_file = set()
        for r in rows:
            if r.get("parent") and r["parent"] not in by_code and r["parent"] not in in_file:
                errors.append(f"{r['code']} 的上级 {r['parent']} 不存在")
            in_file.add(r["code"])
            want = {"name": r["name"], "level": r["level"], "parent": r.get("parent") or None,
                    "kind": r.get("kind") or DEFAULT_KIND[r["level"]],
                    "centre": r.get("centre") or DEFAULT_CENTRE[r["level"]],
                    "aliases": [str(a) for a in (r.get("aliases") or [])], "lat": r.get("lat"), "lon": r.get("lon"),
                    "calendar": r.get("calendar") or None, "on_call": str(r["on_call"]) if r.get("on_call") else None}
            n = by_code.get(r["code"])
            if n is None:
                new.append({"code": r["code"], "name": r["name"], "level": r["level"], "parent": want["parent"]})
                continue
            have = {"name": n.name, "level": n.level, "parent": nodes[n.parent_id].code if n.parent_id else None,
                    "kind": n.kind, "centre": n.centre, "aliases": list(n.aliases or []), "lat": n.lat, "lon": n.lon,
                    "calendar": n.calendar, "on_call": n.on_call}
            diffs = [{"field": GRID_FIELDS[k], "old": have[k], "new": want[k]} for k in GRID_FIELDS
                     if have[k] != want[k]]
            if diffs:
                changed.append({"code": r["code"], "name": r["name"], "diffs": diffs})
            else:
                same += 1
        missing = [{"code": n.code, "name": n.name} for n in nodes.values() if n.code not in in_file]
    return {"new": new, "changed": changed, "same": same, "missing": missing, "errors": errors,
            "calendars": [c.code for c in cals]}


@bp.before_request
def _bigger_uploads():
    if request.endpoint == "admin.grids":
        request.max_content_length = 4 * 1024 * 1024


@bp.route("/grids", methods=["GET", "POST"])
@admin_required
def grids():
    from tickets.grids import GridImportError

    if request.method == "GET":
        return _render("admin_grids.html", preview=None, grids=_grid_options())
    f = request.files.get("file")
    if f is None or not f.filename:
        flash("请选择一个 .yml 或 .csv 文件", "error")
        return redirect(url_for("admin.grids"))
    name = Path(f.filename).name
    suffix = ".csv" if name.lower().endswith(".csv") else ".yml"
    token = secrets.token_hex(16)
    path = _upload_dir() / f"grid-{token}{suffix}"
    f.save(path)
    try:
        preview = grid_preview(path)
    except (GridImportError, ValueError, TypeError, AttributeError) as e:
        path.unlink(missing_ok=True)
        flash(f"文件有误：{e}", "error")
        return _render("admin_grids.html", preview=None, grids=_grid_options()), 400
    if preview["errors"]:
        path.unlink(missing_ok=True)
    return _render("admin_grids.html", preview=preview, token=token, suffix=suffix, filename=name,
                   grids=_grid_options())


@bp.post("/grids/apply")
@admin_required
def grids_apply():
    from tickets.grids import GridImportError, import_file

    token, suffix = request.form.get("token", ""), request.form.get("suffix", "")
    if not _TOKEN.match(token) or suffix not in (".csv", ".yml"):
        abort(400)
    path = _upload_dir() / f"grid-{token}{suffix}"
    if not path.exists():
        flash("上传的文件已过期，请重新上传", "error")
        return redirect(url_for("admin.grids"))
    try:
        with session_scope() as s:
            r = import_file(path, session=s)
            audit(s, _actor(), "grid_import", subject=request.form.get("filename", "")[:200], detail=r)
    except GridImportError as e:
        flash(f"导入失败：{e}", "error")
        return redirect(url_for("admin.grids"))
    finally:
        path.unlink(missing_ok=True)
    flash(f"导入完成：新增 {r['created']} 个，更新 {r['updated']} 个。", "ok")
    return redirect(url_for("admin.grids"))


# Canned replies -----------------------------------------------------------------------------------

# The built-in 快捷回复 ({who}: the staff member's node, role and name), used while none are saved.
CANNED = [
    "您好，我是{who}，已经收到您反映的情况，正在了解，请放心。",
    "请问您方便留个电话吗？电话里说更清楚。",
    "我们约个时间当面谈谈，您看明天上午方便吗？",
    "已经联系了对方，正在协调，有进展马上告诉您。",
    "这件事我们会尽快处理，请您先保存好相关的凭证（欠条、合同、照片、聊天记录）。",
    "这件事已经调解好了，感谢您的配合。",
]


def canned_replies() -> list[str]:
    """For the ticket page: the saved 快捷回复, else the built-in ones (CANNED)."""
    from knowledge.store import canned_replies as saved

    return saved(CANNED)


@bp.route("/canned", methods=["GET", "POST"])
@admin_required
def canned():
    from knowledge.models import CannedReply
    from tickets.clock import now

    if request.method == "POST":
        lines = [x.strip() for x in (request.form.get("texts") or "").replace("\r\n", "\n").split("\n") if x.strip()]
        bad = [x for x in lines if len(x) > 300]
        if bad:
            flash(f"每条快捷回复不超过 300 字：{bad[0][:20]}…", "error")
            return redirect(url_for("admin.canned"))
        for x in lines:
            try:
                x.format(who="")
            except (KeyError, IndexError, ValueError):
                flash(f"「{x[:20]}…」里的花括号只能是 {{who}}", "error")
                return redirect(url_for("admin.canned"))
        with session_scope() as s:
            for r in s.scalars(select(CannedReply)):
                s.delete(r)
            for i, x in enumerate(lines):
                s.add(CannedReply(text=x, position=i, active=True, updated_by=g.user["username"], updated_at=now()))
            audit(s, _actor(), "canned_update", detail={"count": len(lines)})
        flash(f"已保存 {len(lines)} 条快捷回复。" if lines else "已清空，工单页用内置的快捷回复。", "ok")
        return redirect(url_for("admin.canned"))
    from knowledge.store import canned_replies as saved

    current = saved([])
    return _render("admin_canned.html", texts="\n".join(current or CANNED), custom=bool(current))
