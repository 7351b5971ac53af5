"""Curated entries in the database: versions, review workflow, citation check, import/export,
golden questions (tables in knowledge/models.py).

Workflow of an entry's latest version: draft (草稿) → review (待审核) → published (已发布).
Residents get the entry's *published* version (published_version) while a newer draft waits;
every change (edit, rollback, import) is a new version; the author of a version (or whoever
submitted it) cannot approve it; publishing runs the golden questions first; every step is
written to the audit log (tickets.audit).

Seeding: the first use (ensure_seeded) copies knowledge/qa/*.yml in when kb_entries is empty.
"""
from __future__ import annotations

import csv
import difflib
import io
import re
import secrets
import threading
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from sqlalchemy import func, select

from knowledge.laws import (CIVIL_CODE, REPEALED_ARTICLE_MAP, REPEALED_BY_CIVIL_CODE, Corpus, clean_law_name,
                            law_key, superseded)
from knowledge.models import WORKFLOW_LABELS, CannedReply, KbEntry, KbGolden, KbVersion  # noqa: F401
from knowledge.numerals import CN_NUM, article_label, parse_article
from knowledge.qa import QA_DIR, Entry, QAError, load_all, parse_entry, served_statuses
from mingbai.db import session_scope
from tickets.audit import audit
from tickets.clock import now

ANSWER_MAX = 200
QUESTION_MAX = 200
FIELDS = ("domain", "subtype", "kind", "question", "paraphrases", "answer", "steps", "citations")
FIELD_LABELS = {"domain": "领域", "subtype": "细类", "kind": "类型", "question": "问题", "paraphrases": "其他问法",
                "answer": "答复", "steps": "下一步", "citations": "法律依据"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,79}$")
TAXONOMY = Path(__file__).resolve().parent / "taxonomy.yml"
SEED_ACTOR = "system:seed"


class KbError(ValueError):
    """A rule said no; .errors lists what to fix (Chinese, for the form)."""

    def __init__(self, errors: str | list[str]):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("；".join(self.errors))


class GoldenFailed(KbError):
    def __init__(self, report: dict):
        self.report = report
        n = len(report["failures"])
        super().__init__(f"黄金问题回归有 {n} 条没通过，不能发布")


@lru_cache(maxsize=1)
def taxonomy() -> dict:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8")) or {}
    return {"domains": list(data.get("domains") or []), "subtypes": dict(data.get("subtypes") or {})}


# ============================================================================= citations

_SEP = r"[\s:：,，、]*"
_CITE_CN = re.compile(rf"^(?P<law>.+?){_SEP}(?P<art>第\s*[{CN_NUM}0-9]+\s*条(?:\s*之\s*[{CN_NUM}0-9]+)?)\s*$")
_CITE_NUM = re.compile(rf"^(?P<law>.*?[^\d\s:：,，、]){_SEP}(?P<art>\d+)\s*(?:条)?(?:\s*之\s*(?P<sub>\d+))?\s*$")

_corpus_lock = threading.Lock()
_corpus: dict[str, tuple[float, Corpus]] = {}


def corpus() -> Corpus:
    """The statute corpus of the index answers come from (built from the shipped statutes when
    there is none yet)."""
    from knowledge import index as idx
    from knowledge.reindex import current_index_dir

    d = current_index_dir()
    path = d / "laws.sqlite"
    with _corpus_lock:
        if not path.exists():
            from knowledge.laws import STATUTES_DIR

            idx.ingest_dir(d, STATUTES_DIR, shipped=True)
        stamp = path.stat().st_mtime
        hit = _corpus.get(str(path))
        if hit and hit[0] == stamp:
            return hit[1]
        c = Corpus(path)
        _corpus.clear()
        _corpus[str(path)] = (stamp, c)
        return c


def parse_citation(text: str) -> tuple[str, str]:
    """「民法典 1079」「《中华人民共和国劳动合同法》第八十二条」「民法典第1079条之一」→ (law, 第…条)."""
    t = (text or "").strip().replace("\u3000", " ")
    t = re.sub(r"^(?:法律依据|依据)[:：]", "", t).strip()
    m = _CITE_CN.match(t)
    if m:
        law, art = m.group("law"), re.sub(r"\s+", "", m.group("art"))
    else:
        m = _CITE_NUM.match(t)
        if not m:
            raise KbError(f"看不懂「{text}」：请写成「民法典 1079」或「劳动合同法第八十二条」")
        law = m.group("law")
        art = m.group("art") + (f"之{m.group('sub')}" if m.group("sub") else "")
    law = clean_law_name(law.strip(" 《》〈〉:：,，、"))
    if not law:
        raise KbError(f"「{text}」缺少法律名称")
    try:
        num, sub = parse_article(art)
    except ValueError:
        raise KbError(f"「{text}」的条号看不懂") from None
    if num <= 0:
        raise KbError(f"「{text}」的条号看不懂")
    return law, article_label(num, sub)


