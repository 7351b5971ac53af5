"""Handing a resident to a person: 转人工 on request, after not understanding twice (fallback), and
emergencies (hotline first, then an urgent ticket and a handoff)."""
from __future__ import annotations

import asyncio
import hashlib
from typing import Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services
from bot.actions.common import PRIVACY_NOTICE, low_confidence_count, resident_text, say
from bot.emergency import DOMAIN_OF_KIND, detect


async def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                    text: Optional[str] = None, ticket_number: Optional[str] = None) -> List[EventType]:
    """tickets.service.start_handoff, tell the resident, pause the bot (also used by the answer flow)."""
    result = await asyncio.to_thread(services.call, "start_handoff", tracker.sender_id, reason, ticket_number)
    if result is None:
        # No staff queue reachable: never leave the resident with nothing.
        say(dispatcher, tracker, "工作人员暂时联系不上。急事请拨打 12348 法律援助热线；有危险请打 110。", "handoff",
            handoff=False, reason=reason)
        return [SlotSet("last_outcome", "handoff"), SlotSet("low_confidence_count", 0)]
    say(dispatcher, tracker, text or "好的，已为您转接工作人员。请稍等，工作人员会在这里回复您。", "handoff",
        handoff=True, reason=reason, ticket_id=ticket_number or (result or {}).get("ticket_number"))
    return [SlotSet("last_outcome", "handoff"), SlotSet("low_confidence_count", 0), SlotSet("requested_slot", None),
            ActiveLoop(None), ConversationPaused()]


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        return await hand_over(dispatcher, tracker, "resident_request")


class ActionFallback(Action):
    """Low NLU confidence: ask again once; the second time in a row, hand over to a person."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        count = low_confidence_count(tracker) + 1
        if count >= 2:
            dispatcher.utter_message(text="我还是没弄明白，真抱歉。")
            return await hand_over(dispatcher, tracker, "low_confidence",
                                   "我请工作人员来帮您，请稍等，工作人员会在这里回复您。")
        say(dispatcher, tracker, "不好意思，我没太明白。您能换个说法吗？比如「老板不给工资怎么办」「我要调解邻居纠纷」。",
            "out_of_scope")
        return [SlotSet("low_confidence_count", count), SlotSet("last_outcome", "out_of_scope")]


class ActionEmergency(Action):
    """Hotline first, then an urgent ticket and a handoff, whatever flow was active."""

    def name(self) -> Text:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        text = resident_text(tracker)
        found = detect(text) or {
            "kind": "violence", "hotlines": ["110", "120"],
            "reply": "如果有危险，请马上拨打 110 报警；有人受伤打 120。我已通知工作人员尽快联系您。",
        }
        cls = await asyncio.to_thread(services.classify, text)
        d = cls["domain"] if float(cls.get("confidence") or 0) >= 0.4 else DOMAIN_OF_KIND.get(found["kind"], "综合咨询")
        idem = "emergency:" + hashlib.sha256(f"{tracker.sender_id}|{text}|{len(tracker.events)}".encode()).hexdigest()[:24]
        ticket = await asyncio.to_thread(
            services.call, "open_ticket", tracker.sender_id, domain=d, subtype=cls.get("subtype"),
            summary=text[:1000] or "紧急情况", location=tracker.get_slot("location"), phone=tracker.get_slot("phone"),
            consent=True, urgency="emergency", idempotency_key=idem)
        number = (ticket or {}).get("number")
        say(dispatcher, tracker, found["reply"], "emergency", domain=d, ticket_id=number, kind=found["kind"],
            hotlines=found["hotlines"])
        if tracker.get_slot("privacy_pending"):
            dispatcher.utter_message(text=PRIVACY_NOTICE, json_message={"notice": "privacy"})
        handoff = await asyncio.to_thread(services.call, "start_handoff", tracker.sender_id,
                                          f"emergency:{found['kind']}", number)
        events: List[EventType] = [SlotSet("last_outcome", "emergency"), SlotSet("requested_slot", None),
                                   ActiveLoop(None), SlotSet("privacy_pending", False), SlotSet("privacy_shown", True)]
        if handoff is not None:
            events.append(ConversationPaused())
        return events
