"""The intake form (dispute_form): preparing it (the matter's domain, the first message as the
description), its questions and the validation of each answer, opening the ticket when it is done,
and declining the mediation offer that leads to it."""
from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services
from bot.actions import slots as parsing
from bot.actions.common import metadata, resident_text, say
from bot.domains import combine as combine_domains

GENERIC_DISPUTE_RE = re.compile(r"^(我?(想|要)?(申请|登记|找|请)?(一下)?(调解|调解员|网格员|纠纷|评评理|处理一下这个纠纷|反映个?问题|投诉)"
                                r"(一下)?(纠纷)?(吧|啊)?)$")
FORM_SLOTS = ["dispute_summary", "other_party", "location", "phone", "preferred_time", "consent"]


class ActionPrepareDispute(Action):
    """Before the intake form: classify the matter and keep the first message as the description."""

    def name(self) -> Text:
        return "action_prepare_dispute"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        text = resident_text(tracker)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        events: List[EventType] = [SlotSet(s, None) for s in FORM_SLOTS]
        events.append(SlotSet("low_confidence_count", 0))
        summary = None
        if intent == "report_dispute":
            compact = re.sub(r"[\s，。,.!！?？]+", "", text)
            if len(compact) >= 8 and not GENERIC_DISPUTE_RE.match(compact):
                summary = text.strip()
        else:  # accepted a mediation offer: the question was the description
            summary = tracker.get_slot("last_question")
        basis = summary or text
        if intent != "report_dispute" and tracker.get_slot("last_domain"):
            d, st = tracker.get_slot("last_domain"), tracker.get_slot("last_subtype")
        else:
            cls = await asyncio.to_thread(services.classify, basis)
            d, st = cls["domain"], cls.get("subtype")
            mixed = combine_domains(cls)  # 「想请调解员来说和」 alone pulls to 综合咨询; the matter decides
            if mixed["domain"] and mixed["domain"] != d:
                d, st = mixed["domain"], None
        events += [SlotSet("dispute_domain", d), SlotSet("dispute_subtype", st), SlotSet("last_domain", d),
                   SlotSet("last_subtype", st)]
        if summary:
            events.append(SlotSet("dispute_summary", summary[:1000]))
        say(dispatcher, tracker, "好的，我帮您登记，请调解员来处理。只要回答几个问题。", "intake", domain=d, subtype=st)
        events.append(SlotSet("last_outcome", "intake"))
        return events