def _resolve_law(c: Corpus, law: str) -> Optional[str]:
    if c.has_law(law):
        return c.law_names[law_key(law)]
    k = law_key(law)
    cands = [name for key, name in c.law_names.items() if key.startswith(k) or k.startswith(key)]
    cands = [n for n in cands if len(law_key(n)) - len(k) <= 2]  # 劳动合同 → 劳动合同法, not …实施条例
    return cands[0] if len(cands) == 1 else None


def check_citation(text: str | dict, c: Optional[Corpus] = None) -> dict:
    """{"ok", "input", "law", "article", "text", "version", "error", "suggestion"}: the verbatim
    article in force, or why it cannot be cited."""
    raw = text if isinstance(text, str) else f"{text.get('law', '')} {text.get('article', '')}"
    out: dict[str, Any] = {"ok": False, "input": raw.strip(), "law": None, "article": None, "text": None,
                           "version": None, "error": None, "suggestion": None}
    try:
        law, art = (parse_citation(raw) if isinstance(text, str)
                    else (clean_law_name(str(text["law"])), article_label(*parse_article(str(text["article"])))))
    except (KbError, ValueError, KeyError) as e:
        out["error"] = str(e) if isinstance(e, KbError) else f"看不懂「{raw}」"
        return out
    out.update(law=law, article=art)
    c = c or corpus()
    name = _resolve_law(c, law)
    if name is None:
        if law in REPEALED_BY_CIVIL_CODE:
            out["error"] = f"《{law}》已于2021年1月1日废止，不能再引用；请改引《{CIVIL_CODE}》的相应条文。"
            num, _ = parse_article(art)
            new = REPEALED_ARTICLE_MAP.get((law, num))
            if new:
                out["suggestion"] = f"{CIVIL_CODE} {article_label(new)}"
        else:
            out["error"] = f"法条库里没有《{law}》，请检查法律名称（写全称，如「劳动合同法」）。"
        return out
    out["law"] = name
    a = c.get(name, art, in_force=True)
    if a is not None:
        out.update(ok=True, text=a.text, version=a.version, article=a.article)
        return out
    old = c.get(name, art, in_force=False)
    if old is not None:
        note = (superseded().get(law_key(name)) or {}).get("note")
        out["error"] = (f"《{name}》{art}（{old.version or '旧'}版）现已失效，不能引用"
                        + (f"：{note}。" if note else "。") + "请引用现行有效的条文。")
        out["version"] = old.version
        out["text"] = old.text
    else:
        out["error"] = f"《{name}》没有{art}（或该条不在现行版本中），请核对条号。"
    return out


def check_citations(lines: Iterable[str | dict]) -> list[dict]:
    c = corpus()
    return [check_citation(x, c) for x in lines if (x.strip() if isinstance(x, str) else x)]


# ============================================================================= entry data

