"""Statute corpus: LawRefBook-style Markdown -> one record per article, stored in SQLite.

Format (knowledge/statutes/SOURCE.md): one folder per kind, one file per law version
`NAME(YYYY-MM-DD).md`, `# title`, history, `<!-- INFO END -->`, `##`/`###`/`####` headings,
articles start a line with `第X条` (or `第X条之一`) + space; later paragraphs follow without prefix.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from knowledge.numerals import CN_NUM, article_label, cn2int, parse_article

STATUTES_DIR = Path(__file__).resolve().parent / "statutes"
CIVIL_CODE = "民法典"
CIVIL_CODE_DATE = "2021-01-01"
# Repealed on 2021-01-01 when the 民法典 took effect (民法典 第一千二百六十条).
REPEALED_BY_CIVIL_CODE = ("婚姻法", "继承法", "合同法", "物权法", "侵权责任法", "民法通则", "民法总则", "担保法", "收养法")
# Well-known old articles -> the 民法典 article that replaced them (only ones we are sure of).
REPEALED_ARTICLE_MAP: dict[tuple[str, int], int] = {
    ("婚姻法", 17): 1062,  # 夫妻共同财产
    ("婚姻法", 18): 1063,  # 个人财产
    ("婚姻法", 19): 1065,  # 约定财产
    ("婚姻法", 32): 1079,  # 诉讼离婚
    ("婚姻法", 46): 1091,  # 离婚损害赔偿
    ("继承法", 10): 1127,  # 法定继承顺序
    ("侵权责任法", 6): 1165,  # 过错责任
    ("侵权责任法", 16): 1179,  # 人身损害赔偿范围
    ("侵权责任法", 22): 1183,  # 精神损害赔偿
    ("合同法", 107): 577,  # 违约责任
    ("合同法", 114): 585,  # 违约金
    ("民法通则", 135): 188,  # 诉讼时效
}
SKIP_DIRS = {"案例"}  # typical cases, not statutes

_ART_LINE = re.compile(rf"^第([{CN_NUM}]+)条(?:之([{CN_NUM}]+))?[ \u3000\u2002\t]+(.*)$")
_FILE_DATE = re.compile(r"^(.*?)[(（](\d{4}-\d{2}-\d{2})[)）]$")
_CN_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_SPACES = re.compile(r"[\s\u3000\u2002\u2003\u00a0]+")


def clean_law_name(name: str) -> str:
    """Display name: no 中华人民共和国, no outer 《》, no spaces."""
    name = _SPACES.sub("", name or "")
    if name.startswith("《") and name.endswith("》"):
        name = name[1:-1]
    name = name.replace("中华人民共和国", "")
    return name


def law_key(name: str) -> str:
    """Lookup key: tolerant of 《》〈〉, spaces, half/full-width brackets, 中华人民共和国."""
    name = clean_law_name(name)
    name = re.sub(r"[《》〈〉<>「」“”\"']", "", name)
    return name.replace("(", "（").replace(")", "）")


def display_law(name: str) -> str:
    """Name for 《X》 quoting: inner 《》 become 〈〉."""
    return name.replace("《", "〈").replace("》", "〉")


@dataclass
class Article:
    law: str
    num: int
    sub: int
    text: str
    version: str | None = None
    kind: str = ""
    book: str = ""
    chapter: str = ""
    section: str = ""
    in_force: bool = True
    source: str = ""
    id: int | None = None

    @property
    def article(self) -> str:
        return article_label(self.num, self.sub)

    @property
    def first_paragraph(self) -> str:
        return self.text.split("\n", 1)[0]

    def as_dict(self) -> dict:
        return {
            "law": self.law, "article": self.article, "num": self.num, "sub": self.sub, "text": self.text,
            "version": self.version, "kind": self.kind, "book": self.book, "chapter": self.chapter,
            "section": self.section, "in_force": self.in_force,
        }


@dataclass
class LawFile:
    law: str
    version: str | None
    kind: str
    book: str
    path: Path
    articles: list[Article] = field(default_factory=list)


def _heading_level(line: str) -> int:
    n = len(line) - len(line.lstrip("#"))
    return n if n and line[n:n + 1] in (" ", "\u3000", "\u2002") else 0


def parse_file(path: Path, kind: str | None = None) -> LawFile:
    """Parse one law-version file into articles."""
    path = Path(path)
    kind = kind if kind is not None else path.parent.name
    stem = path.stem
    m = _FILE_DATE.match(stem)
    name, version = (m.group(1), m.group(2)) if m else (stem, None)
    lines = path.read_text(encoding="utf-8").splitlines()
    titles: list[str] = []
    history: list[str] = []
    body_start = 0
    for i, line in enumerate(lines):
        if "INFO END" in line:
            body_start = i + 1
            break
        if line.startswith("# "):
            titles.append(_SPACES.sub("", line[2:]))
        elif line.strip():
            history.append(line)
    else:
        body_start = 0  # no marker: everything is body
    book = ""
    if kind == CIVIL_CODE or clean_law_name(titles[0] if titles else "") == CIVIL_CODE and len(titles) > 1:
        name = CIVIL_CODE
        book = titles[1] if len(titles) > 1 else stem
    name = clean_law_name(name)
    if name == CIVIL_CODE:
        version = "2020-05-28"  # one law, adopted 2020-05-28, in force 2021-01-01; books share it
    if version is None:
        dates = [f"{y}-{int(mo):02d}-{int(d):02d}" for y, mo, d in _CN_DATE.findall("\n".join(history))]
        version = max(dates) if dates else None
    lf = LawFile(law=name, version=version, kind=kind, book=book, path=path)
    part, chapter, section = "", "", ""
    cur: Article | None = None
    paras: list[str] = []

    def flush() -> None:
        nonlocal cur, paras
        if cur is not None:
            cur.text = "\n".join(p for p in paras if p)
            lf.articles.append(cur)
        cur, paras = None, []

    for raw in lines[body_start:]:
        line = raw.strip()
        if not line:
            continue
        level = _heading_level(line)
        if level:
            flush()
            title = _SPACES.sub(" ", line.lstrip("#").strip())
            head = title.split(" ", 1)[0]
            if head.endswith("编") or head.endswith("分编"):
                part, chapter, section = title, "", ""
            elif head.endswith("章"):
                chapter, section = title, ""
            elif head.endswith("节"):
                section = title
            continue
        if line.startswith("<!--"):
            continue
        am = _ART_LINE.match(line)
        if am:
            flush()
            try:
                num = cn2int(am.group(1))
                sub = cn2int(am.group(2)) if am.group(2) else 0
            except ValueError:
                continue
            cur = Article(law=name, num=num, sub=sub, text="", version=version, kind=kind,
                          book=book or part, chapter=chapter, section=section, source=str(path))
            paras = [am.group(3).strip()]
        elif cur is not None:
            paras.append(line)
    flush()
    return lf


def iter_files(root: Path) -> Iterator[Path]:
    root = Path(root)
    for p in sorted(root.rglob("*.md")):
        rel = p.relative_to(root).parts
        if any(part in SKIP_DIRS for part in rel) or p.name in {"README.md", "SOURCE.md"}:
            continue
        yield p


def parse_dir(root: Path) -> list[LawFile]:
    return [parse_file(p) for p in iter_files(root)]


def resolve_versions(files: Iterable[LawFile]) -> list[Article]:
    """Dedup the same law version found in two folders; the latest version is in force."""
    seen: dict[tuple[str, str | None, str], LawFile] = {}
    for lf in files:
        if not lf.articles:
            continue
        key = (lf.law, lf.version, lf.book)  # 民法典 books are parts of one version
        prev = seen.get(key)
        if prev is None or len(lf.articles) > len(prev.articles):
            seen[key] = lf
    latest: dict[str, str] = {}
    for (law, version, _), lf in seen.items():
        v = version or ""
        if law not in latest or v > latest[law]:
            latest[law] = v
    out: list[Article] = []
    for (law, version, _), lf in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])):
        in_force = (version or "") == latest[law] and not out_of_force(law, version)
        dedup: set[tuple[int, int]] = set()
        for a in lf.articles:
            if (a.num, a.sub) in dedup:
                continue  # 修正案 files quote amended articles; keep the first
            dedup.add((a.num, a.sub))
            a.in_force = in_force
            out.append(a)
    return out


SUPERSEDED_PATH = Path(__file__).resolve().parent / "superseded.yml"
_REPEALED_INTERPRETATION = re.compile("《(" + "|".join(REPEALED_BY_CIVIL_CODE) + ")》")


@lru_cache(maxsize=1)
def superseded() -> dict[str, dict]:
    """law_key -> {in_force_from | repealed, note}: the corpus's newest version is older than the law in
    force, or the law itself was repealed with nothing of its name replacing it."""
    import yaml

    if not SUPERSEDED_PATH.exists():
        return {}
    rows = yaml.safe_load(SUPERSEDED_PATH.read_text(encoding="utf-8")) or []
    return {law_key(r["law"]): r for r in rows if isinstance(r, dict) and r.get("law")}


def out_of_force(law: str, version: str | None) -> bool:
    """True for a version that must never be cited as in force although it is the newest we hold."""
    if _REPEALED_INTERPRETATION.search(law):
        return True  # 适用《婚姻法》… 若干问题的解释: repealed with the law itself on 2021-01-01
    row = superseded().get(law_key(law))
    if row and row.get("repealed"):
        return True
    return bool(row) and (version or "") < str(row.get("in_force_from", ""))


def load_articles(root: Path = STATUTES_DIR) -> list[Article]:
    return resolve_versions(parse_dir(root))


# ---------------------------------------------------------------------------- SQLite store

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
  id INTEGER PRIMARY KEY,
  law TEXT NOT NULL, law_key TEXT NOT NULL, version TEXT, kind TEXT, book TEXT, chapter TEXT, section TEXT,
  num INTEGER NOT NULL, sub INTEGER NOT NULL DEFAULT 0, article TEXT NOT NULL, text TEXT NOT NULL,
  in_force INTEGER NOT NULL, shipped INTEGER NOT NULL DEFAULT 0, source TEXT,
  UNIQUE (law_key, version, num, sub)
);
CREATE INDEX IF NOT EXISTS ix_art_lookup ON articles (law_key, num, sub, in_force);
"""


