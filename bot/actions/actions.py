"""Dialogue actions: answers, intake form, handoff, emergency, status, privacy."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import (ActionExecuted, ActiveLoop, AllSlotsReset, ConversationPaused, EventType,
                             SessionStarted, SlotSet)
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services
from bot.domains import combine as combine_domains
from bot.emergency import DOMAIN_OF_KIND, detect

log = logging.getLogger(__name__)

PRIVACY_NOTICE = (
    "温馨提示：为了帮您处理问题，我们会保存您的聊天内容和您留下的联系方式，"
    "只用于法律咨询和调解，最长保存一年。想删除，随时发「删除我的信息」。"
)
# Subtypes / words that mean a dispute with another party: worth offering mediation.
MEDIATION_SUBTYPES = {"邻里纠纷", "物业纠纷", "宅基地/土地", "欠薪", "赡养", "彩礼", "交通事故赔偿", "民间借贷",
                      "消费维权", "征地拆迁", "工伤", "离婚", "继承"}
OTHER_PARTY_RE = re.compile(r"(邻居|楼上|楼下|隔壁|对面|老板|公司|单位|包工头|物业|房东|租客|对方|他|她|他们|商家|店家|开发商|"
                            r"婆婆|公公|老公|老婆|丈夫|妻子|前夫|前妻|儿子|女儿|兄弟|村里|村委|亲戚|朋友|同事)")
FOLLOW_UP_RE = re.compile(r"^(那|那么|那要|那如果|那我|那他|那对方|如果|要是|万一|还有|另外|这种情况|这样的话|那样的话|"
                          r"他要是|对方要是|能不能|可不可以|是不是|多少|要多久|怎么算|咋算|咋办|怎么办)")
GENERIC_DISPUTE_RE = re.compile(r"^(我?(想|要)?(申请|登记|找|请)?(一下)?(调解|调解员|网格员|纠纷|评评理|处理一下这个纠纷|反映个?问题|投诉)"
                                r"(一下)?(纠纷)?(吧|啊)?)$")
FORM_SLOTS = ["dispute_summary", "other_party", "location", "phone", "preferred_time", "consent"]
STATUS_NAMES = {"new": "待受理", "open": "待受理", "assigned": "已分派给调解员", "acknowledged": "调解员已接单",
                "in_progress": "处理中", "mediating": "调解中", "escalated": "已上报上级处理",
                "resolved": "已解决", "closed": "已办结", "cancelled": "已撤销"}


def _payload(outcome: str, **extra: Any) -> Dict[str, Any]:
    data = {"outcome": outcome, "domain": None, "citations": [], "ticket_id": None}
    data.update(extra)
    return data


def _say(dispatcher: CollectingDispatcher, tracker: Optional[Tracker], text: str, outcome: Optional[str] = None,
         **extra: Any) -> None:
    if outcome:
        dispatcher.utter_message(text=text, json_message=_payload(outcome, **extra))
        if tracker is not None:
            intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
            services.record_outcome(tracker.sender_id, outcome, extra.get("domain"), extra.get("subtype"), intent)
    else:
        dispatcher.utter_message(text=text)


def _metadata(tracker: Tracker) -> dict:
    md = (tracker.latest_message or {}).get("metadata")
    return md if isinstance(md, dict) else {}


def _text(tracker: Tracker) -> str:
    """The resident's words: the gateway routes by forced intent (「/ask_legal_question」) and sends
    the original text in the message metadata."""
    md_text = _metadata(tracker).get("text")
    if isinstance(md_text, str) and md_text.strip():
        return md_text
    return (tracker.latest_message or {}).get("text") or ""


def _low_conf(tracker: Tracker) -> float:
    try:
        return float(tracker.get_slot("low_confidence_count") or 0)
    except (TypeError, ValueError):
        return 0.0


async def _handoff(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                   text: Optional[str] = None, ticket_number: Optional[str] = None) -> List[EventType]:
    result = await asyncio.to_thread(services.call, "start_handoff", tracker.sender_id, reason, ticket_number)
    if result is None:
        # No staff queue reachable: never leave the resident with nothing.
        _say(dispatcher, tracker, "工作人员暂时联系不上。急事请拨打 12348 法律援助热线；有危险请打 110。", "handoff",
             handoff=False, reason=reason)
        return [SlotSet("last_outcome", "handoff"), SlotSet("low_confidence_count", 0)]
    _say(dispatcher, tracker, text or "好的，已为您转接工作人员。请稍等，工作人员会在这里回复您。", "handoff",
         handoff=True, reason=reason, ticket_id=ticket_number or (result or {}).get("ticket_number"))
    return [SlotSet("last_outcome", "handoff"), SlotSet("low_confidence_count", 0), SlotSet("requested_slot", None),
            ActiveLoop(None), ConversationPaused()]


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


def _is_follow_up(text: str, cls: dict, last_domain: Optional[str]) -> bool:
    if not last_domain:
        return False
    t = re.sub(r"\s+", "", text)
    if len(t) <= 14 and FOLLOW_UP_RE.search(t):
        return True
    return len(t) <= 10 and float(cls.get("confidence") or 0) < 0.35


def _citation_line(citations: List[dict], answer: str) -> Optional[str]:
    names = []
    for c in citations[:2]:
        law, art = c.get("law"), c.get("article")
        if not law:
            continue
        label = f"《{law}》{art or ''}".strip()
        if label not in answer and label not in names:
            names.append(label)
    return "依据：" + "、".join(names) if names else None


async def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> List[EventType]:
    cls = await asyncio.to_thread(services.classify, text)
    last_domain = tracker.get_slot("last_domain")
    last_question = tracker.get_slot("last_question") or ""
    follow_up = _is_follow_up(text, cls, last_domain)
    if follow_up:
        domain, subtype = last_domain, tracker.get_slot("last_subtype")
        query = f"{last_question} {text}".strip()
    else:
        domain, subtype = cls["domain"], cls.get("subtype")
        query = text
    # A weak domain guess would only narrow the search wrongly.
    ask_domain = domain if (follow_up or float(cls.get("confidence") or 0) >= 0.5) else None
    result = await asyncio.to_thread(services.ask, query, ask_domain)
    domains = [domain] if domain else []
    if not follow_up:  # the classifier and the knowledge base's best entries vote together
        mixed = combine_domains(cls, result.get("domains"))
        domain, domains = mixed["domain"], mixed["domains"]
        if domain != cls["domain"]:
            subtype = None
    answer = (result.get("answer") or "").strip() or "抱歉，这个问题我还答不好。"
    citations = result.get("citations") or []
    confident = bool(result.get("confident"))
    events: List[EventType] = [SlotSet("last_domain", domain), SlotSet("last_subtype", subtype),
                               SlotSet("last_question", query[-200:]), SlotSet("last_entry", result.get("entry_id")),
                               SlotSet("last_outcome", "answer")]
    if not confident:
        count = _low_conf(tracker) + 1
        if count >= 2:
            dispatcher.utter_message(text="这个问题我可能答不准。")
            return events + await _handoff(dispatcher, tracker, "low_confidence",
                                           "我请工作人员来帮您看看，请稍等，工作人员会在这里回复您。")
        events.append(SlotSet("low_confidence_count", count))
    else:
        events.append(SlotSet("low_confidence_count", 0))
    line = _citation_line(citations, answer)
    full = answer + (f"\n{line}" if line else "")
    safety = _metadata(tracker).get("triage_line")  # harm that happened: the hotline, no alarm
    if isinstance(safety, str) and safety.strip():
        full = f"{full}\n{safety.strip()}"
    _say(dispatcher, tracker, full, "answer", domain=domain, domains=domains, subtype=subtype, citations=citations,
         entry_id=result.get("entry_id"), confident=confident, follow_up=follow_up,
         classifier_confidence=cls.get("confidence"))
    offer = subtype in MEDIATION_SUBTYPES or bool(OTHER_PARTY_RE.search(text + last_question if follow_up else text))
    if not confident:
        dispatcher.utter_message(text="您可以换个说法再问，或说「转人工」找工作人员。")
        offer = False
    elif offer:
        dispatcher.utter_message(text="有帮助吗？如果和对方谈不拢，我可以帮您登记，请调解员来调解。需要吗？")
    else:
        dispatcher.utter_message(text="有帮助吗？")
    events.append(SlotSet("mediation_offered", offer))
    return events


class ActionAnswerQuestion(Action):
    def name(self) -> Text:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        return await answer_question(dispatcher, tracker, _text(tracker))


class ActionHandleInform(Action):
    """`inform` outside the form: a question goes to the knowledge base, else ask what they need."""

    def name(self) -> Text:
        return "action_handle_inform"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        text = _text(tracker)
        if re.search(r"(吗|呢|么|怎么|咋|啥|什么|多少|能不能|可不可以|是否|？|\?)", text) or len(text) >= 12:
            return await answer_question(dispatcher, tracker, text)
        _say(dispatcher, tracker, "收到。请问您想咨询什么法律问题，还是要登记纠纷请人调解？", "chitchat")
        return [SlotSet("last_outcome", "chitchat")]


class ActionPrepareDispute(Action):
    """Before the intake form: classify the matter and keep the first message as the description."""

    def name(self) -> Text:
        return "action_prepare_dispute"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        text = _text(tracker)
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
        _say(dispatcher, tracker, "好的，我帮您登记，请调解员来处理。只要回答几个问题。", "intake", domain=d, subtype=st)
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

    from bot.actions import slots as _p  # pure parsing helpers (imported here: the lead owns the file's imports)

    CONFIRM_PLACE = "您是说"

    def name(self) -> Text:
        return "validate_dispute_form"

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _answer(value: Any, tracker: Tracker) -> str:
        """The slot's text; a forced intent (「/inform」) falls back to the words in the metadata."""
        text = str(value or "").strip()
        if text.startswith("/"):
            md = _metadata(tracker).get("text")
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
            _say(dispatcher, tracker, "抱歉，登记系统暂时出了问题，没登记上。请说「转人工」，或稍后再试。", "intake",
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
        _say(dispatcher, tracker, text, "intake", domain=d, subtype=st, ticket_id=number,
             ack_due=str(ticket.get("ack_due") or "") or None, answer_due=str(ticket.get("answer_due") or "") or None,
             grid=ticket.get("grid"), consent=consent)
        return reset


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        return await _handoff(dispatcher, tracker, "resident_request")


class ActionFallback(Action):
    """Low NLU confidence: ask again once; the second time in a row, hand over to a person."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        count = _low_conf(tracker) + 1
        if count >= 2:
            dispatcher.utter_message(text="我还是没弄明白，真抱歉。")
            return await _handoff(dispatcher, tracker, "low_confidence",
                                  "我请工作人员来帮您，请稍等，工作人员会在这里回复您。")
        _say(dispatcher, tracker, "不好意思，我没太明白。您能换个说法吗？比如「老板不给工资怎么办」「我要调解邻居纠纷」。",
             "out_of_scope")
        return [SlotSet("low_confidence_count", count), SlotSet("last_outcome", "out_of_scope")]


class ActionEmergency(Action):
    """Hotline first, then an urgent ticket and a handoff, whatever flow was active."""

    def name(self) -> Text:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        text = _text(tracker)
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
        _say(dispatcher, tracker, found["reply"], "emergency", domain=d, ticket_id=number, kind=found["kind"],
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


class ActionTicketStatus(Action):
    def name(self) -> Text:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        rows = await asyncio.to_thread(services.call, "tickets_for_resident", tracker.sender_id)
        if rows is None:
            _say(dispatcher, tracker, "暂时查不到进度，请稍后再试，或说「转人工」。", "status", tickets=[])
            return [SlotSet("last_outcome", "status")]
        if not rows:
            _say(dispatcher, tracker, "您还没有登记过事情。要登记纠纷，直接告诉我发生了什么就行。", "status", tickets=[])
            return [SlotSet("last_outcome", "status")]
        lines = ["您登记的事情："]
        brief = []
        for t in rows[:5]:
            status = t.get("status_label") or STATUS_NAMES.get(str(t.get("status")), "处理中")
            who = t.get("assignee")
            who = who.get("name") if isinstance(who, dict) else who
            line = f"· {t.get('number')}（{t.get('domain') or '纠纷'}）：{status}"
            if who:
                line += f"，负责人 {who}"
            lines.append(line)
            brief.append({"number": t.get("number"), "status": t.get("status"), "domain": t.get("domain")})
        _say(dispatcher, tracker, "\n".join(lines), "status", tickets=brief, ticket_id=brief[0]["number"],
             domain=brief[0]["domain"])
        return [SlotSet("last_outcome", "status")]


class ActionDeleteData(Action):
    def name(self) -> Text:
        return "action_delete_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        removed = await asyncio.to_thread(services.call, "forget_resident", tracker.sender_id)
        if removed is None:
            _say(dispatcher, tracker, "抱歉，删除没有成功，请稍后再试，或说「转人工」请工作人员处理。", "status")
            return []
        _say(dispatcher, tracker, "已删除您的个人信息和聊天记录。以后再来，我们会重新问您是否同意保存。", "status",
             deleted=int(removed or 0))
        return [AllSlotsReset(), ActiveLoop(None)]


class ActionDeclineMediation(Action):
    def name(self) -> Text:
        return "action_decline_mediation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        _say(dispatcher, tracker, "好的。以后需要调解，随时说「我要调解」。", "chitchat")
        return [SlotSet("mediation_offered", False), SlotSet("last_outcome", "chitchat")]


class ActionNotHelpful(Action):
    def name(self) -> Text:
        return "action_not_helpful"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        count = _low_conf(tracker) + 1
        if count >= 2:
            return await _handoff(dispatcher, tracker, "low_confidence",
                                  "抱歉没帮上。我请工作人员来帮您，请稍等，工作人员会在这里回复您。")
        _say(dispatcher, tracker, "抱歉没帮上。您可以换个说法再问一次，或说「转人工」找工作人员。", "chitchat")
        return [SlotSet("low_confidence_count", count), SlotSet("last_outcome", "chitchat")]


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