def _lines(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        v = v.replace("\r\n", "\n").split("\n")
    return [str(x).strip() for x in v if str(x).strip()]


def _dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def entry_data(e: Entry) -> dict:
    return {"domain": e.domain, "subtype": e.subtype or None, "kind": e.kind or "qa", "question": e.question,
            "paraphrases": list(e.paraphrases), "answer": e.answer, "steps": list(e.steps),
            "citations": [{"law": c["law"], "article": c["article"]} for c in e.citations],
            "yaml_status": e.status}


def content(data: dict) -> dict:
    """The fields that make a version different from another (not its workflow status)."""
    return {k: data.get(k) if k not in ("paraphrases", "steps", "citations") else list(data.get(k) or [])
            for k in FIELDS}


def citation_label(c: dict) -> str:
    return f"{c['law']} {c['article']}"


def form_to_data(form: dict) -> dict:
    """The edit form (text areas, one item a line) → entry data; citations parsed, not yet checked."""
    cits, errors = [], []
    for line in _lines(form.get("citations")):
        try:
            law, art = parse_citation(line)
            cits.append({"law": law, "article": art})
        except KbError as e:
            errors.extend(e.errors)
    data = {
        "domain": (form.get("domain") or "").strip(), "subtype": (form.get("subtype") or "").strip() or None,
        "kind": (form.get("kind") or "qa").strip() or "qa", "question": (form.get("question") or "").strip(),
        "paraphrases": _dedupe(_lines(form.get("paraphrases"))), "answer": (form.get("answer") or "").strip(),
        "steps": _lines(form.get("steps")), "citations": cits,
    }
    if errors:
        raise KbError(errors)
    return data


def validate(data: dict, *, check_cites: bool = True) -> list[dict]:
    """Raises KbError with every problem; returns the checked citations (with the article text)."""
    errors = []
    if data.get("domain") not in taxonomy()["domains"]:
        errors.append(f"领域必须是：{'、'.join(taxonomy()['domains'])}")
    q = data.get("question") or ""
    if not q:
        errors.append("问题不能为空")
    elif len(q) > QUESTION_MAX:
        errors.append(f"问题太长（{len(q)} 字，最多 {QUESTION_MAX} 字）")
    a = data.get("answer") or ""
    if not a:
        errors.append("答复不能为空")
    elif len(a) > ANSWER_MAX:
        errors.append(f"答复太长：{len(a)} 字，最多 {ANSWER_MAX} 字（居民在手机上看）")
    if data.get("kind") not in ("qa", "guide"):
        errors.append("类型只能是 qa（问答）或 guide（办事指南）")
    for p in data.get("paraphrases") or []:
        if len(p) > QUESTION_MAX:
            errors.append(f"其他问法太长：{p[:20]}…")
    checked = []
    if check_cites:
        seen = set()
        for c in check_citations(data.get("citations") or []):
            if not c["ok"]:
                errors.append(f"法律依据「{c['input']}」：{c['error']}"
                              + (f"（可改为「{c['suggestion']}」）" if c.get("suggestion") else ""))
            elif (c["law"], c["article"]) in seen:
                errors.append(f"法律依据重复：{c['law']} {c['article']}")
            else:
                seen.add((c["law"], c["article"]))
                checked.append(c)
        if not errors:
            data["citations"] = [{"law": c["law"], "article": c["article"]} for c in checked]
    if errors:
        raise KbError(errors)
    return checked


# ============================================================================= seeding

def table_ready() -> bool:
    try:
        with session_scope() as s:
            s.execute(select(KbEntry.id).limit(1)).first()
        return True
    except Exception:
        return False


def is_seeded() -> bool:
    try:
        with session_scope() as s:
            return s.execute(select(KbEntry.id).limit(1)).first() is not None
    except Exception:
        return False


_seed_lock = threading.Lock()


def ensure_seeded(qa_dir: Path = QA_DIR, actor: str = SEED_ACTOR) -> int:
    """Copy the YAML entries in when kb_entries is empty (first use). Returns entries added."""
    from sqlalchemy.exc import IntegrityError

    with _seed_lock:
        try:
            n = _seed(qa_dir, actor)
        except IntegrityError:  # another process seeded at the same moment
            return 0
        if n:
            ensure_golden()
        return n


def _seed(qa_dir: Path, actor: str) -> int:
    """Copy the YAML entries in (one transaction) unless kb_entries has rows."""
    with session_scope() as s:
        if s.execute(select(KbEntry.id).limit(1)).first() is not None:
            return 0
        entries = load_all(qa_dir)
        served = served_statuses()
        at = now()
        for e in entries:
            live = e.status in served
            s.add(KbEntry(id=e.id, domain=e.domain, subtype=e.subtype, kind=e.kind or "qa", question=e.question,
                          status="published" if live else "draft", version=1,
                          published_version=1 if live else None, author=actor, source=e.source,
                          created_at=at, updated_at=at))
        s.flush()
        for e in entries:
            s.add(KbVersion(entry_id=e.id, version=1, data=entry_data(e), author=actor,
                            note=f"从 {e.source} 导入（初始）", created_at=at))
        audit(s, actor, "kb_seed", subject=str(qa_dir)[-200:], detail={"entries": len(entries)})
    return len(entries)


def db_served_entries(statuses: Optional[set[str]] = None) -> Optional[list[Entry]]:
    """The entries residents get, from the database; None when it has not been seeded."""
    statuses = served_statuses() if statuses is None else statuses
    with session_scope() as s:
        if s.execute(select(KbEntry.id).limit(1)).first() is None:
            return None
        rows = s.execute(
            select(KbEntry, KbVersion).join(KbVersion, (KbVersion.entry_id == KbEntry.id) & (
                KbVersion.version == func.coalesce(KbEntry.published_version, KbEntry.version)))
            .order_by(KbEntry.id)).all()
        out = []
        for e, v in rows:
            if e.published_version:
                st = v.data.get("yaml_status") if v.data.get("yaml_status") in ("reviewed", "published") else "published"
            else:
                st = "draft"
            if st in statuses:
                out.append(_to_entry(e.id, v.data, st, v.version, e.source))
        return out


def _to_entry(entry_id: str, d: dict, status: str, version: int, source: str = "") -> Entry:
    return Entry(id=entry_id, domain=d["domain"], question=d["question"], answer=d["answer"],
                 subtype=d.get("subtype") or None, paraphrases=list(d.get("paraphrases") or []),
                 steps=list(d.get("steps") or []), citations=[dict(c) for c in d.get("citations") or []],
                 status=status, version=version, kind=d.get("kind") or "qa", source=source)


# ============================================================================= reading

def _iso(dt: Optional[datetime]) -> Optional[str]:
    return dt.isoformat() if dt else None


def _entry_dict(e: KbEntry, v: Optional[KbVersion] = None) -> dict:
    d = {"id": e.id, "domain": e.domain, "subtype": e.subtype, "kind": e.kind, "question": e.question,
         "status": e.status, "status_label": WORKFLOW_LABELS.get(e.status, e.status), "version": e.version,
         "published_version": e.published_version, "author": e.author, "submitted_by": e.submitted_by,
         "reviewed_by": e.reviewed_by, "source": e.source, "updated_at": _iso(e.updated_at),
         "created_at": _iso(e.created_at)}
    if v is not None:
        d["data"] = v.data
    return d


def list_entries(*, q: str = "", domain: str = "", subtype: str = "", status: str = "", kind: str = "",
                 limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """Filter by domain/subtype/status/kind; `q` matches the id or any text of the latest version
    (question, paraphrases, answer, steps, citations). Newest changes first."""
    with session_scope() as s:
        cond = []
        if domain:
            cond.append(KbEntry.domain == domain)
        if subtype:
            cond.append(KbEntry.subtype == subtype)
        if status == "pending":  # published, with a newer version waiting
            cond.append(KbEntry.published_version.is_not(None))
            cond.append(KbEntry.status != "published")
        elif status:
            cond.append(KbEntry.status == status)
        if kind:
            cond.append(KbEntry.kind == kind)
        order = (KbEntry.updated_at.desc(), KbEntry.id)
        q = (q or "").strip()
        if not q:
            total = s.scalar(select(func.count()).select_from(KbEntry).where(*cond))
            rows = s.scalars(select(KbEntry).where(*cond).order_by(*order).limit(limit).offset(offset)).all()
            return [_entry_dict(e) for e in rows], int(total or 0)
        # JSON text escapes Chinese on some backends: match in Python (about a thousand rows)
        pairs = s.execute(select(KbEntry, KbVersion.data).join(
            KbVersion, (KbVersion.entry_id == KbEntry.id) & (KbVersion.version == KbEntry.version))
            .where(*cond).order_by(*order)).all()
        terms = [t for t in re.split(r"\s+", q.lower()) if t]
        hits = [e for e, d in pairs if all(t in _haystack(e.id, d) for t in terms)]
        return [_entry_dict(e) for e in hits[offset:offset + limit]], len(hits)


def _haystack(entry_id: str, d: dict) -> str:
    parts = [entry_id, d.get("question") or "", d.get("answer") or "", d.get("subtype") or "",
             *(d.get("paraphrases") or []), *(d.get("steps") or []),
             *(citation_label(c) for c in d.get("citations") or [])]
    return "\n".join(parts).lower()


def facets() -> dict:
    with session_scope() as s:
        doms = dict(s.execute(select(KbEntry.domain, func.count()).group_by(KbEntry.domain)).all())
        subs = [r for r, in s.execute(select(KbEntry.subtype).where(KbEntry.subtype.is_not(None))
                                      .group_by(KbEntry.subtype).order_by(KbEntry.subtype)).all()]
        sts = dict(s.execute(select(KbEntry.status, func.count()).group_by(KbEntry.status)).all())
        pending = s.scalar(select(func.count()).select_from(KbEntry).where(
            KbEntry.published_version.is_not(None), KbEntry.status != "published"))
    return {"domains": doms, "subtypes": subs, "statuses": sts, "pending": int(pending or 0)}


def get_entry(entry_id: str, version: Optional[int] = None) -> dict:
    with session_scope() as s:
        e = s.get(KbEntry, entry_id)
        if e is None:
            raise KeyError(entry_id)
        v = s.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id,
                                              KbVersion.version == (version or e.version))).first()
        if v is None:
            raise KeyError(f"{entry_id} v{version}")
        d = _entry_dict(e, v)
        d["shown_version"] = v.version
        d["version_author"] = v.author
        d["version_note"] = v.note
        if e.published_version and e.published_version != v.version:
            pv = s.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id,
                                                   KbVersion.version == e.published_version)).first()
            d["published_data"] = pv.data if pv else None
        return d


