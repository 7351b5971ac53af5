"""From the 未解答 inbox (tickets.feedback) to the knowledge base: a group of questions residents
asked and a staff answer become a DRAFT knowledge entry.

This lives in knowledge, not in tickets.feedback: the knowledge base sits above tickets (it uses
tickets' audit log and clock), so tickets never imports it. The inbox's similarity weights need
the knowledge base's questions too: callers pass `questions()` to tickets.feedback.groups.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Iterable, Optional

import yaml

from knowledge import store
from knowledge.qa import QAError, load_all, parse_entry
from tickets.clock import local, now as clock_now
from tickets.feedback import DraftError, draft_entry, drafts_dir, set_status

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def questions() -> tuple[str, ...]:
    """The curated questions and paraphrases (knowledge/qa/*.yml): a stable background for the
    inbox's IDF (tickets.feedback.cluster), so that 怎么办 weighs little however few items it holds."""
    try:
        return tuple(t for e in load_all() for t in e.texts)
    except Exception:  # a broken Q&A file must not take the inbox down
        log.warning("no knowledge questions for the inbox's similarity weights", exc_info=True)
        return ()


def kb_store():
    """knowledge.store (the DB-backed knowledge base with the 知识库 console) when its tables
    exist; None: drafts go to YAML files instead."""
    try:
        return store if store.table_ready() else None
    except Exception:
        return None


def _store_draft(entry: dict, actor: str) -> str:
    """A new entry whose first version is a draft (knowledge.store.save(None, …): 草稿 → 待审核 →
    已发布 in the 知识库 console). Its author is the staff member, so someone else reviews it."""
    username = actor.split(":", 1)[1] if actor.startswith("staff:") else actor
    data = {"domain": entry["domain"], "subtype": entry["subtype"], "kind": "qa", "question": entry["question"],
            "paraphrases": list(entry["paraphrases"]), "answer": entry["answer"], "steps": list(entry["steps"]),
            "citations": [], "yaml_status": "draft"}
    try:
        store.validate(data, check_cites=False)  # nothing to cite yet: the reviewer adds it
        got = store.save(None, data, username, note="由「未解答」生成", source="unanswered", check=False)
    except ValueError as e:  # knowledge.store.KbError: what to fix, in Chinese
        raise DraftError(f"草稿没能存入知识库：{e}") from e
    return got["id"] if isinstance(got, dict) else str(got)


def make_draft(item_ids: Iterable[int], *, domain: str, answer: str, actor: str,
               question: Optional[str] = None, subtype: Optional[str] = None,
               steps: Iterable[str] = (), use_store: Optional[bool] = None) -> dict:
    """Turn a group into a DRAFT knowledge entry and mark its items done. With knowledge.store
    (DB-backed entries) the draft is a new entry there (reviewed in the 知识库 console);
    without it, YAML in $MINGBAI_HOME/kb_drafts/<id>.yml (a one-entry list in the format of
    knowledge/qa/*.yml). use_store=False forces the file. Returns {"id", "entry", "path" (file
    or None), "store" (bool)}. Raises tickets.feedback.DraftError with a Chinese message."""
    ids = sorted({int(i) for i in item_ids})
    entry = draft_entry(ids, domain=domain, answer=answer, question=question, subtype=subtype, steps=steps)
    try:  # the same checks the knowledge base applies when it loads the file
        parse_entry(dict(entry), source="kb_drafts")
    except QAError as e:
        raise DraftError(f"草稿格式不对：{e}") from e
    use = kb_store() is not None if use_store is not False else False
    path = None
    if use:
        entry["id"] = _store_draft(entry, actor)
    else:
        d = drafts_dir()
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{entry['id']}.yml"
        base, n = entry["id"], 2
        while path.exists():
            entry["id"] = f"{base}-{n}"
            path = d / f"{entry['id']}.yml"
            n += 1
        head = (f"# 未解答 → 知识库草稿（{actor}，{local(clock_now()):%Y-%m-%d %H:%M}）。审核并补上法律依据后，\n"
                f"# 把这一条移到 knowledge/qa/*.yml，status 改为 reviewed / published。\n")
        body = yaml.safe_dump([{k: v for k, v in entry.items() if v is not None}], allow_unicode=True,
                              sort_keys=False, width=1000)
        path.write_text(head + body, encoding="utf-8")
    set_status(ids, "done", actor, draft_id=entry["id"])
    return {"id": entry["id"], "entry": entry, "path": str(path) if path else None, "store": use}


__all__ = ["make_draft", "kb_store", "questions", "DraftError"]
