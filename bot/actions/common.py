"""What every action flow shares: the privacy notice, reading the resident's words from the tracker,
and saying a reply with its structured result (`custom`: outcome, domain, citations, ticket_id)."""
from __future__ import annotations

from typing import Any, Dict, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services

PRIVACY_NOTICE = (
    "温馨提示：为了帮您处理问题，我们会保存您的聊天内容和您留下的联系方式，"
    "只用于法律咨询和调解，最长保存一年。想删除，随时发「删除我的信息」。"
)


def payload(outcome: str, **extra: Any) -> Dict[str, Any]:
    data = {"outcome": outcome, "domain": None, "citations": [], "ticket_id": None}
    data.update(extra)
    return data


def say(dispatcher: CollectingDispatcher, tracker: Optional[Tracker], text: str, outcome: Optional[str] = None,
        **extra: Any) -> None:
    """Utter `text`; with an outcome, attach the payload and append it to the outcome log."""
    if outcome:
        dispatcher.utter_message(text=text, json_message=payload(outcome, **extra))
        if tracker is not None:
            intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
            services.record_outcome(tracker.sender_id, outcome, extra.get("domain"), extra.get("subtype"), intent)
    else:
        dispatcher.utter_message(text=text)


def metadata(tracker: Tracker) -> dict:
    md = (tracker.latest_message or {}).get("metadata")
    return md if isinstance(md, dict) else {}


def resident_text(tracker: Tracker) -> str:
    """The resident's words: the gateway routes by forced intent (「/ask_legal_question」) and sends
    the original text in the message metadata."""
    md_text = metadata(tracker).get("text")
    if isinstance(md_text, str) and md_text.strip():
        return md_text
    return (tracker.latest_message or {}).get("text") or ""


def low_confidence_count(tracker: Tracker) -> float:
    """How many answers in a row the bot was unsure of (or did not understand)."""
    try:
        return float(tracker.get_slot("low_confidence_count") or 0)
    except (TypeError, ValueError):
        return 0.0