def versions(entry_id: str) -> list[dict]:
    with session_scope() as s:
        e = s.get(KbEntry, entry_id)
        if e is None:
            raise KeyError(entry_id)
        rows = s.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id).order_by(KbVersion.version.desc()))
        return [{"version": v.version, "author": v.author, "note": v.note, "created_at": _iso(v.created_at),
                 "published": v.version == e.published_version, "latest": v.version == e.version,
                 "question": v.data.get("question")} for v in rows]


def _render_field(k: str, v) -> str:
    if k == "citations":
        return "\n".join(citation_label(c) for c in v or [])
    if isinstance(v, list):
        return "\n".join(v)
    return "" if v is None else str(v)


def diff(entry_id: str, a: int, b: int) -> list[dict]:
    """Field by field: [{"field", "label", "changed", "ops": [(tag, text)]}] from version a to b
    (character level, difflib)."""
    with session_scope() as s:
        va = s.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id, KbVersion.version == a)).first()
        vb = s.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id, KbVersion.version == b)).first()
        if va is None or vb is None:
            raise KeyError(f"{entry_id} v{a}/v{b}")
        da, db = va.data, vb.data
    out = []
    for k in FIELDS:
        ta, tb = _render_field(k, da.get(k)), _render_field(k, db.get(k))
        ops = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
            if tag == "equal":
                ops.append(("eq", ta[i1:i2]))
            else:
                if i2 > i1:
                    ops.append(("del", ta[i1:i2]))
                if j2 > j1:
                    ops.append(("ins", tb[j1:j2]))
        out.append({"field": k, "label": FIELD_LABELS[k], "changed": ta != tb, "ops": ops})
    return out


# ============================================================================= writing

