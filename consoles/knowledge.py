"""知识库 console (/console/kb) for maintainers (管理员) and reviewers (审核员): entries in the
database (knowledge.store) with a live citation check, draft → review → published with versions,
diff and rollback, golden questions that must pass before publishing, import/export (YAML, CSV),
a retrieval test box and re-indexing without downtime (knowledge.reindex) with a progress bar."""
from __future__ import annotations

import re
import secrets
import time
from functools import wraps
from pathlib import Path

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for

from consoles.access import login_required
from knowledge import reindex, store

bp = Blueprint("kb", __name__, url_prefix="/console/kb", template_folder="templates")

KB_ROLES = ("管理员", "审核员")
PAGE = 50
UPLOAD_MAX = 8 * 1024 * 1024  # a whole-knowledge-base YAML is ~1.5 MB
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def kb_required(fn):
    @wraps(fn)
    @login_required
    def wrapper(*a, **kw):
        if g.user["role"] not in KB_ROLES:
            abort(403)
        store.ensure_seeded()  # first use: the shipped YAML becomes the database's content
        return fn(*a, **kw)
    return wrapper


@bp.before_request
def _bigger_uploads():
    if request.endpoint == "kb.import_upload":
        request.max_content_length = UPLOAD_MAX


def _me() -> str:
    return g.user["username"]


def _render(tpl: str, **kw):
    return render_template(f"console/{tpl}", user=g.user, **kw)


def _to_entry(entry_id: str, msg: str | None = None, error: bool = False):
    if msg:
        flash(msg, "error" if error else "ok")
    return redirect(url_for("kb.entry", entry_id=entry_id))


# List ---------------------------------------------------------------------------------------------

@bp.get("/")
@kb_required
def index():
    a = request.args
    try:
        page = max(1, int(a.get("page", "1")))
    except ValueError:
        page = 1
    filters = {k: (a.get(k) or "").strip() for k in ("q", "domain", "subtype", "status", "kind")}
    rows, total = store.list_entries(**filters, limit=PAGE, offset=(page - 1) * PAGE)
    return _render("kb_list.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                   f=filters, facets=store.facets(), taxonomy=store.taxonomy(), labels=store.WORKFLOW_LABELS,
                   reindex=reindex.status())


# One entry ----------------------------------------------------------------------------------------

def _get(entry_id: str, version: int | None = None) -> dict:
    try:
        return store.get_entry(entry_id, version)
    except KeyError:
        abort(404)


@bp.get("/e/<entry_id>")
@kb_required
def entry(entry_id: str):
    try:
        v = int(request.args["v"]) if request.args.get("v") else None
    except ValueError:
        v = None
    e = _get(entry_id, v)
    cites = store.check_citations(e["data"].get("citations") or [])
    return _render("kb_entry.html", e=e, cites=cites, why_not=store.can_review(e, _me()),
                   golden=None, labels=store.WORKFLOW_LABELS)


def _form_defaults(e: dict | None) -> dict:
    if e is None:
        return {"id": "", "domain": "", "subtype": "", "kind": "qa", "question": "", "paraphrases": "", "answer": "",
                "steps": "", "citations": "", "base_version": ""}
    d = e["data"]
    return {"id": e["id"], "domain": d.get("domain") or "", "subtype": d.get("subtype") or "",
            "kind": d.get("kind") or "qa", "question": d.get("question") or "",
            "paraphrases": "\n".join(d.get("paraphrases") or []), "answer": d.get("answer") or "",
            "steps": "\n".join(d.get("steps") or []),
            "citations": "\n".join(store.citation_label(c) for c in d.get("citations") or []),
            "base_version": e["version"]}


def _edit_page(form: dict, e: dict | None, errors: list[str] | None = None, status: int = 200):
    return _render("kb_edit.html", form=form, e=e, errors=errors or [], taxonomy=store.taxonomy(),
                   answer_max=store.ANSWER_MAX), status


def _save(entry_id: str | None, e: dict | None):
    form = {k: request.form.get(k, "") for k in ("id", "domain", "subtype", "kind", "question", "paraphrases",
                                                   "answer", "steps", "citations", "base_version")}
    try:
        data = store.form_to_data(form)
        base = int(form["base_version"]) if entry_id and form["base_version"] else None
        r = store.save(entry_id or form["id"].strip() or None, data, _me(), base_version=base,
                       note=(request.form.get("note") or "编辑").strip()[:200] or "编辑")
    except store.KbError as err:
        return _edit_page(form, e, err.errors, 400)
    if request.form.get("then") == "submit" and r["changed"]:
        try:
            store.submit(r["id"], _me())
            return _to_entry(r["id"], f"已保存第 {r['version']} 版并提交审核，请另一位审核员审核。")
        except store.KbError as err:
            return _to_entry(r["id"], str(err), error=True)
    if not r["changed"]:
        return _to_entry(r["id"], "内容没有变化，没有生成新版本。")
    return _to_entry(r["id"], f"已保存为第 {r['version']} 版（草稿）。")


