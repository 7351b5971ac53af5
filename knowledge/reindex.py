"""Re-index without downtime.

A new index is built with knowledge.index.build into a fresh folder next to the default one
(MINGBAI_HOME/index-<timestamp>), from a copy of the current laws.sqlite (so laws ingested with
`kb ingest-laws` stay) and the served entries exported to YAML; the vector cache
(MINGBAI_HOME/cache) is shared, so only new texts are encoded. When the build is complete the
pointer file MINGBAI_HOME/index-current is replaced atomically; knowledge.search.get_searcher()
follows it (current_index_dir(), an mtime check per call), so every process — web workers, the
action server — loads the new index on its next question, and answers keep coming from the old
one until then. A later `mingbai kb build` into the default folder wins again (newer meta.json).

Progress goes to MINGBAI_HOME/reindex-status.json (any web process can report it); one build at
a time (flock on MINGBAI_HOME/reindex.lock, across processes).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable, Optional

log = logging.getLogger(__name__)

POINTER = "index-current"
STATUS = "reindex-status.json"
LOCK = "reindex.lock"
KEEP_OLD = 2  # previous index folders kept (a process may still be answering from one)
_NAME_OK = re.compile(r"^index-[0-9A-Za-z_-]+$")
# Files of the article side of an index: a candidate (golden check) links them from the current one.
ARTICLE_FILES = ("laws.sqlite", "bm25_art.npz", "bm25_art.json", "bm25_art.idf.npy", "art_ids.npy", "art_law.npy",
                 "art_shipped.npy", "art_laws.json", "dense_art.npy", "dense_art_ids.npy", "bm25_asked.npz",
                 "bm25_asked.json", "bm25_asked.idf.npy", "asked_art_ids.npy", "asked_texts.json", "dense_asked.npy", "meta.json")
# (progress %, label) after each stage that knowledge.index.build logs
STAGES = [("条文入库", 25, "正在建立条文关键词索引…"), ("条文检索", 55, "正在计算条文向量…"),
          ("条文向量", 70, "正在建立问答索引…"), ("问答", 88, "正在建立条文问法索引…"), ("条文问法", 95, "正在检查新索引…")]


def _settings():
    from mingbai.settings import get_settings

    return get_settings()


def root_dir(settings=None) -> Path:
    """Where index folders, the pointer and the status live: next to the default index
    (MINGBAI_HOME unless MINGBAI_INDEX_PATH moves it), so the vector cache stays shared."""
    s = settings or _settings()
    return Path(s.index_dir).parent


def pointer_path(settings=None) -> Path:
    return root_dir(settings) / POINTER


# ----------------------------------------------------------------------------- following the pointer

_ptr_lock = threading.Lock()
_ptr_cache: dict[str, tuple[tuple, Optional[Path]]] = {}
_last_target: dict[str, Path] = {}


def _read_pointer(p: Path) -> tuple[Optional[float], Optional[Path]]:
    try:
        st = p.stat()
    except FileNotFoundError:
        return None, None
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _ptr_cache.get(str(p))
    if hit and hit[0] == stamp:
        return st.st_mtime, hit[1]
    try:
        name = p.read_text(encoding="utf-8").strip()
    except OSError:
        return None, None
    target = p.parent / name if _NAME_OK.match(name) else None
    with _ptr_lock:
        _ptr_cache[str(p)] = (stamp, target)
    return st.st_mtime, target


def current_index_dir(settings=None) -> Path:
    """The index folder answers come from: the pointer's target when it is built and newer than
    the default folder's last build, else the default folder (settings.index_dir)."""
    from knowledge import index as idx

    s = settings or _settings()
    default = Path(s.index_dir)
    p = pointer_path(s)
    mtime, target = _read_pointer(p)
    chosen = default
    if target is not None and idx.is_built(target):
        meta = default / "meta.json"
        try:
            newer_default = meta.stat().st_mtime > mtime  # `mingbai kb build` since the switch
        except FileNotFoundError:
            newer_default = False
        if not newer_default:
            chosen = target
    _forget_previous(str(p), chosen)
    return chosen


def _forget_previous(key: str, chosen: Path) -> None:
    """After a switch, drop the old index's searcher from knowledge.search's process cache."""
    prev = _last_target.get(key)
    if prev == chosen:
        return
    _last_target[key] = chosen
    if prev is None:
        return
    try:
        from knowledge import search

        with search._lock:
            search._cache.pop(str(prev.resolve()), None)
    except Exception:  # never let housekeeping break an answer
        log.debug("could not drop the previous searcher", exc_info=True)