def new_id() -> str:
    return f"kb-{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def save(entry_id: Optional[str], data: dict, actor: str, *, base_version: Optional[int] = None,
         note: str = "编辑", source: str = "console", check: bool = True) -> dict:
    """Create or change an entry: a new version (draft). Unchanged content makes no version.
    Returns {"id", "version", "changed"}."""
    ensure_seeded()
    if check:
        validate(data)
    data = {**content(data), "yaml_status": data.get("yaml_status") or "draft"}
    with session_scope() as s:
        e = s.get(KbEntry, entry_id) if entry_id else None
        at = now()
        if e is None:
            entry_id = (entry_id or "").strip() or new_id()
            if not ID_RE.match(entry_id):
                raise KbError("编号只能用小写字母、数字和 -，如 lab-wage-010")
            e = KbEntry(id=entry_id, domain=data["domain"], subtype=data["subtype"], kind=data["kind"],
                        question=data["question"], status="draft", version=1, author=actor, source=source,
                        created_at=at, updated_at=at)
            s.add(e)
            s.flush()
            s.add(KbVersion(entry_id=entry_id, version=1, data=data, author=actor, note=note[:200], created_at=at))
            audit(s, _actor(actor), "kb_create", subject=entry_id, detail={"version": 1})
            return {"id": entry_id, "version": 1, "changed": True}
        if base_version is not None and int(base_version) != e.version:
            raise KbError(f"这条刚被别人改过（现在是第 {e.version} 版，您改的是第 {base_version} 版），"
                          "请刷新后再改。")
        cur = s.scalars(select(KbVersion).where(KbVersion.entry_id == e.id, KbVersion.version == e.version)).first()
        if cur is not None and content(cur.data) == content(data):
            return {"id": e.id, "version": e.version, "changed": False}
        e.version += 1
        s.add(KbVersion(entry_id=e.id, version=e.version, data=data, author=actor, note=note[:200], created_at=at))
        e.domain, e.subtype, e.kind, e.question = data["domain"], data["subtype"], data["kind"], data["question"]
        e.status, e.author, e.submitted_by, e.reviewed_by, e.updated_at = "draft", actor, None, None, at
        audit(s, _actor(actor), "kb_edit", subject=e.id, detail={"version": e.version, "note": note[:100]})
        return {"id": e.id, "version": e.version, "changed": True}


def _actor(username: str) -> str:
    return username if ":" in username else f"staff:{username}"[:80]


def _load(s, entry_id: str) -> KbEntry:
    e = s.get(KbEntry, entry_id)
    if e is None:
        raise KbError(f"没有条目 {entry_id}")
    return e


def submit(entry_id: str, actor: str) -> None:
    with session_scope() as s:
        e = _load(s, entry_id)
        if e.status != "draft":
            raise KbError(f"只有草稿可以提交审核（现在是「{WORKFLOW_LABELS[e.status]}」）")
        e.status, e.submitted_by, e.updated_at = "review", actor, now()
        audit(s, _actor(actor), "kb_submit", subject=e.id, detail={"version": e.version})


def reject(entry_id: str, actor: str, note: str = "") -> None:
    with session_scope() as s:
        e = _load(s, entry_id)
        if e.status != "review":
            raise KbError("只有待审核的条目可以退回")
        e.status, e.updated_at = "draft", now()
        audit(s, _actor(actor), "kb_reject", subject=e.id, detail={"version": e.version, "note": note[:200]})


def can_review(entry: dict, actor: str) -> Optional[str]:
    """Why `actor` may not approve this entry's latest version (None: may)."""
    if entry["status"] != "review":
        return "先提交审核"
    if actor in (entry["author"], entry["submitted_by"]):
        return "不能审核自己编写或提交的条目，请另一位审核员审核"
    return None


def candidate_entries(entry_id: str, data: dict) -> list[Entry]:
    """The served entries as they would be once this version is published."""
    served = [e for e in (db_served_entries() or []) if e.id != entry_id]
    served.append(_to_entry(entry_id, data, "published", 0))
    return served


def publish(entry_id: str, actor: str, *, golden: bool = True) -> dict:
    """Approve the version under review: citations re-checked, golden questions run against the
    current index + this version; on success residents get it after the next re-index."""
    with session_scope() as s:
        e = _load(s, entry_id)
        why = can_review(_entry_dict(e), actor)
        if why:
            raise KbError(why)
        v = s.scalars(select(KbVersion).where(KbVersion.entry_id == e.id, KbVersion.version == e.version)).one()
        data, version = dict(v.data), e.version
    validate(dict(data))  # the law may have changed since it was written
    report = run_golden(candidate=candidate_entries(entry_id, data)) if golden else None
    if report and report["failures"]:
        with session_scope() as s:
            audit(s, _actor(actor), "kb_publish_blocked", subject=entry_id,
                  detail={"version": version, "failures": [f["id"] for f in report["failures"]]})
        raise GoldenFailed(report)
    with session_scope() as s:
        e = _load(s, entry_id)
        if e.version != version or e.status != "review":
            raise KbError("审核期间条目被改动了，请重新审核")
        e.status, e.published_version, e.reviewed_by, e.updated_at = "published", version, actor, now()
        audit(s, _actor(actor), "kb_publish", subject=e.id,
              detail={"version": version, "golden": {k: report[k] for k in ("total", "passed")} if report else None})
    return {"id": entry_id, "version": version, "golden": report}