@bp.route("/new", methods=["GET", "POST"])
@kb_required
def new():
    if request.method == "POST":
        return _save(None, None)
    form = _form_defaults(None)
    form["domain"] = request.args.get("domain", "")
    return _edit_page(form, None)


@bp.route("/e/<entry_id>/edit", methods=["GET", "POST"])
@kb_required
def edit(entry_id: str):
    e = _get(entry_id)
    if request.method == "POST":
        return _save(entry_id, e)
    return _edit_page(_form_defaults(e), e)


@bp.get("/cite.json")
@kb_required
def cite_json():
    """Live citation check: ?q=one citation a line → the verbatim articles (or why not)."""
    lines = [x for x in (request.args.get("q") or "").replace("\r\n", "\n").split("\n") if x.strip()][:20]
    return jsonify(results=store.check_citations(lines))


@bp.post("/e/<entry_id>/submit")
@kb_required
def submit(entry_id: str):
    try:
        store.submit(entry_id, _me())
    except store.KbError as err:
        return _to_entry(entry_id, str(err), error=True)
    return _to_entry(entry_id, "已提交审核，请另一位审核员审核。")


@bp.post("/e/<entry_id>/reject")
@kb_required
def reject(entry_id: str):
    try:
        store.reject(entry_id, _me(), request.form.get("note", ""))
    except store.KbError as err:
        return _to_entry(entry_id, str(err), error=True)
    return _to_entry(entry_id, "已退回修改。")


@bp.post("/e/<entry_id>/publish")
@kb_required
def publish(entry_id: str):
    try:
        r = store.publish(entry_id, _me())
    except store.GoldenFailed as err:
        e = _get(entry_id)
        flash(str(err), "error")
        cites = store.check_citations(e["data"].get("citations") or [])
        return _render("kb_entry.html", e=e, cites=cites, why_not=store.can_review(e, _me()), golden=err.report,
                       labels=store.WORKFLOW_LABELS), 409
    except store.KbError as err:
        return _to_entry(entry_id, str(err), error=True)
    g_ = r["golden"]
    msg = f"已发布第 {r['version']} 版" + (f"（黄金问题 {g_['passed']}/{g_['total']} 通过）" if g_ else "")
    want = request.form.get("reindex") == "1" if "reindex_form" in request.form else True
    if want:
        st = reindex.start(f"staff:{_me()}")
        msg += "；正在重建索引，完成后居民就能问到。" if not st.get("busy") else "；已有重建在进行，请稍后再重建一次。"
    else:
        msg += "；重建索引后居民才能问到。"
    return _to_entry(entry_id, msg)


@bp.post("/e/<entry_id>/withdraw")
@kb_required
def withdraw(entry_id: str):
    try:
        store.withdraw(entry_id, _me())
    except store.KbError as err:
        return _to_entry(entry_id, str(err), error=True)
    reindex.start(f"staff:{_me()}")
    return _to_entry(entry_id, "已撤下；重建索引后居民不会再收到这条答复。")


# History ------------------------------------------------------------------------------------------

@bp.get("/e/<entry_id>/history")
@kb_required
def history(entry_id: str):
    e = _get(entry_id)
    vs = store.versions(entry_id)
    try:
        b = int(request.args.get("b") or e["version"])
        a = int(request.args.get("a") or max(1, b - 1))
    except ValueError:
        abort(400)
    d = None
    if len(vs) > 1 and a != b:
        try:
            d = store.diff(entry_id, a, b)
        except KeyError:
            abort(404)
    return _render("kb_history.html", e=e, versions=vs, diff=d, a=a, b=b)


@bp.post("/e/<entry_id>/rollback")
@kb_required
def rollback(entry_id: str):
    try:
        v = int(request.form.get("version", ""))
        r = store.rollback(entry_id, v, _me())
    except ValueError:
        abort(400)
    except store.KbError as err:
        return _to_entry(entry_id, str(err), error=True)
    return _to_entry(entry_id, f"已回滚：第 {r['version']} 版是第 {v} 版的内容（草稿，需重新审核发布）。")


# Retrieval test box -------------------------------------------------------------------------------

