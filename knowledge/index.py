"""Index build and load: statute articles + curated Q&A → BM25 (jieba) and e5 vectors (faiss).

Layout under MINGBAI_HOME/index/:
  laws.sqlite          articles (all versions; in_force flags)
  qa.json              curated entries served (statuses per MINGBAI_KB_STATUSES)
  bm25_qa.npz          BM25 weights, one row per Q&A text (question or paraphrase)
  bm25_qa_ans.npz      BM25 weights, one row per entry (question + answer + steps)
  dense_qa_ans.npy     e5 passage vectors of the curated answers
  bm25_art.npz         BM25 weights, one row per article in force (whole corpus ingested)
  dense_qa.npy         e5 query vectors of Q&A texts (question↔question is symmetric)
  dense_art.npy/.ids   e5 vectors (fp16) of the articles in force: the shipped ones after `kb build`,
                       the whole corpus after `kb ingest-laws` (built incrementally, BM25 serves meanwhile)
  art_shipped.npy      per BM25 row: the article is in the shipped (grassroots) set
  bm25_asked.npz       BM25 weights, one row per question residents ask of an article (knowledge/asked/)
  asked_art_ids.npy    the article (laws.sqlite id) each of those questions belongs to
  dense_asked.npy      e5 query vectors of those questions
  meta.json; vectors are cached in MINGBAI_HOME/cache/kb-vectors.sqlite (keyed by text)
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from scipy import sparse

from knowledge import laws as lawsmod
from knowledge import qa as qamod

DICT_PATH = Path(__file__).resolve().parent / "dict" / "legal.txt"
K1, B = 1.2, 0.75
ART_PASSAGE_CHARS = 160

# Function words and question fillers that carry no topic.
STOPWORDS = set(
    "的 了 吗 呢 吧 啊 呀 么 嘛 哦 哈 啦 是 在 有 和 与 及 或 或者 就 都 也 还 又 要 会 能 可以 可不可以 能不能 "
    "我 你 他 她 它 我们 你们 他们 她们 咱 俺 自己 人家 这 那 这个 那个 这样 那样 什么 怎么 怎么办 怎样 如何 咋 咋办 "
    "咋整 为什么 为啥 啥 请问 请 问 一下 一个 个 给 让 被 把 对 从 到 向 将 为 以 于 之 其 该 等 中 上 下 里 "
    "没 没有 不 不是 吗 么 现在 已经 应该 需要 想 想要 知道 谢谢 你好 您好 您 ， 。 ？ ！ 、 ： ； , . ? ! : ;".split()
)
_TOKEN_OK = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")

_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba():
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(60)
                jieba.initialize()
                if DICT_PATH.exists():
                    jieba.load_userdict(str(DICT_PATH))
                _jieba_ready = True
    return jieba


def tokenize(text: str, *, bigrams: bool = False) -> list[str]:
    """jieba search-mode words minus stopwords; optionally CJK character bigrams (robust to typos)."""
    jb = _jieba()
    toks = [t for t in jb.lcut_for_search(text) if t not in STOPWORDS and _TOKEN_OK.search(t)]
    toks = [t.lower() for t in toks]
    if bigrams:
        for run in _CJK_RUN.findall(text):
            toks.extend("#" + run[i:i + 2] for i in range(len(run) - 1))
    return toks


class BM25:
    """BM25 as a sparse doc×term weight matrix: a query is a few column sums."""

    def __init__(self, W: sparse.csc_matrix, vocab: dict[str, int], idf: np.ndarray, bigrams: bool):
        self.W, self.vocab, self.idf, self.bigrams = W, vocab, idf, bigrams
        self.max_idf = float(idf.max()) if len(idf) else 1.0

    @classmethod
    def build(cls, docs: Iterable[list[str]], bigrams: bool) -> "BM25":
        vocab: dict[str, int] = {}
        rows, cols, tfs, lens = [], [], [], []
        for r, toks in enumerate(docs):
            c = Counter(toks)
            lens.append(len(toks))
            for t, n in c.items():
                j = vocab.setdefault(t, len(vocab))
                rows.append(r)
                cols.append(j)
                tfs.append(n)
        n_docs = len(lens)
        lens_a = np.asarray(lens, np.float32)
        avgdl = float(lens_a.mean()) if n_docs else 1.0
        rows_a, cols_a, tf_a = np.asarray(rows, np.int32), np.asarray(cols, np.int32), np.asarray(tfs, np.float32)
        df = np.bincount(cols_a, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        denom = tf_a + K1 * (1 - B + B * lens_a[rows_a] / max(avgdl, 1e-9))
        w = idf[cols_a] * tf_a * (K1 + 1) / denom
        W = sparse.csc_matrix((w, (rows_a, cols_a)), shape=(n_docs, len(vocab)), dtype=np.float32)
        return cls(W, vocab, idf, bigrams)

    def save(self, path: Path) -> None:
        sparse.save_npz(path.with_suffix(".npz"), self.W.tocsc())
        path.with_suffix(".json").write_text(
            json.dumps({"vocab": self.vocab, "bigrams": self.bigrams}, ensure_ascii=False), encoding="utf-8")
        np.save(path.with_suffix(".idf.npy"), self.idf)

    @classmethod
    def load(cls, path: Path) -> "BM25":
        W = sparse.load_npz(path.with_suffix(".npz")).tocsc()
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return cls(W, meta["vocab"], np.load(path.with_suffix(".idf.npy")), meta["bigrams"])

    def query_terms(self, text: str) -> list[str]:
        return list(dict.fromkeys(tokenize(text, bigrams=self.bigrams)))

    def scores(self, terms: list[str], extra: dict[str, float] | None = None) -> tuple[np.ndarray, float]:
        """-> (raw BM25 per doc, normaliser) where raw/normaliser ≈ idf-weighted share of the query matched.

        `extra` adds weighted terms (query expansion); they add to the score but not to the
        normaliser, so an expansion can lift a match but never make a partial match look perfect.
        """
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        # Unknown words count as rare ones: a query about something we never index stays low.
        norm = float(sum(self.idf[i] for i in ids) + self.max_idf * (len(terms) - len(ids)))
        typed = set(terms)
        ext = [(self.vocab[t], w) for t, w in (extra or {}).items() if t in self.vocab and t not in typed and w > 0]
        if not ids and not ext:
            return np.zeros(self.W.shape[0], np.float32), max(norm, 1.0)
        cols = ids + [j for j, _ in ext]
        wts = np.asarray([1.0] * len(ids) + [w for _, w in ext], np.float32)
        s = np.asarray(self.W[:, cols] @ wts).reshape(-1)
        return s, max(norm, 1e-6)


def cache_path(index_dir: Path) -> Path:
    """Vector cache; MINGBAI_KB_VECTOR_CACHE shares one between data dirs (tests, CI)."""
    import os

    env = os.environ.get("MINGBAI_KB_VECTOR_CACHE")
    return Path(env) if env else index_dir.parent / "cache" / "kb-vectors.sqlite"


def _entry_doc(e: qamod.Entry) -> str:
    return " ".join([e.question, e.answer, *e.steps])


def _art_passage(a: lawsmod.Article) -> str:
    return f"{a.law} {a.chapter.split(' ', 1)[-1]} {a.text[:ART_PASSAGE_CHARS]}"


def _art_bm25_text(law: str, chapter: str, text: str) -> str:
    return f"{law} {chapter} {text}"


# --------------------------------------------------------------------------------- build

class Progress:
    """Minimal progress bar on stderr (tqdm when available)."""

    def __init__(self, total: int, desc: str, enabled: bool = True):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="条", file=sys.stderr, dynamic_ncols=True)
            except Exception:
                self.bar = None

    def __call__(self, n: int) -> None:
        if self.bar:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def ingest_dir(index_dir: Path, root: Path, *, shipped: bool) -> dict:
    t = time.time()
    files = lawsmod.parse_dir(root)
    arts = lawsmod.resolve_versions(files)
    added = lawsmod.store_articles(index_dir / "laws.sqlite", arts, shipped=shipped)
    return {"files": len(files), "articles": len(arts), "added": added, "seconds": round(time.time() - t, 2)}


def build_bm25_articles(index_dir: Path, progress: bool = True) -> dict:
    t = time.time()
    con = sqlite3.connect(index_dir / "laws.sqlite")
    rows = con.execute("SELECT id, law, chapter, text, shipped FROM articles WHERE in_force = 1 ORDER BY id").fetchall()
    con.close()
    bar = Progress(len(rows), "分词 (BM25)", progress)
    docs = []
    for i, (_, law, chapter, text, _) in enumerate(rows):
        docs.append(tokenize(_art_bm25_text(law, chapter or "", text)))
        if i % 1000 == 999:
            bar(1000)
    bar(len(rows) % 1000)
    bar.close()
    bm = BM25.build(docs, bigrams=False)
    bm.save(index_dir / "bm25_art")
    ids = np.asarray([r[0] for r in rows], np.int64)
    np.save(index_dir / "art_ids.npy", ids)
    laws = sorted({r[1] for r in rows})
    law_ix = {l: i for i, l in enumerate(laws)}
    np.save(index_dir / "art_law.npy", np.asarray([law_ix[r[1]] for r in rows], np.int32))
    np.save(index_dir / "art_shipped.npy", np.asarray([bool(r[4]) for r in rows], np.bool_))
    (index_dir / "art_laws.json").write_text(json.dumps(laws, ensure_ascii=False), encoding="utf-8")
    return {"articles_bm25": len(rows), "vocab": len(bm.vocab), "seconds": round(time.time() - t, 2)}


def build_dense_articles(index_dir: Path, *, workers: int = 2, progress: bool = True, limit_shipped: bool = True,
                         save_every: int = 0, log: Callable[[str], None] = lambda s: None) -> dict:
    """e5 passage vectors for the articles in force (the shipped ones, or all when not limit_shipped).

    Resumable and incremental: vectors go to the cache (keyed by passage text) as they are made, and
    with `save_every` the partial matrix is published every so many articles, so a running server
    gains meaning-search over more of the corpus while BM25 serves the rest.
    """
    from knowledge.embed import VectorCache, encode_many

    t = time.time()
    corpus = lawsmod.Corpus(index_dir / "laws.sqlite")
    con = sqlite3.connect(index_dir / "laws.sqlite")
    where = "in_force = 1" + (" AND shipped = 1" if limit_shipped else "")
    # Shipped (grassroots) laws first: a partial build then covers what residents ask most.
    ids = [r[0] for r in con.execute(f"SELECT id FROM articles WHERE {where} ORDER BY shipped DESC, id")]
    con.close()
    arts = corpus.by_ids(ids)
    bar = Progress(len(arts), "向量 (条文)", progress)
    st: dict = {}
    step = save_every if save_every > 0 else max(len(arts), 1)
    vecs = np.zeros((0, 384), np.float32)
    for start in range(0, len(arts), step):
        part = arts[start:start + step]
        cache = VectorCache(cache_path(index_dir))
        v = encode_many([_art_passage(a) for a in part], kind="passage", cache=cache, workers=workers,
                        progress=bar, stats=st)
        cache.close()
        vecs = np.concatenate([vecs, v.astype(np.float32)]) if len(vecs) else v.astype(np.float32)
        _save_dense(index_dir, vecs, ids[:len(vecs)])
        if start + step < len(arts):
            write_meta(index_dir, dense_progress={"done": len(vecs), "total": len(ids)})
            log(f"条文向量 {len(vecs)}/{len(ids)}")
    bar.close()
    return {"articles_dense": len(ids), "newly_encoded": st.get("encoded", 0), "seconds": round(time.time() - t, 2)}


def _save_dense(index_dir: Path, vecs: np.ndarray, ids: list[int]) -> None:
    """Publish vectors + ids together (write-then-rename, ids first is never read without vectors)."""
    tmp_v, tmp_i = index_dir / "dense_art.tmp.npy", index_dir / "dense_art_ids.tmp.npy"
    np.save(tmp_v, vecs.astype(np.float16))
    np.save(tmp_i, np.asarray(ids, np.int64))
    tmp_i.replace(index_dir / "dense_art_ids.npy")
    tmp_v.replace(index_dir / "dense_art.npy")


def dense_coverage(index_dir: Path) -> dict:
    """How much of the corpus in force has meaning vectors (for `kb status`)."""
    con = sqlite3.connect(index_dir / "laws.sqlite")
    rows = con.execute("SELECT id, shipped FROM articles WHERE in_force = 1").fetchall()
    con.close()
    total, shipped = len(rows), sum(r[1] for r in rows)
    path = index_dir / "dense_art_ids.npy"
    have = set(np.load(path).tolist()) if path.exists() else set()
    covered = sum(1 for i, _ in rows if i in have)
    return {"articles_in_force": total, "shipped": int(shipped), "with_vectors": covered,
            "coverage": round(covered / total, 4) if total else 0.0}


def build_qa(index_dir: Path, qa_dir: Path = qamod.QA_DIR, *, workers: int = 1, progress: bool = True) -> dict:
    from knowledge.embed import VectorCache, encode_many

    t = time.time()
    entries = qamod.served_entries(qa_dir)  # the database once the knowledge console seeded it
    texts, owner = [], []
    for i, e in enumerate(entries):
        for s in e.texts:
            texts.append(s)
            owner.append(i)
    bm = BM25.build([tokenize(s, bigrams=True) for s in texts], bigrams=True)
    bm.save(index_dir / "bm25_qa")
    # The curated answer carries words residents use that the question may lack.
    bm_ans = BM25.build([tokenize(_entry_doc(e), bigrams=True) for e in entries], bigrams=True)
    bm_ans.save(index_dir / "bm25_qa_ans")
    bar = Progress(len(texts), "向量 (问答)", progress)
    cache = VectorCache(cache_path(index_dir))
    # Q&A texts are questions: encode them as queries so query↔question is symmetric.
    st: dict = {}
    vecs = encode_many(texts, kind="query", cache=cache, workers=workers, progress=bar, stats=st)
    cache.close()
    bar.close()
    np.save(index_dir / "dense_qa.npy", vecs.astype(np.float32))
    cache = VectorCache(cache_path(index_dir))
    ans = encode_many([e.answer for e in entries], kind="passage", cache=cache, workers=workers, stats=st)
    cache.close()
    np.save(index_dir / "dense_qa_ans.npy", ans.astype(np.float32))
    np.save(index_dir / "qa_owner.npy", np.asarray(owner, np.int32))
    payload = [dict(e.__dict__) for e in entries]
    (index_dir / "qa.json").write_text(json.dumps(payload, ensure_ascii=False, indent=0), encoding="utf-8")
    return {"entries": len(entries), "qa_texts": len(texts), "newly_encoded": st.get("encoded", 0),
            "seconds": round(time.time() - t, 2)}


def build_asked(index_dir: Path, asked_dir: Path | None = None, *, workers: int = 1, progress: bool = True,
                vectors: bool = True) -> dict:
    """Residents' questions per article (knowledge/asked/): BM25 + e5 query vectors, linked by article id
    (ids survive `kb ingest-laws`, BM25 row numbers do not). vectors=False (setup): BM25 now, the
    vectors from the cache when all are there, else left to `kb vectors` (build_dense_asked)."""
    from knowledge import asked as askedmod

    t = time.time()
    corpus = lawsmod.Corpus(index_dir / "laws.sqlite")
    files = sorted(Path(asked_dir).glob("*.yml")) if asked_dir else None
    texts, art_ids = [], []
    for it in askedmod.load(files):
        a = corpus.get(it.law, it.article)
        if a is None:
            continue  # out of force since it was written: never lead to it
        for q in it.questions:
            texts.append(q)
            art_ids.append(a.id)
    BM25.build([tokenize(q, bigrams=True) for q in texts], bigrams=True).save(index_dir / "bm25_asked")
    np.save(index_dir / "asked_art_ids.npy", np.asarray(art_ids, np.int64))
    (index_dir / "asked_texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    info = build_dense_asked(index_dir, workers=workers, progress=progress, cached_only=not vectors)
    return {"asked_questions": len(texts), "articles": len(set(art_ids)), **info, "seconds": round(time.time() - t, 2)}


def vector_coverage(index_dir: Path) -> dict:
    """dense_coverage and asked_coverage together, with "missing": articles in force and asked
    questions still without a meaning vector (0: `kb vectors` is done)."""
    cov = {**dense_coverage(index_dir), **asked_coverage(index_dir)}
    cov["missing"] = (cov["articles_in_force"] - cov["with_vectors"]
                      + cov["asked_questions"] - cov["asked_with_vectors"])
    return cov


def missing_vectors(index_dir: Path) -> int:
    return vector_coverage(index_dir)["missing"]


def build_dense_asked(index_dir: Path, *, workers: int = 1, progress: bool = True, cached_only: bool = False) -> dict:
    """e5 query vectors of the asked questions that build_asked stored, row for row. cached_only:
    publish them only when the cache holds every one (else none: load() reads no stale rows)."""
    from knowledge.embed import VectorCache, encode_many

    texts = json.loads((index_dir / "asked_texts.json").read_text(encoding="utf-8"))
    cache = VectorCache(cache_path(index_dir))
    try:
        if cached_only:
            from knowledge.embed import _key

            if len(cache.get_many([_key(q, "query") for q in texts])) < len(set(texts)):
                (index_dir / "dense_asked.npy").unlink(missing_ok=True)
                return {"asked_vectors": "later"}
        st: dict = {}
        bar = Progress(len(texts), "向量 (条文问法)", progress and not cached_only)
        vecs = encode_many(texts, kind="query", cache=cache, workers=workers, progress=bar, stats=st) if texts \
            else np.zeros((0, 384), np.float32)
        bar.close()
    finally:
        cache.close()
    tmp = index_dir / "dense_asked.tmp.npy"
    np.save(tmp, np.asarray(vecs, np.float32))
    tmp.replace(index_dir / "dense_asked.npy")
    return {"asked_vectors": len(texts), "newly_encoded": st.get("encoded", 0)}


def asked_coverage(index_dir: Path) -> dict:
    """{"asked_questions", "asked_with_vectors"}: vectors count only when they match the questions row for row."""
    ids = index_dir / "asked_art_ids.npy"
    n = len(np.load(ids)) if ids.exists() else 0
    vpath = index_dir / "dense_asked.npy"
    have = len(np.load(vpath, mmap_mode="r")) if vpath.exists() else 0
    return {"asked_questions": n, "asked_with_vectors": have if have == n else 0}


def write_meta(index_dir: Path, **info) -> None:
    path = index_dir / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    meta.update(info)
    meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def build(index_dir: Path, *, statutes_dir: Path = lawsmod.STATUTES_DIR, qa_dir: Path = qamod.QA_DIR,
          asked_dir: Path | None = None, article_vectors: bool | str = True, workers: int = 2, progress: bool = True,
          log: Callable[[str], None] = lambda s: None) -> dict:
    """Shipped statutes + curated Q&A. Idempotent: rows upsert, vectors come from the cache.

    article_vectors: True builds them here; False drops them (BM25 only); "later" keeps what exists
    and leaves the rest — with the asked questions' vectors — to `kb vectors` (setup: BM25 answers at
    once, meaning search over the articles grows in the background)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    t = time.time()
    info = {"ingest": ingest_dir(index_dir, statutes_dir, shipped=True)}
    log(f"条文入库: {info['ingest']}")
    info["bm25_articles"] = build_bm25_articles(index_dir, progress)
    log(f"条文检索: {info['bm25_articles']}")
    if article_vectors == "later":
        pass
    elif article_vectors:
        meta_path = index_dir / "meta.json"
        scope_all = meta_path.exists() and json.loads(meta_path.read_text(encoding="utf-8")).get("dense_scope") == "all"
        info["dense_articles"] = build_dense_articles(index_dir, workers=workers, progress=progress,
                                                      limit_shipped=not scope_all)
        log(f"条文向量: {info['dense_articles']}")
    else:
        for name in ("dense_art.npy", "dense_art_ids.npy"):
            (index_dir / name).unlink(missing_ok=True)
    info["qa"] = build_qa(index_dir, qa_dir, workers=workers, progress=progress)
    log(f"问答: {info['qa']}")
    info["asked"] = build_asked(index_dir, asked_dir, workers=workers, progress=progress,
                                vectors=article_vectors != "later")
    log(f"条文问法: {info['asked']}")
    info["build_seconds"] = round(time.time() - t, 2)
    write_meta(index_dir, build=info)
    return info