def store_articles(db_path: Path, articles: Iterable[Article], *, shipped: bool) -> int:
    """Upsert articles; then recompute which version of each law is in force. Returns rows added."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db_path)
    try:
        con.executescript(SCHEMA)
        before = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        rows = [(a.law, law_key(a.law), a.version, a.kind, a.book, a.chapter, a.section, a.num, a.sub, a.article,
                 a.text, int(a.in_force), int(shipped), a.source) for a in articles]
        con.executemany(
            "INSERT INTO articles (law, law_key, version, kind, book, chapter, section, num, sub, article, text,"
            " in_force, shipped, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (law_key, version, num, sub) DO UPDATE SET shipped = MAX(shipped, excluded.shipped)",
            rows,
        )
        # Latest version of each law is in force, across everything ingested so far.
        con.execute(
            "UPDATE articles SET in_force = (COALESCE(version,'') = (SELECT MAX(COALESCE(version,''))"
            " FROM articles b WHERE b.law_key = articles.law_key))"
        )
        # …unless a newer revision took effect that the corpus does not hold (superseded.yml), or it
        # interprets a law the 民法典 repealed.
        for law, version in con.execute("SELECT DISTINCT law, version FROM articles WHERE in_force = 1").fetchall():
            if out_of_force(law, version):
                con.execute("UPDATE articles SET in_force = 0 WHERE law = ? AND COALESCE(version,'') = ?",
                            (law, version or ""))
        con.commit()
        return con.execute("SELECT COUNT(*) FROM articles").fetchone()[0] - before
    finally:
        con.close()


class Corpus:
    """Read access to the stored articles (thread-safe, read-only connections per thread)."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self._local = threading.local()
        con = self._con()
        self.law_names: dict[str, str] = {k: law for k, law in con.execute("SELECT DISTINCT law_key, law FROM articles")}

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            self._local.con = con
        return con

    @staticmethod
    def _row(r) -> Article:
        return Article(id=r[0], law=r[1], version=r[2], kind=r[3], book=r[4], chapter=r[5], section=r[6],
                       num=r[7], sub=r[8], text=r[9], in_force=bool(r[10]), source=r[11])

    _COLS = "id, law, version, kind, book, chapter, section, num, sub, text, in_force, source"

    def get(self, law: str, article: str | int, *, in_force: bool = True) -> Article | None:
        try:
            num, sub = parse_article(str(article)) if not isinstance(article, int) else (article, 0)
        except ValueError:
            return None
        q = f"SELECT {self._COLS} FROM articles WHERE law_key = ? AND num = ? AND sub = ?"
        if in_force:
            q += " AND in_force = 1"
        r = self._con().execute(q + " ORDER BY version DESC LIMIT 1", (law_key(law), num, sub)).fetchone()
        return self._row(r) if r else None

    def by_ids(self, ids: list[int]) -> list[Article]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._con().execute(f"SELECT {self._COLS} FROM articles WHERE id IN ({marks})", ids).fetchall()
        by = {r[0]: self._row(r) for r in rows}
        return [by[i] for i in ids if i in by]

    def count(self, *, in_force: bool | None = None, law: str | None = None) -> int:
        q, args = "SELECT COUNT(*) FROM articles WHERE 1=1", []
        if in_force is not None:
            q += " AND in_force = ?"
            args.append(int(in_force))
        if law:
            q += " AND law_key = ?"
            args.append(law_key(law))
        return self._con().execute(q, args).fetchone()[0]

    def versions(self, law: str) -> list[tuple[str, bool]]:
        rows = self._con().execute(
            "SELECT DISTINCT version, in_force FROM articles WHERE law_key = ? ORDER BY version", (law_key(law),)
        ).fetchall()
        return [(v, bool(f)) for v, f in rows]

    def has_law(self, law: str) -> bool:
        return law_key(law) in self.law_names