@bp.get("/try")
@kb_required
def try_box():
    q = (request.args.get("q") or "").strip()[:300]
    result = answer = None
    error = None
    if q:
        from knowledge.answer import ask
        from knowledge.search import get_searcher

        try:
            s = get_searcher()
            result = s.search(q)
            answer = ask(q, searcher=s)
        except Exception as e:  # an index problem must show, not crash the page
            error = f"检索出错：{e}"
    return _render("kb_try.html", q=q, r=result, answer=answer, error=error, tau=_taus())


def _taus() -> dict:
    try:
        from knowledge.search import calibration

        c = calibration()
        return {"qa": c["tau_qa"], "art": c["tau_art"]}
    except Exception:
        return {}


# Golden questions ---------------------------------------------------------------------------------

@bp.route("/golden", methods=["GET", "POST"])
@kb_required
def golden():
    report = None
    if request.method == "POST":
        act = request.form.get("action")
        try:
            if act == "add":
                store.golden_add(request.form.get("question", ""), request.form.get("expect", ""), _me(),
                                 int(request.form.get("top_k") or 3))
                flash("已添加。", "ok")
            elif act == "toggle":
                store.golden_toggle(int(request.form.get("id", "0")), _me())
            elif act == "delete":
                store.golden_delete(int(request.form.get("id", "0")), _me())
                flash("已删除。", "ok")
            elif act == "run":
                report = store.run_golden()
            if act != "run":
                return redirect(url_for("kb.golden"))
        except (store.KbError, ValueError) as err:
            flash(str(err), "error")
    return _render("kb_golden.html", rows=store.golden_list(), report=report)


# Import / export ----------------------------------------------------------------------------------

@bp.get("/export.<fmt>")
@kb_required
def export(fmt: str):
    which = "served" if request.args.get("which") == "served" else "latest"
    stamp = time.strftime("%Y%m%d")
    if fmt == "yml":
        body = store.export_yaml(which).encode("utf-8")
        mime = "application/x-yaml; charset=utf-8"
    elif fmt == "csv":
        body = store.export_csv(which)
        mime = "text/csv; charset=utf-8"
    else:
        abort(404)
    return Response(body, mimetype=mime,
                    headers={"Content-Disposition": f'attachment; filename="mingbai-kb-{which}-{stamp}.{fmt}"'})


def _upload_dir() -> Path:
    from mingbai.settings import get_settings

    d = get_settings().home / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


@bp.route("/import", methods=["GET", "POST"])
@kb_required
def import_upload():
    if request.method == "GET":
        return _render("kb_import.html", preview=None)
    f = request.files.get("file")
    if f is None or not f.filename:
        flash("请选择一个 .yml 或 .csv 文件", "error")
        return redirect(url_for("kb.import_upload"))
    raw = f.read()
    name = Path(f.filename).name
    try:
        entries = store.parse_upload(raw, name)
        preview = store.import_preview(entries)
    except store.KbError as err:
        flash(str(err), "error")
        return _render("kb_import.html", preview=None), 400
    token = secrets.token_hex(16)
    suffix = ".csv" if name.lower().endswith(".csv") else ".yml"
    (_upload_dir() / f"kb-{token}{suffix}").write_bytes(raw)
    return _render("kb_import.html", preview=preview, token=token, filename=name, suffix=suffix)


@bp.post("/import/apply")
@kb_required
def import_apply():
    token, suffix = request.form.get("token", ""), request.form.get("suffix", "")
    if not _TOKEN.match(token) or suffix not in (".csv", ".yml"):
        abort(400)
    path = _upload_dir() / f"kb-{token}{suffix}"
    if not path.exists():
        flash("上传的文件已过期，请重新上传", "error")
        return redirect(url_for("kb.import_upload"))
    name = request.form.get("filename", path.name)[:120]
    try:
        r = store.apply_import(store.parse_upload(path.read_bytes(), path.name), _me(), name)
    except store.KbError as err:
        flash(str(err), "error")
        return redirect(url_for("kb.import_upload"))
    finally:
        path.unlink(missing_ok=True)
    flash(f"已导入 {r['applied']} 条（新增 {len(r['new'])}、修改 {len(r['changed'])}，已提交审核）；"
          f"没变 {r['same']} 条；有误跳过 {len(r['invalid'])} 条。", "ok")
    return redirect(url_for("kb.index", status="review"))


# Re-index -----------------------------------------------------------------------------------------

@bp.get("/index")
@kb_required
def index_page():
    return _render("kb_index.html", st=reindex.status())


@bp.post("/index/start")
@kb_required
def index_start():
    st = reindex.start(f"staff:{_me()}")
    if request.headers.get("Accept", "").startswith("application/json"):
        return jsonify(st)
    if st.get("busy"):
        flash("已有一个重建在进行中。", "error")
    return redirect(url_for("kb.index_page"))


@bp.get("/index/status.json")
@kb_required
def index_status():
    return jsonify(reindex.status())
