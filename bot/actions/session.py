"""A conversation's start (action_session_start): carried-over slots and the privacy notice, once."""
from __future__ import annotations

import asyncio
from typing import Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services
from bot.actions.common import PRIVACY_NOTICE


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        # carry_over_slots_to_new_session: a custom session start must copy them itself.
        for key, value in (tracker.current_slot_values() or {}).items():
            if value is not None and key != "requested_slot":
                events.append(SlotSet(key, value))
        metadata = tracker.get_slot("session_started_metadata") or {}
        shown = bool(tracker.get_slot("privacy_shown")) or bool(metadata.get("privacy_notice_shown"))
        if not shown:
            consented = await asyncio.to_thread(services.call, "has_consent", tracker.sender_id)
            if consented:
                events.append(SlotSet("privacy_shown", True))
            elif metadata.get("emergency"):
                # The hotline must be the first thing an endangered resident reads: notice after it.
                events.append(SlotSet("privacy_pending", True))
            else:
                dispatcher.utter_message(text=PRIVACY_NOTICE, json_message={"notice": "privacy"})
                events.append(SlotSet("privacy_shown", True))
        events.append(ActionExecuted("action_listen"))
        return events
