"""Split long answers to a channel's byte limit without cutting a citation in half."""
from __future__ import annotations

import re

WECHAT_TEXT_BYTES = 2000  # WeChat text messages: 2048 bytes; keep a margin

_OPEN, _CLOSE = "《【“（(「", "》】”）)」"
_SENT_END = re.compile(r"(?<=[。！？；!?;])")


def _blen(s: str) -> int:
    return len(s.encode("utf-8"))


def _units(text: str) -> list[str]:
    """Paragraphs, then lines, then sentences: the pieces we may cut between."""
    out: list[str] = []
    for para in re.split(r"(\n\s*\n)", text):
        if not para:
            continue
        for line in re.split(r"(?<=\n)", para):
            if line:
                out.extend(p for p in _SENT_END.split(line) if p)
    return out


def _hard_cut(piece: str, limit: int) -> list[str]:
    """Last resort for one over-long sentence: cut at character boundaries, never inside brackets."""

    def scan(buf: str) -> tuple[int, int]:
        depth, safe = 0, 0
        for i, c in enumerate(buf):
            if depth == 0:
                safe = i  # a cut before buf[i] is allowed
            if c in _OPEN:
                depth += 1
            elif c in _CLOSE and depth:
                depth -= 1
        if depth == 0:
            safe = len(buf)
        return depth, safe

    chunks: list[str] = []
    cur, depth, safe = "", 0, 0
    for ch in piece:
        if cur and _blen(cur + ch) > limit:
            cut = safe if safe > 0 else len(cur)  # a bracket longer than the limit: no choice
            chunks.append(cur[:cut])
            cur = cur[cut:]
            depth, safe = scan(cur)
        if depth == 0:
            safe = len(cur)
        cur += ch
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE and depth:
            depth -= 1
    if cur:
        chunks.append(cur)
    return chunks


def _own_split(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    cur = ""
    for unit in _units(text):
        if _blen(cur + unit) <= limit:
            cur += unit
            continue
        if cur.strip():
            parts.append(cur.strip())
        cur = ""
        if _blen(unit) <= limit:
            cur = unit
        else:
            pieces = _hard_cut(unit, limit)
            parts.extend(p.strip() for p in pieces[:-1] if p.strip())
            cur = pieces[-1]
    if cur.strip():
        parts.append(cur.strip())
    return parts


def split_message(text: str, limit: int = WECHAT_TEXT_BYTES) -> list[str]:
    """Use knowledge's splitter when it exists (it knows citation markup), else ours."""
    text = (text or "").strip()
    if not text:
        return []
    if _blen(text) <= limit:
        return [text]
    try:
        from knowledge.answer import split_message as kb_split  # type: ignore

        parts = [p for p in kb_split(text, limit) if p and p.strip()]
        if parts and all(_blen(p) <= limit for p in parts):
            return parts
    except Exception:
        pass
    return _own_split(text, limit)


WECOM_TEXT_BYTES = 2000
CHANNEL_BYTES = {"wechat": WECHAT_TEXT_BYTES, "wecom": WECOM_TEXT_BYTES}


def split_for(channel: str, text: str) -> list[str]:
    """The parts one message becomes on `channel`: push channels (WeChat, WeCom) have a size limit."""
    limit = CHANNEL_BYTES.get(channel)
    if limit:
        return split_message(text, limit)
    text = (text or "").strip()
    return [text] if text else []