def ingest_laws(index_dir: Path, root: Path, *, progress: bool = True, vectors: bool = True, workers: int = 2,
                log: Callable[[str], None] = lambda s: None) -> dict:
    """Add any folder of the statute format: BM25 over all of it at once, then meaning vectors for
    every article in force (shipped laws first, published every few thousand, resumable)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    t = time.time()
    info = {"ingest": ingest_dir(index_dir, root, shipped=False)}
    log(f"条文入库: {info['ingest']}")
    info["bm25_articles"] = build_bm25_articles(index_dir, progress)
    log(f"条文检索: {info['bm25_articles']}")
    write_meta(index_dir, dense_scope="all")  # a later `kb build` keeps the whole corpus searchable by meaning
    if vectors:
        info["dense_articles"] = build_dense_articles(index_dir, workers=workers, progress=progress,
                                                      limit_shipped=False, save_every=8192, log=log)
        log(f"条文向量: {info['dense_articles']}")
    info["seconds"] = round(time.time() - t, 2)
    write_meta(index_dir, **{"ingest_" + Path(root).name: info})
    return info


# ---------------------------------------------------------------------------------- load

@dataclass
class Loaded:
    corpus: lawsmod.Corpus
    entries: list[qamod.Entry]
    bm_qa: BM25
    qa_vecs: np.ndarray
    qa_owner: np.ndarray
    bm_qa_ans: BM25
    qa_ans_vecs: np.ndarray
    bm_art: BM25
    art_ids: np.ndarray
    art_law: np.ndarray
    art_laws: list[str]
    art_shipped: np.ndarray
    art_vec_rows: np.ndarray | None  # row in art_ids for each dense vector
    # The article vectors live only inside the faiss index (a numpy copy beside it cost ~8 MB per
    # process for the shipped laws, ~85 MB for the whole corpus); art_vecs rebuilds them on demand.
    faiss_art: object | None
    # Residents' questions per article (None for an index built before knowledge/asked/ existed).
    bm_asked: BM25 | None = None
    asked_rows: np.ndarray | None = None  # BM25 article row of each question; -1 when not in force
    asked_vecs: object | None = None  # faiss index (fp16) of the questions' e5 vectors, row = question

    @property
    def art_vec_count(self) -> int:
        """How many articles have a vector (without copying them out of faiss)."""
        return 0 if self.faiss_art is None else int(self.faiss_art.ntotal)

    @property
    def art_vecs(self) -> np.ndarray | None:
        """(N, 384) float32 copy of the article vectors (for tuning and counts; search uses faiss_art)."""
        if self.faiss_art is None:
            return None
        n = int(self.faiss_art.ntotal)
        return self.faiss_art.reconstruct_n(0, n) if n else np.zeros((0, 384), np.float32)


def _faiss(vecs: np.ndarray):
    import faiss

    idx = faiss.IndexFlatIP(vecs.shape[1] if vecs.size else 384)
    if len(vecs):
        idx.add(np.ascontiguousarray(vecs, dtype=np.float32))
    return idx


def _faiss_fp16(vecs: np.ndarray):
    """Inner-product index holding fp16 codes: half the memory of float32 in every serving process,
    cosines equal to ~1e-3 (the dense scale spans 0.16)."""
    import faiss

    idx = faiss.IndexScalarQuantizer(vecs.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    idx.add(np.ascontiguousarray(vecs, dtype=np.float32))
    return idx


def is_built(index_dir: Path) -> bool:
    return all((index_dir / n).exists() for n in ("laws.sqlite", "bm25_art.npz", "bm25_qa.npz", "qa.json", "dense_qa.npy",
                                            "bm25_qa_ans.npz", "dense_qa_ans.npy"))


def load(index_dir: Path) -> Loaded:
    entries = [qamod.Entry(**d) for d in json.loads((index_dir / "qa.json").read_text(encoding="utf-8"))]
    art_ids = np.load(index_dir / "art_ids.npy")
    row_of = {int(a): r for r, a in enumerate(art_ids)}  # article id -> BM25 row
    art_vec_rows = faiss_art = None
    if (index_dir / "dense_art.npy").exists():
        art_vecs = np.load(index_dir / "dense_art.npy", mmap_mode="r")
        dense_ids = np.load(index_dir / "dense_art_ids.npy")
        n = min(len(art_vecs), len(dense_ids))  # a background build may be publishing right now
        art_vecs, dense_ids = art_vecs[:n], dense_ids[:n]
        keep = [i for i, a in enumerate(dense_ids) if int(a) in row_of]  # drop superseded since
        art_vec_rows = np.asarray([row_of[int(dense_ids[i])] for i in keep], np.int64)
        faiss_art = _faiss(np.asarray(art_vecs[keep], dtype=np.float32))
        del art_vecs
    qa_vecs = np.load(index_dir / "dense_qa.npy")
    bm_asked = asked_rows = asked_vecs = None
    if (index_dir / "bm25_asked.npz").exists() and (index_dir / "asked_art_ids.npy").exists():
        asked_rows = np.asarray([row_of.get(int(a), -1) for a in np.load(index_dir / "asked_art_ids.npy")], np.int64)
        if len(asked_rows):
            bm_asked = BM25.load(index_dir / "bm25_asked")
            vpath = index_dir / "dense_asked.npy"
            vecs = np.load(vpath) if vpath.exists() else None
            if vecs is not None and len(vecs) == len(asked_rows):
                asked_vecs = _faiss_fp16(vecs)
    return Loaded(
        corpus=lawsmod.Corpus(index_dir / "laws.sqlite"), entries=entries,
        bm_qa=BM25.load(index_dir / "bm25_qa"), qa_vecs=qa_vecs, qa_owner=np.load(index_dir / "qa_owner.npy"),
        bm_qa_ans=BM25.load(index_dir / "bm25_qa_ans"), qa_ans_vecs=np.load(index_dir / "dense_qa_ans.npy"),
        bm_art=BM25.load(index_dir / "bm25_art"), art_ids=art_ids, art_law=np.load(index_dir / "art_law.npy"),
        art_laws=json.loads((index_dir / "art_laws.json").read_text(encoding="utf-8")),
        art_shipped=(np.load(index_dir / "art_shipped.npy") if (index_dir / "art_shipped.npy").exists()
                     else np.ones(len(art_ids), np.bool_)),
        art_vec_rows=art_vec_rows, faiss_art=faiss_art,
        bm_asked=bm_asked, asked_rows=asked_rows, asked_vecs=asked_vecs,
    )