def withdraw(entry_id: str, actor: str) -> None:
    """Stop answering with this entry (after the next re-index); its versions stay."""
    with session_scope() as s:
        e = _load(s, entry_id)
        if not e.published_version:
            raise KbError("这条没有发布，不需要撤下")
        e.published_version, e.updated_at = None, now()
        if e.status == "published":
            e.status = "draft"
        audit(s, _actor(actor), "kb_withdraw", subject=e.id, detail={"version": e.version})


def rollback(entry_id: str, to_version: int, actor: str) -> dict:
    """A new version with the content of `to_version` (a draft: it goes through review again)."""
    with session_scope() as s:
        v = s.scalars(select(KbVersion).where(KbVersion.entry_id == entry_id, KbVersion.version == to_version)).first()
        if v is None:
            raise KbError(f"没有第 {to_version} 版")
        data = dict(v.data)
    r = save(entry_id, data, actor, note=f"回滚到第 {to_version} 版", check=False)
    with session_scope() as s:
        audit(s, _actor(actor), "kb_rollback", subject=entry_id, detail={"to": to_version, "version": r["version"]})
    return r


# ============================================================================= export / import

CSV_COLUMNS = ["id", "domain", "subtype", "kind", "status", "question", "paraphrases", "answer", "steps",
               "citations"]


def _export_rows(which: str = "latest") -> list[dict]:
    """which: latest (working copies, with their status) | served (what residents get)."""
    ensure_seeded()
    with session_scope() as s:
        if which == "served":
            cond = KbVersion.version == KbEntry.published_version
        else:
            cond = KbVersion.version == KbEntry.version
        rows = s.execute(select(KbEntry, KbVersion).join(KbVersion, (KbVersion.entry_id == KbEntry.id) & cond)
                         .order_by(KbEntry.id)).all()
        out = []
        for e, v in rows:
            d = v.data
            if which == "served" or (e.status == "published" and e.published_version == e.version):
                st = d.get("yaml_status") if d.get("yaml_status") in ("reviewed", "published") else "published"
            else:
                st = "draft"
            row = {"id": e.id, "domain": d["domain"]}
            if d.get("subtype"):
                row["subtype"] = d["subtype"]
            if (d.get("kind") or "qa") != "qa":
                row["kind"] = d["kind"]
            row.update(question=d["question"], paraphrases=list(d.get("paraphrases") or []), answer=d["answer"],
                       steps=list(d.get("steps") or []),
                       citations=[{"law": c["law"], "article": c["article"]} for c in d.get("citations") or []],
                       status=st, version=v.version)
            out.append(row)
        return out


def export_yaml(which: str = "latest") -> str:
    head = (f"# 明白·知识库导出 {time.strftime('%Y-%m-%d %H:%M')}（{'已发布版本' if which == 'served' else '最新版本'}）\n"
            "# 格式同 knowledge/qa/*.yml；可在「知识库 → 导入」导回。\n")
    return head + yaml.safe_dump(_export_rows(which), allow_unicode=True, sort_keys=False, width=1000)


