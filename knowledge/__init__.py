"""法律明白人 knowledge base: statute corpus, curated Q&A, hybrid retrieval, verified citations.

`ask(text, domain=None) -> dict` is the one call other areas use (see docs/ARCHITECTURE.md).
Everything heavy loads lazily on first use and is cached per process (thread-safe).
"""
from __future__ import annotations


def ask(text, domain: str | None = None) -> dict:
    """{"answer", "citations": [{"law","article","text"}], "entry_id", "score", "confident", "domain"}."""
    from knowledge.answer import ask as _ask

    return _ask(text, domain)


def split_message(text: str, limit: int = 600) -> list[str]:
    from knowledge.answer import split_message as _split

    return _split(text, limit)


__all__ = ["ask", "split_message"]