def switch_to(new_dir: Path, settings=None) -> None:
    """Atomically point every process at new_dir (a folder next to the default index)."""
    p = pointer_path(settings)
    tmp = p.with_name(f".{POINTER}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(Path(new_dir).name + "\n", encoding="utf-8")
    os.replace(tmp, p)


# ----------------------------------------------------------------------------- status

def _status_path(settings=None) -> Path:
    return root_dir(settings) / STATUS


def _write_status(info: dict, settings=None) -> None:
    p = _status_path(settings)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{STATUS}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, p)


def _lock_held(settings=None) -> bool:
    import fcntl

    path = root_dir(settings) / LOCK
    if not path.exists():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def status(settings=None) -> dict:
    """{"state": idle|running|done|failed, "percent", "stage", "started", "finished", "dir", "error", …}"""
    s = settings or _settings()
    p = _status_path(s)
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        info = {"state": "idle", "percent": 0, "stage": ""}
    if info.get("state") == "running" and not _lock_held(s):
        info.update(state="failed", error="重建进程已中断（服务重启？），请重新开始。")
    info["current"] = current_index_dir(s).name
    return info


# ----------------------------------------------------------------------------- export for build

def write_qa_dir(entries: Iterable, qa_dir: Path) -> int:
    """Entries (knowledge.qa.Entry) → one YAML file that knowledge.index.build_qa serves in full."""
    import yaml

    from knowledge.qa import served_statuses

    served = served_statuses()
    st = "published" if "published" in served else sorted(served)[0] if served else "published"
    rows = []
    for e in entries:
        rows.append({"id": e.id, "domain": e.domain, "subtype": e.subtype, "kind": e.kind, "question": e.question,
                     "paraphrases": list(e.paraphrases), "answer": e.answer, "steps": list(e.steps),
                     "citations": [dict(c) for c in e.citations], "status": st, "version": e.version})
    qa_dir.mkdir(parents=True, exist_ok=True)
    (qa_dir / "served.yml").write_text(yaml.safe_dump(rows, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return len(rows)


def _served(settings=None) -> list:
    from knowledge.qa import served_entries

    return served_entries()


def _copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy even while another process reads or ingests (SQLite backup API)."""
    a = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    b = sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        b.close()
        a.close()


# ----------------------------------------------------------------------------- the build

def _new_dir(root: Path) -> Path:
    base = "index-" + time.strftime("%Y%m%d-%H%M%S")
    d, n = root / base, 1
    while d.exists():
        n += 1
        d = root / f"{base}-{n}"
    return d


def build_new(settings=None, *, entries: Optional[list] = None, progress: Callable[[int, str], None] = lambda p, s: None,
              article_vectors: Optional[bool] = None) -> Path:
    """Build a complete new index folder (not yet switched to). Returns it."""
    from knowledge import index as idx
    from knowledge.laws import STATUTES_DIR

    s = settings or _settings()
    src = current_index_dir(s)
    new = _new_dir(root_dir(s))
    new.mkdir(parents=True)
    try:
        progress(5, "正在复制法条库…")
        if (src / "laws.sqlite").exists():
            _copy_sqlite(src / "laws.sqlite", new / "laws.sqlite")
        meta = src / "meta.json"
        if meta.exists():
            scope = json.loads(meta.read_text(encoding="utf-8")).get("dense_scope")
            if scope:
                idx.write_meta(new, dense_scope=scope)
        progress(10, "正在导出问答条目…")
        entries = _served(s) if entries is None else entries
        n = write_qa_dir(entries, new / "qa-src")
        if article_vectors is None:
            article_vectors = (src / "dense_art.npy").exists()
        progress(12, "正在把条文入库…")

        def on_log(msg: str) -> None:
            for key, pct, label in STAGES:
                if msg.startswith(key):
                    progress(pct, label)

        idx.build(new, statutes_dir=STATUTES_DIR, qa_dir=new / "qa-src", article_vectors=article_vectors,
                  workers=1, progress=False, log=on_log)
        if not idx.is_built(new):
            raise RuntimeError("新索引不完整")
        idx.write_meta(new, reindex={"entries": n, "from": src.name})
        return new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def _cleanup(settings=None) -> None:
    s = settings or _settings()
    root = root_dir(s)
    keep = {current_index_dir(s).resolve(), Path(s.index_dir).resolve()}
    olds = sorted((d for d in root.glob("index-*") if d.is_dir() and _NAME_OK.match(d.name)
                   and not d.name.startswith("index-candidate") and d.resolve() not in keep),
                  key=lambda d: d.stat().st_mtime, reverse=True)
    for d in olds[KEEP_OLD:]:
        shutil.rmtree(d, ignore_errors=True)


def run(actor: str = "system", settings=None, *, article_vectors: Optional[bool] = None,
        _locked_fh=None) -> dict:
    """Build, warm, switch (synchronously). Returns the final status."""
    import fcntl

    s = settings or _settings()
    root = root_dir(s)
    root.mkdir(parents=True, exist_ok=True)
    fh = _locked_fh
    if fh is None:
        fh = open(root / LOCK, "a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ReindexBusy("已有一个重建在进行中")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    info = {"state": "running", "percent": 1, "stage": "准备中…", "started": started, "actor": actor,
            "pid": os.getpid()}
    _write_status(info, s)

    def progress(pct: int, stage: str) -> None:
        info.update(percent=pct, stage=stage)
        _write_status(info, s)

    try:
        t = time.time()
        new = build_new(s, progress=progress, article_vectors=article_vectors)
        progress(95, "正在加载新索引…")
        from knowledge.search import get_searcher

        get_searcher(new, auto_build=False)  # load (and validate) before anyone is sent there
        switch_to(new, s)
        current_index_dir(s)  # this process notices the switch now
        _cleanup(s)
        meta = json.loads((new / "meta.json").read_text(encoding="utf-8"))
        info.update(state="done", percent=100, stage="完成：新索引已启用", dir=new.name,
                    entries=meta.get("reindex", {}).get("entries"), seconds=round(time.time() - t, 1),
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _write_status(info, s)
        _audit(actor, "kb_reindex", new.name, {"entries": info.get("entries"), "seconds": info["seconds"]})
        return info
    except Exception as e:
        log.exception("reindex failed")
        info.update(state="failed", stage="失败", error=str(e)[:300], finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _write_status(info, s)
        return info
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


class ReindexBusy(RuntimeError):
    pass


def start(actor: str = "system", settings=None, *, article_vectors: Optional[bool] = None) -> dict:
    """Start a background build (a thread of this process). Returns the status right away."""
    import fcntl

    s = settings or _settings()
    root = root_dir(s)
    root.mkdir(parents=True, exist_ok=True)
    fh = open(root / LOCK, "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return {**status(s), "busy": True}
    _write_status({"state": "running", "percent": 1, "stage": "准备中…", "actor": actor,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid()}, s)
    th = threading.Thread(target=run, args=(actor, s), kwargs={"article_vectors": article_vectors, "_locked_fh": fh},
                          name="kb-reindex", daemon=True)
    th.start()
    return status(s)


def wait(timeout: float = 600.0, settings=None) -> dict:
    """Until the running build ends (tests, CLI)."""
    end = time.time() + timeout
    while time.time() < end:
        st = status(settings)
        if st["state"] != "running":
            return st
        time.sleep(0.2)
    return status(settings)


def _audit(actor: str, action: str, subject: str, detail: dict) -> None:
    try:
        from mingbai.db import session_scope
        from tickets.audit import audit

        with session_scope() as s:
            audit(s, actor[:80], action, subject=subject, detail=detail)
    except Exception:
        log.warning("audit of %s failed", action, exc_info=True)


# ----------------------------------------------------------------------------- candidate (golden check)

class Candidate:
    """A throw-away index: the current index's article side (linked) + the given entries' Q&A.
    Use as a context manager; .searcher is a knowledge.search.Searcher."""

    def __init__(self, entries: list, settings=None):
        self.entries = entries
        self.s = settings or _settings()
        self.dir: Optional[Path] = None
        self.searcher = None

    def __enter__(self):
        from knowledge import index as idx
        from knowledge.search import Searcher, get_searcher

        src = current_index_dir(self.s)
        if not idx.is_built(src):
            get_searcher(auto_build=True)  # first use: the quick build
            src = current_index_dir(self.s)
        self.dir = root_dir(self.s) / f"index-candidate-{uuid.uuid4().hex[:10]}"
        self.dir.mkdir(parents=True)
        try:
            for name in ARTICLE_FILES:
                if (src / name).exists():
                    os.symlink((src / name).resolve(), self.dir / name)
            write_qa_dir(self.entries, self.dir / "qa-src")
            idx.build_qa(self.dir, self.dir / "qa-src", workers=1, progress=False)
            self.searcher = Searcher(idx.load(self.dir))
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc):
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