class ValidateDisputeForm(FormValidationAction):
    """Checks each answer of the intake form; an answer that is not one is asked again, gently.

    phone: mobile / landline with area code (echoed masked). A refusal gets one explanation;
           the second refusal is accepted (phone stays None and the form skips it: see
           next_requested_slot). Refusals are counted from the tracker events.
    location: matched to the grid list → 「您是说……吗？」; the answer to that arrives with the next
           question (phone) and 「不对」 there clears the place so the form asks it again.
           No match: kept as typed, staff confirm it.
    """

    _p = parsing  # pure parsing helpers (bot/actions/slots.py)

    CONFIRM_PLACE = "您是说"

    def name(self) -> Text:
        return "validate_dispute_form"

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _answer(value: Any, tracker: Tracker) -> str:
        """The slot's text; a forced intent (「/inform」) falls back to the words in the metadata."""
        text = str(value or "").strip()
        if text.startswith("/"):
            md = metadata(tracker).get("text")
            if isinstance(md, str) and md.strip():
                return md.strip()
        return text

    @staticmethod
    def _user_text(event: Dict[Text, Any]) -> str:
        text = event.get("text") or ""
        md = event.get("metadata") or {}
        if text.startswith("/") and isinstance(md, dict) and isinstance(md.get("text"), str):
            return md["text"]
        return text

    def _phone_refusals(self, tracker: Tracker, include_latest: bool) -> int:
        """How often the resident declined to give a number in this form (answers typed while
        requested_slot was phone)."""
        events = list(tracker.events or [])
        user_idx = [i for i, e in enumerate(events) if e.get("event") == "user"]
        latest = user_idx[-1] if user_idx else -1
        requested, count = None, 0
        for i, e in enumerate(events):
            kind = e.get("event")
            if kind == "slot" and e.get("name") == "requested_slot":
                requested = e.get("value")
            elif kind == "slot" and e.get("name") == "phone" and services.extract_phone(str(e.get("value") or "")):
                count = 0  # a number was given
            elif (kind == "active_loop" and e.get("name") == "dispute_form") or \
                    (kind == "action" and e.get("name") == "action_prepare_dispute"):
                count = 0  # a new form
            elif kind == "user" and requested == "phone" and (include_latest or i != latest) and \
                    self._p.is_phone_refusal(self._user_text(e)):
                count += 1
        return count

    def _place_was_asked(self, tracker: Tracker) -> bool:
        """The bot's last turn asked 「您是说……吗？」 about the place."""
        events = list(tracker.events or [])
        user_idx = [i for i, e in enumerate(events) if e.get("event") == "user"]
        start = user_idx[-2] if len(user_idx) >= 2 else 0
        end = user_idx[-1] if user_idx else len(events)
        return any(e.get("event") == "bot" and str(e.get("text") or "").startswith(self.CONFIRM_PLACE)
                   for e in events[start:end])

    async def _place(self, text: str, dispatcher: CollectingDispatcher) -> Dict[Text, Any]:
        """The location slot for `text`: a grid match is confirmed, anything else kept as typed."""
        compact = self._p.compact(text)
        if len(compact) < 2:
            dispatcher.utter_message(text="请告诉我村或社区的名字，方便安排就近的调解员。")
            return {"location": None}
        match = await asyncio.to_thread(services.match_place, text)
        if match and match.get("level") in ("village", "grid"):
            label = match["label"]
            dispatcher.utter_message(text=f"{self.CONFIRM_PLACE}{label}吗？不对的话请回「不对」。")
            return {"location": self._p.place_value(label, text)}
        if match is None and self._p.is_question(text) and len(compact) > 6:
            dispatcher.utter_message(text="请先告诉我您住哪个村或社区，比如「大塘村」。说个附近的地方也行。")
            return {"location": None}
        dispatcher.utter_message(text="好的，记下了。具体地点工作人员会再跟您确认。")
        return {"location": self._p.clean(text)[:200]}

    async def _place_reply(self, text: str, slot: str, dispatcher: CollectingDispatcher,
                           tracker: Tracker) -> Optional[Dict[Text, Any]]:
        """The answer to 「您是说……吗？」, which arrives as the next slot's value: 「是」 → ask that
        slot again; 「不对」 → clear the place (the form asks it again); 「不对，是石桥村」 → the new place."""
        if not tracker.get_slot("location") or not self._place_was_asked(tracker):
            return None
        if self._p.is_yes(text):
            return {slot: None}  # confirmed: the form asks its question again, no scolding
        rest = self._p.denial(text)
        if rest is None:
            return None
        if not rest:
            dispatcher.utter_message(text="好的，是我没听准。")
            return {"location": None, slot: None}
        result = await self._place(rest, dispatcher)
        result[slot] = None
        return result

    # -- slots ---------------------------------------------------------------------------------
    def validate_dispute_summary(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: Dict) -> Dict[Text, Any]:
        text = self._answer(value, tracker)
        if len(re.sub(r"\W", "", text)) < 4:
            dispatcher.utter_message(text="能再多说几句吗？比如谁、什么时候、发生了什么。")
            return {"dispute_summary": None}
        return {"dispute_summary": text[:1000]}

    def validate_other_party(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: Dict) -> Dict[Text, Any]:
        party = self._p.parse_party(self._answer(value, tracker))
        if party is None:
            dispatcher.utter_message(text="就是跟您有矛盾的人或单位，比如邻居、老板、物业公司。不知道的话回「不清楚」。")
        return {"other_party": party}

    async def validate_location(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: Dict) -> Dict[Text, Any]:
        return await self._place(self._answer(value, tracker), dispatcher)

    async def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: Dict) -> Dict[Text, Any]:
        text = self._answer(value, tracker)
        phone = services.extract_phone(text)
        if not phone:
            reply = await self._place_reply(text, "phone", dispatcher, tracker)
            if reply is not None:
                return reply
        if phone:
            dispatcher.utter_message(text=f"好的，联系电话 {services.describe_phone(phone)}。")
            return {"phone": phone}
        if self._p.is_phone_refusal(text):
            if self._phone_refusals(tracker, include_latest=False) >= 1:
                dispatcher.utter_message(text="好的，先不留电话。调解员会在这里给您留言。")
            else:
                dispatcher.utter_message(text="留个电话，调解员才能约时间、告诉您结果。家里座机或家人的电话也行。"
                                              "实在没有，就回「没有」。")
            return {"phone": None}
        if self._p.local_number_without_area_code(text):
            dispatcher.utter_message(text="座机号请带上区号，比如 0571-8888 6666。")
        else:
            dispatcher.utter_message(text="这个号码好像不对。请输入 11 位手机号，比如 138 1234 5678。")
        return {"phone": None}

    async def validate_preferred_time(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: Dict) -> Dict[Text, Any]:
        text = self._answer(value, tracker)
        when = self._p.parse_time(text)
        if when is None:
            reply = await self._place_reply(text, "preferred_time", dispatcher, tracker)
            if reply is not None:
                return reply
            dispatcher.utter_message(text="您什么时间方便？比如「明天上午」「周末」。什么时候都行，就回「随时」。")
        return {"preferred_time": when}

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: Dict) -> Optional[EventType]:
        """A resident who declined the phone twice is not asked for it again."""
        if tracker.slots.get("phone") is None and self._phone_refusals(tracker, include_latest=True) >= 2:
            rest = [s for s in self.domain_slots(domain) if s != "phone"]
            return SlotSet("requested_slot", next((s for s in rest if tracker.slots.get(s) is None), None))
        return await super().next_requested_slot(dispatcher, tracker, domain)


