"""Curated Q&A: YAML files in knowledge/qa/*.yml, each a list of entries.

Entry: id, domain, subtype, question, paraphrases: [..], answer, steps: [..],
citations: [{law, article}], status: draft|reviewed|published, version; service guides have
domain 综合咨询 and kind: guide. Article text is never in the YAML: answers quote the corpus.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.laws import clean_law_name
from knowledge.numerals import canonical_article

QA_DIR = Path(__file__).resolve().parent / "qa"
STATUSES = ("draft", "reviewed", "published")


class QAError(ValueError):
    pass


@dataclass
class Entry:
    id: str
    domain: str
    question: str
    answer: str
    subtype: str | None = None
    paraphrases: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)  # [{"law", "article"}] canonical
    status: str = "draft"
    version: int | str = 1
    kind: str = "qa"
    source: str = ""

    @property
    def texts(self) -> list[str]:
        """What a resident might type: the question and its paraphrases."""
        return [self.question] + [p for p in self.paraphrases if p]


def served_statuses() -> set[str]:
    """Statuses answered to residents; MINGBAI_KB_STATUSES overrides (e.g. 'draft,reviewed,published')."""
    raw = os.environ.get("MINGBAI_KB_STATUSES", "reviewed,published")
    return {s.strip() for s in raw.split(",") if s.strip()}


def _as_list(v) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def parse_entry(raw: dict, source: str = "") -> Entry:
    if not isinstance(raw, dict):
        raise QAError(f"{source}: entry is not a mapping: {raw!r:.80}")
    missing = [k for k in ("id", "domain", "question", "answer") if not raw.get(k)]
    if missing:
        raise QAError(f"{source}: entry {raw.get('id')!r} lacks {', '.join(missing)}")
    cits = []
    for c in _as_list(raw.get("citations")):
        if not isinstance(c, dict) or not c.get("law") or not c.get("article"):
            raise QAError(f"{source}: entry {raw['id']}: bad citation {c!r}")
        try:
            art = canonical_article(str(c["article"]))
        except ValueError as e:
            raise QAError(f"{source}: entry {raw['id']}: {e}") from e
        cits.append({"law": clean_law_name(str(c["law"])), "article": art})
    status = str(raw.get("status") or "draft").strip()
    if status not in STATUSES:
        raise QAError(f"{source}: entry {raw['id']}: status {status!r} not one of {STATUSES}")
    return Entry(
        id=str(raw["id"]).strip(), domain=str(raw["domain"]).strip(), subtype=(raw.get("subtype") or None),
        question=str(raw["question"]).strip(), answer=str(raw["answer"]).strip(),
        paraphrases=[str(p).strip() for p in _as_list(raw.get("paraphrases")) if str(p).strip()],
        steps=[str(s).strip() for s in _as_list(raw.get("steps")) if str(s).strip()],
        citations=cits, status=status, version=raw.get("version", 1),
        kind=str(raw.get("kind") or "qa"), source=source,
    )


def load_file(path: Path) -> list[Entry]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    if isinstance(data, dict):  # tolerate {entries: [...]}
        data = data.get("entries") or []
    if not isinstance(data, list):
        raise QAError(f"{path}: expected a list of entries")
    return [parse_entry(raw, source=Path(path).name) for raw in data]


def qa_files(qa_dir: Path = QA_DIR) -> list[Path]:
    return sorted(list(Path(qa_dir).glob("*.yml")) + list(Path(qa_dir).glob("*.yaml")))


def load_all(qa_dir: Path = QA_DIR, *, statuses: set[str] | None = None) -> list[Entry]:
    """All entries (optionally only the given statuses); duplicate ids are an error."""
    out: list[Entry] = []
    seen: dict[str, str] = {}
    for path in qa_files(qa_dir):
        for e in load_file(path):
            if e.id in seen:
                raise QAError(f"duplicate entry id {e.id!r} in {e.source} and {seen[e.id]}")
            seen[e.id] = e.source
            if statuses is None or e.status in statuses:
                out.append(e)
    return out


def served_entries(qa_dir: Path = QA_DIR) -> list[Entry]:
    """What residents are answered from: the database's published entries once the knowledge
    console has seeded it (knowledge.store), else the YAML files as before."""
    if Path(qa_dir) == QA_DIR:
        try:
            from knowledge.store import db_served_entries

            entries = db_served_entries(served_statuses())
        except Exception:  # no database / not migrated: the YAML is the source
            entries = None
        if entries is not None:
            return entries
    return load_all(qa_dir, statuses=served_statuses())