def export_csv(which: str = "latest") -> bytes:
    """UTF-8 with BOM (Excel/WPS open it directly); lists are one item a line inside the cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in _export_rows(which):
        w.writerow([r["id"], r["domain"], r.get("subtype") or "", r.get("kind") or "qa", r["status"], r["question"],
                    "\n".join(r["paraphrases"]), r["answer"], "\n".join(r["steps"]),
                    "\n".join(citation_label(c) for c in r["citations"])])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def parse_upload(raw: bytes, filename: str) -> list[Entry]:
    """A YAML (knowledge/qa format) or CSV (export_csv format) file → entries. Raises KbError."""
    name = (filename or "").lower()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # a CSV saved by Excel on a Chinese Windows
        except UnicodeDecodeError:
            raise KbError("文件编码看不懂，请存成 UTF-8") from None
    out: list[Entry] = []
    seen: set[str] = set()
    try:
        if name.endswith(".csv"):
            for i, r in enumerate(csv.DictReader(io.StringIO(text)), start=2):
                r = {(k or "").strip().lower(): (v or "").strip() for k, v in r.items()}
                if not any(r.values()):
                    continue
                cits = []
                for line in _lines(r.get("citations")):
                    law, art = parse_citation(line)
                    cits.append({"law": law, "article": art})
                raw_e = {"id": r.get("id"), "domain": r.get("domain"), "subtype": r.get("subtype") or None,
                         "kind": r.get("kind") or "qa", "question": r.get("question"), "answer": r.get("answer"),
                         "paraphrases": _lines(r.get("paraphrases")), "steps": _lines(r.get("steps")),
                         "citations": cits, "status": r.get("status") or "draft"}
                out.append(parse_entry(raw_e, source=f"{filename} 第{i}行"))
        elif name.endswith((".yml", ".yaml")):
            data = yaml.safe_load(text) or []
            if isinstance(data, dict):
                data = data.get("entries") or []
            if not isinstance(data, list):
                raise KbError("YAML 文件应是条目列表（同 knowledge/qa/*.yml）")
            out = [parse_entry(x, source=filename) for x in data]
        else:
            raise KbError("只能导入 .yml/.yaml 或 .csv 文件")
    except (QAError, yaml.YAMLError) as e:
        raise KbError(f"文件有误：{e}") from None
    for e in out:
        if e.id in seen:
            raise KbError(f"文件里编号重复：{e.id}")
        seen.add(e.id)
    return out


def import_preview(entries: list[Entry]) -> dict:
    """What an import would do: {"new": [...], "changed": [...], "same": n, "invalid": [...]}."""
    ensure_seeded()
    c = corpus()
    new, changed, invalid, same = [], [], [], 0
    with session_scope() as s:
        for e in entries:
            data = entry_data(e)
            problems = [f"{x['input']}：{x['error']}" for x in (check_citation(ci, c) for ci in data["citations"])
                        if not x["ok"]]
            try:
                validate({**data}, check_cites=False)
            except KbError as err:
                problems = err.errors + problems
            if not ID_RE.match(e.id):
                problems.insert(0, "编号只能用小写字母、数字和 -")
            if problems:
                invalid.append({"id": e.id, "question": e.question, "errors": problems})
                continue
            row = s.get(KbEntry, e.id)
            if row is None:
                new.append({"id": e.id, "question": e.question})
                continue
            cur = s.scalars(select(KbVersion).where(KbVersion.entry_id == e.id, KbVersion.version == row.version)).one()
            if content(cur.data) == content(data):
                same += 1
            else:
                fields = [FIELD_LABELS[k] for k in FIELDS if content(cur.data)[k] != content(data)[k]]
                changed.append({"id": e.id, "question": e.question, "fields": fields})
    return {"new": new, "changed": changed, "same": same, "invalid": invalid}


def apply_import(entries: list[Entry], actor: str, filename: str = "") -> dict:
    """New and changed entries become new versions, submitted for review (another person
    approves them); invalid ones are skipped."""
    pv = import_preview(entries)
    ok_ids = {x["id"] for x in pv["new"]} | {x["id"] for x in pv["changed"]}
    done = 0
    for e in entries:
        if e.id not in ok_ids:
            continue
        r = save(e.id, entry_data(e), actor, note=f"导入 {filename}"[:200], source="import", check=False)
        if r["changed"]:
            submit(e.id, actor)
            done += 1
    with session_scope() as s:
        audit(s, _actor(actor), "kb_import", subject=filename[:200],
              detail={"new": len(pv["new"]), "changed": len(pv["changed"]), "same": pv["same"],
                      "invalid": len(pv["invalid"])})
    return {**pv, "applied": done}


# ============================================================================= golden questions

def ensure_golden(per_domain: int = 1, limit: int = 12) -> int:
    """Seed the golden table (when empty) from a few published entries' own questions."""
    with session_scope() as s:
        if s.execute(select(KbGolden.id).limit(1)).first() is not None:
            return 0
        rows = s.scalars(select(KbEntry).where(KbEntry.published_version.is_not(None), KbEntry.kind == "qa")
                         .order_by(KbEntry.domain, KbEntry.id)).all()
        picked, per = [], {}
        for e in rows:
            if per.get(e.domain, 0) < per_domain:
                per[e.domain] = per.get(e.domain, 0) + 1
                picked.append(e)
            if len(picked) >= limit:
                break
        for e in picked:
            s.add(KbGolden(question=e.question, expect_entry=e.id, top_k=3, created_by=SEED_ACTOR, created_at=now()))
        return len(picked)


def golden_list() -> list[dict]:
    with session_scope() as s:
        return [{"id": g.id, "question": g.question, "expect_entry": g.expect_entry, "expect_law": g.expect_law,
                 "expect_article": g.expect_article, "top_k": g.top_k, "active": g.active,
                 "created_by": g.created_by}
                for g in s.scalars(select(KbGolden).order_by(KbGolden.id))]


def golden_add(question: str, expect: str, actor: str, top_k: int = 3) -> int:
    """expect: an entry id, or a citation like 「民法典 1079」."""
    question, expect = (question or "").strip(), (expect or "").strip()
    if not question or not expect:
        raise KbError("问题和期望结果都要填")
    law = art = entry = None
    with session_scope() as s:
        if s.get(KbEntry, expect) is not None:
            entry = expect
    if entry is None:
        c = check_citation(expect)
        if not c["ok"]:
            raise KbError(f"期望结果既不是条目编号，也不是有效的法条：{c['error']}")
        law, art = c["law"], c["article"]
    with session_scope() as s:
        g = KbGolden(question=question[:500], expect_entry=entry, expect_law=law, expect_article=art,
                     top_k=max(1, min(int(top_k or 3), 10)), created_by=actor, created_at=now())
        s.add(g)
        s.flush()
        audit(s, _actor(actor), "kb_golden_add", subject=str(g.id), detail={"question": question[:100],
                                                                              "expect": expect[:100]})
        return g.id


def golden_toggle(gid: int, actor: str) -> None:
    with session_scope() as s:
        g = s.get(KbGolden, gid)
        if g is None:
            raise KbError("没有这条黄金问题")
        g.active = not g.active
        audit(s, _actor(actor), "kb_golden_toggle", subject=str(gid), detail={"active": g.active})