class ActionSubmitDispute(Action):
    def name(self) -> Text:
        return "action_submit_dispute"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        slots = {s: tracker.get_slot(s) for s in FORM_SLOTS}
        d = tracker.get_slot("dispute_domain") or "综合咨询"
        st = tracker.get_slot("dispute_subtype")
        consent = bool(slots["consent"])
        # One ticket per completed form even if Rasa retries the action.
        key_src = f"{tracker.sender_id}|{slots['dispute_summary']}|{slots['phone']}|{slots['location']}"
        idem = "intake:" + hashlib.sha256(key_src.encode()).hexdigest()[:24]
        await asyncio.to_thread(services.call, "set_location", tracker.sender_id, slots["location"])
        ticket = await asyncio.to_thread(
            services.call, "open_ticket", tracker.sender_id, domain=d, subtype=st,
            summary=slots["dispute_summary"] or "", parties=slots["other_party"], location=slots["location"],
            phone=slots["phone"], preferred_time=slots["preferred_time"], consent=consent, urgency="normal",
            idempotency_key=idem)
        reset = [SlotSet(s, None) for s in FORM_SLOTS] + [SlotSet("last_outcome", "intake"),
                                                           SlotSet("mediation_offered", False)]
        if not ticket:
            say(dispatcher, tracker, "抱歉，登记系统暂时出了问题，没登记上。请说「转人工」，或稍后再试。", "intake",
                domain=d, subtype=st)
            return reset
        number = ticket.get("number")
        phone = services.mask_phone(slots["phone"]) if slots["phone"] else "您留的电话"
        if consent:
            text = (f"登记好了，编号 {number}。\n接下来：调解员会在 1 小时内打 {phone} 联系您，"
                    f"24 小时内给您答复。想查进度，发「查进度」就行。")
        else:
            text = (f"已记下，编号 {number}。您没有同意把情况转给调解员，所以先不安排调解；"
                    f"改主意了请说「转人工」。")
        say(dispatcher, tracker, text, "intake", domain=d, subtype=st, ticket_id=number,
            ack_due=str(ticket.get("ack_due") or "") or None, answer_due=str(ticket.get("answer_due") or "") or None,
            grid=ticket.get("grid"), consent=consent)
        return reset


class ActionDeclineMediation(Action):
    def name(self) -> Text:
        return "action_decline_mediation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        say(dispatcher, tracker, "好的。以后需要调解，随时说「我要调解」。", "chitchat")
        return [SlotSet("mediation_offered", False), SlotSet("last_outcome", "chitchat")]


# Intake form questions (action_ask_<slot>): one place for the wording.
FORM_QUESTIONS = {
    "dispute_summary": "好的，我来帮您登记。请简单说说发生了什么事？",
    "other_party": "对方是谁？（比如：邻居、楼上住户、老板、物业公司）",
    "location": "您在哪个村或社区？知道网格的话也请说一下（比如：大塘村、幸福社区第3网格）。",
    "phone": "请留一个手机号，调解员好联系您。",
    "preferred_time": "您什么时间方便接电话或见面？（比如：工作日下午、周末上午、随时）",
    "consent": "最后确认：同意把这些情况告诉调解员和网格员，用来处理您的事吗？请回复「同意」或「不同意」。",
}


def _ask_action(slot: str, question: str) -> type:
    class AskSlot(Action):
        def name(self) -> Text:
            return f"action_ask_{slot}"

        async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
            dispatcher.utter_message(text=question)
            return []

    AskSlot.__name__ = AskSlot.__qualname__ = "Ask_" + slot
    return AskSlot


for _slot, _question in FORM_QUESTIONS.items():
    globals()["Ask_" + _slot] = _ask_action(_slot, _question)
