"""Calls into the other areas (knowledge, tickets) and the classifier, made safe for a live chat.

A failure in one of them must not silence the bot: each call logs and returns a fallback the
actions can phrase politely (the resident still gets the hotline or a way to reach a person).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any, Optional

log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
LANDLINE_RE = re.compile(r"(?<!\d)(0\d{2,3}\d{7,8})(?!\d)")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def extract_phone(text: str) -> Optional[str]:
    """A mainland mobile (11 digits, 1[3-9]…) or a landline with area code; spaces/dashes allowed."""
    digits = unicodedata.normalize("NFKC", (text or "").translate(_FULLWIDTH))
    digits = re.sub(r"[\s\-—–‐−()（）+]", "", digits)
    digits = re.sub(r"(?<!\d)(86|0086)(?=1[3-9]\d{9}(?!\d))", "", digits)
    m = PHONE_RE.search(digits)
    if m:
        return m.group(1)
    m = LANDLINE_RE.search(digits)
    return m.group(1) if m else None


def mask_phone(phone: str) -> str:
    try:
        from mingbai.privacy import mask_phone as _mask

        return _mask(phone)
    except Exception:  # pragma: no cover
        return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def describe_phone(phone: str) -> str:
    """The number as echoed back to the resident, masked: 138****5678, 0571-****6666."""
    if PHONE_RE.fullmatch(phone or ""):
        return mask_phone(phone)
    area = 3 if re.match(r"^0(10|2\d)", phone or "") else 4
    return f"{phone[:area]}-****{phone[-4:]}" if len(phone or "") > area + 4 else "****"


def match_place(text: str) -> Optional[dict]:
    """The grid node a resident's place names (tickets.routing.match_place), as plain data:
    {"code", "name", "level", "label"} where label reads from the town down (清风镇大塘村).
    None when nothing matches or the database cannot be reached (logged)."""
    if not (text or "").strip():
        return None
    try:
        from mingbai.db import session_scope
        from tickets.models import GridNode
        from tickets.routing import match_place as _match

        from bot.actions.slots import place_label

        with session_scope() as s:
            node = _match(s, text)
            if node is None:
                return None
            path = []
            n: Any = node
            while n is not None:
                path.append(n)
                n = s.get(GridNode, n.parent_id) if n.parent_id is not None else None
            path.reverse()
            shown = [p.name for p in path if p.level != "county"] or [node.name]
            return {"code": node.code, "name": node.name, "level": node.level, "label": place_label(shown)}
    except Exception:
        log.exception("match_place failed")
        return None


def classify(text: str) -> dict:
    try:
        from bot.classifier import classify as _classify

        return _classify(text, scores=True)
    except Exception:
        log.exception("classifier failed")
        return {"domain": "综合咨询", "subtype": None, "confidence": 0.0}


def ask(text: str, domain: Optional[str]) -> dict:
    try:
        import knowledge

        return knowledge.ask(text, domain)
    except Exception:
        log.exception("knowledge.ask failed")
        return {
            "answer": "抱歉，法律知识库暂时用不了。您可以说「转人工」，请工作人员帮您解答。",
            "citations": [], "entry_id": None, "score": 0.0, "confident": False, "domain": domain,
        }


def tickets() -> Any:
    """tickets.service, or None when it cannot be imported (logged)."""
    try:
        from tickets import service

        return service
    except Exception:
        log.exception("tickets.service unavailable")
        return None


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """tickets.service.<name>(...); None (logged) when it fails."""
    service = tickets()
    if service is None:
        return None
    try:
        return getattr(service, name)(*args, **kwargs)
    except Exception:
        log.exception("tickets.service.%s failed", name)
        return None


_outcome_lock = __import__("threading").Lock()


def record_outcome(sender_id: str, outcome: str, domain: Optional[str] = None, subtype: Optional[str] = None,
                   intent: Optional[str] = None) -> None:
    """One line per bot turn for analytics (MINGBAI_HOME/analytics/bot_outcomes.jsonl).

    The resident is stored only as a salted hash: analytics never needs to know who it was.
    """
    try:
        import hashlib
        import json
        import time

        from mingbai.settings import get_settings

        s = get_settings()
        who = hashlib.sha256((s.secret("secret_key") + sender_id).encode()).hexdigest()[:16]
        path = s.home / "analytics" / "bot_outcomes.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"ts": round(time.time(), 3), "resident": who, "channel": sender_id.split(":", 1)[0],
                           "outcome": outcome, "domain": domain, "subtype": subtype, "intent": intent},
                          ensure_ascii=False)
        with _outcome_lock, open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except Exception:
        log.exception("record_outcome failed")
