"""未解答 (/console/unanswered): the questions the bot could not answer well, from real
conversations — "not sure" answers, fallbacks, 没帮助 feedback and handoffs a staff member
answered — grouped by similar wording (tickets.feedback.groups). One click turns a group and
the staff answer into a DRAFT knowledge entry (knowledge.drafts.make_draft); groups can be marked done or ignored.

Who: 管理员, 审核员 (knowledge reviewers) and 人民调解员. Questions are shown masked
(mingbai.privacy.mask); the inbox is not limited to the user's grid: the knowledge base is shared.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from consoles.access import login_required
from knowledge import drafts
from tickets import feedback

bp = Blueprint("unanswered", __name__, url_prefix="/console/unanswered", template_folder="templates")

ROLES = ("管理员", "审核员", "人民调解员")
SHOW = {"open": "待处理", "done": "已处理", "ignored": "已忽略"}


@bp.app_context_processor
def _ctx():
    return {"unanswered_roles": ROLES}


def _domains() -> list[str]:
    try:
        import yaml

        from mingbai.settings import PROJECT_ROOT

        data = yaml.safe_load((PROJECT_ROOT / "knowledge" / "taxonomy.yml").read_text(encoding="utf-8")) or {}
        return [str(d) for d in data.get("domains") or []] or ["综合咨询"]
    except Exception:
        return ["综合咨询"]


def _allowed() -> None:
    if g.user["role"] not in ROLES:
        abort(403)


def _ids() -> list[int]:
    out = []
    for v in request.form.getlist("ids"):
        try:
            out.append(int(v))
        except ValueError:
            continue
    return out


@bp.get("/")
@login_required
def index():
    _allowed()
    show = request.args.get("show") or "open"
    if show not in SHOW:
        show = "open"
    if show == "open":
        try:
            feedback.collect()
        except Exception:  # the inbox still shows what it has
            import logging

            logging.getLogger(__name__).exception("collecting unanswered questions failed")
    groups = feedback.groups(show, background=drafts.questions())
    return render_template("console/unanswered.html", groups=groups, show=show, shows=SHOW, user=g.user,
                           domains=_domains(), total=sum(x["count"] for x in groups))


@bp.post("/status")
@login_required
def status():
    _allowed()
    to = request.form.get("to", "")
    if to not in SHOW:
        abort(400)
    n = feedback.set_status(_ids(), to, f"staff:{g.user['username']}")
    flash(f"已{ {'done': '标记为已处理', 'ignored': '忽略', 'open': '放回待处理'}[to] }（{n} 条）。" if n
          else "没有找到这些问题，请刷新页面。", "ok" if n else "error")
    return redirect(url_for("unanswered.index", show=request.form.get("show") or "open"))


@bp.post("/draft")
@login_required
def draft():
    _allowed()
    f = request.form
    steps = [s for s in (f.get("steps") or "").splitlines() if s.strip()]
    try:
        got = drafts.make_draft(_ids(), domain=f.get("domain", ""), answer=f.get("answer", ""),
                                question=f.get("question") or None, subtype=f.get("subtype") or None,
                                steps=steps, actor=f"staff:{g.user['username']}")
    except feedback.DraftError as e:
        flash(str(e), "error")
        return redirect(url_for("unanswered.index"))
    where = "已存入知识库，请在「知识库」里补上法律依据、提交审核" if got["store"] else \
        f"kb_drafts/{got['id']}.yml，审核并补上法律依据后放进 knowledge/qa/"
    flash(f"已生成知识库草稿 {got['id']}（{where}）。", "ok")
    return redirect(url_for("unanswered.index"))
