"""Query expansion: the resident's words plus the statutes' words for the same thing.

「老板不给工资」 shares no word with 劳动合同法 第三十条 (用人单位 … 劳动报酬); the colloquial →
legal vocabulary in dict/colloquial.yml bridges that gap for the lexical side. Expansion terms
count with a lower weight than the resident's own words (EXPANSION_WEIGHT, calibrated with the
other fusion weights), so an expansion can add recall but never outvote what was typed.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import yaml

VOCAB_PATH = Path(__file__).resolve().parent / "dict" / "colloquial.yml"
DIALECT_PATH = Path(__file__).resolve().parent / "dict" / "dialect.yml"
_lock = threading.Lock()
_vocab: list[tuple[str, list[str]]] | None = None


def vocab() -> list[tuple[str, list[str]]]:
    """[(colloquial key, [legal words])], longest keys first."""
    global _vocab
    if _vocab is None:
        with _lock:
            if _vocab is None:
                raw = yaml.safe_load(VOCAB_PATH.read_text(encoding="utf-8")) or {}
                items = []
                for k, v in raw.items():
                    words = v if isinstance(v, list) else [v]
                    flat = [w for item in words for w in str(item).split() if w]
                    items.append((str(k).lower(), flat))
                _vocab = sorted(items, key=lambda kv: -len(kv[0]))
    return _vocab


@lru_cache(maxsize=4096)
def legal_words(text: str) -> tuple[str, ...]:
    """Legal words implied by the colloquial phrases in `text` (already normalised), in order.

    Longest keys first and non-overlapping, so 「欠钱不还」 does not also fire 「欠钱」's weaker sense.
    """
    t = (text or "").lower()
    taken = [False] * len(t)
    out: list[str] = []
    for key, words in vocab():
        start = t.find(key)
        while start != -1:
            end = start + len(key)
            if not any(taken[start:end]):
                for i in range(start, end):
                    taken[i] = True
                out.extend(w for w in words if w not in out)
                break
            start = t.find(key, start + 1)
    return tuple(out)


_dialect: list[tuple[str, str]] | None = None


def _dialect_map() -> list[tuple[str, str]]:
    global _dialect
    if _dialect is None:
        with _lock:
            if _dialect is None:
                raw = yaml.safe_load(DIALECT_PATH.read_text(encoding="utf-8")) if DIALECT_PATH.exists() else {}
                _dialect = sorted(((str(k), str(v)) for k, v in (raw or {}).items()), key=lambda kv: -len(kv[0]))
    return _dialect


@lru_cache(maxsize=4096)
def standardize(text: str) -> str:
    """Dialect and spoken forms to standard Mandarin (俺→我, 咋整→怎么办, 佢→他) for search only:
    e5 and the statutes speak Mandarin. Longest forms first, one left-to-right pass."""
    table = _dialect_map()
    if not text or not table:
        return text or ""
    out, i = [], 0
    while i < len(text):
        for k, v in table:
            if text.startswith(k, i):
                out.append(v)
                i += len(k)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