def golden_delete(gid: int, actor: str) -> None:
    with session_scope() as s:
        g = s.get(KbGolden, gid)
        if g is None:
            return
        audit(s, _actor(actor), "kb_golden_delete", subject=str(gid), detail={"question": g.question[:100]})
        s.delete(g)


def run_golden(*, candidate: Optional[list[Entry]] = None, searcher=None) -> dict:
    """Each active golden question against the current index (or the current index's articles +
    the `candidate` entries). {"total", "passed", "failures": [...], "results": [...], "mode"}."""
    from knowledge.answer import build_answer

    rows = [g for g in golden_list() if g["active"]]
    report = {"total": len(rows), "passed": 0, "failures": [], "results": [],
              "mode": "candidate" if candidate is not None else "current"}
    if not rows:
        return report

    def go(sr) -> None:
        for g in rows:
            res = sr.search(g["question"])
            k = g["top_k"]
            qa_ids = [h.entry.id for h in res.qa[:k]]
            got = ", ".join(qa_ids[:3])
            if g["expect_entry"]:
                ok = g["expect_entry"] in qa_ids
                rank = qa_ids.index(g["expect_entry"]) + 1 if ok else None
                expect = g["expect_entry"]
            else:
                want = (g["expect_law"], g["expect_article"])
                arts = [(a.law, a.article) for a in res.direct] + [(h.article.law, h.article.article)
                                                                   for h in res.articles[:k]]
                ans = build_answer(res, sr)
                arts += [(c["law"], c["article"]) for c in ans["citations"]]
                ok = want in arts
                rank = arts.index(want) + 1 if ok else None
                expect = f"{want[0]} {want[1]}"
                got = "；".join(f"{a} {b}" for a, b in list(dict.fromkeys(arts))[:3])
            r = {"id": g["id"], "question": g["question"], "expect": expect, "ok": ok, "rank": rank, "got": got}
            report["results"].append(r)
            if ok:
                report["passed"] += 1
            else:
                report["failures"].append(r)

    if searcher is not None:
        go(searcher)
    elif candidate is not None:
        from knowledge.reindex import Candidate

        with Candidate(candidate) as cand:
            go(cand.searcher)
    else:
        from knowledge.search import get_searcher

        go(get_searcher())
    return report


# ============================================================================= canned replies

def canned_replies(default: Optional[list[str]] = None) -> list[str]:
    """The console's 快捷回复: the admin-edited ones, else `default` (consoles.admin.CANNED)."""
    try:
        with session_scope() as s:
            rows = s.scalars(select(CannedReply).where(CannedReply.active.is_(True))
                             .order_by(CannedReply.position, CannedReply.id)).all()
            texts = [r.text for r in rows]
    except Exception:
        texts = []
    return texts or list(default or [])


# ============================================================================= CLI

def main(argv: list[str]) -> int:
    """`mingbai kb-admin seed|reindex|export|golden|status`."""
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(prog="mingbai kb-admin", description="知识库（数据库）维护")
    sub = p.add_subparsers(dest="cmd", required=True)
    sd = sub.add_parser("seed", help="数据库里还没有条目时，从 YAML 导入（默认 knowledge/qa）")
    sd.add_argument("--qa-dir", default=str(QA_DIR))
    sub.add_parser("reindex", help="用数据库里已发布的条目重建索引并切换（不停服务）")
    ex = sub.add_parser("export", help="导出为 YAML 或 CSV")
    ex.add_argument("output")
    ex.add_argument("--served", action="store_true", help="导出居民在用的版本（默认最新版本）")
    sub.add_parser("golden", help="用现有索引跑一遍黄金问题")
    sub.add_parser("status", help="条目统计和索引状态")
    args = p.parse_args(argv)

    from mingbai.db import init_db

    init_db()
    if args.cmd == "seed":
        n = ensure_seeded(Path(args.qa_dir))
        print(f"已导入 {n} 条" if n else "数据库里已有条目，未导入")
        return 0
    if args.cmd == "reindex":
        from knowledge import reindex

        try:
            st = reindex.run("system:cli")
        except reindex.ReindexBusy as e:
            print(str(e), file=sys.stderr)
            return 1
        print(json.dumps(st, ensure_ascii=False))
        return 0 if st["state"] == "done" else 1
    if args.cmd == "export":
        which = "served" if args.served else "latest"
        out = Path(args.output)
        if out.suffix.lower() == ".csv":
            out.write_bytes(export_csv(which))
        else:
            out.write_text(export_yaml(which), encoding="utf-8")
        print(f"已导出到 {out}")
        return 0
    if args.cmd == "golden":
        rep = run_golden()
        for r in rep["results"]:
            print(f"{'通过' if r['ok'] else '失败'}\t{r['question']}\t期望 {r['expect']}\t实际 {r['got']}")
        print(f"{rep['passed']}/{rep['total']} 通过")
        return 0 if not rep["failures"] else 1
    from knowledge import reindex

    print(json.dumps({"seeded": is_seeded(), **(facets() if is_seeded() else {}), "index": reindex.status()},
                     ensure_ascii=False))
    return 0
