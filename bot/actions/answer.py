"""Answering legal questions from the knowledge base: follow-ups, the 依据 line, the mediation offer,
`inform` outside the form, and 没帮助 feedback on an answer (twice unsure → a person)."""
from __future__ import annotations

import asyncio
import re
from typing import Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import services
from bot.actions.common import low_confidence_count, metadata, resident_text, say
from bot.actions.handoff import hand_over
from bot.domains import combine as combine_domains

# Subtypes / words that mean a dispute with another party: worth offering mediation.
MEDIATION_SUBTYPES = {"邻里纠纷", "物业纠纷", "宅基地/土地", "欠薪", "赡养", "彩礼", "交通事故赔偿", "民间借贷",
                      "消费维权", "征地拆迁", "工伤", "离婚", "继承"}
OTHER_PARTY_RE = re.compile(r"(邻居|楼上|楼下|隔壁|对面|老板|公司|单位|包工头|物业|房东|租客|对方|他|她|他们|商家|店家|开发商|"
                            r"婆婆|公公|老公|老婆|丈夫|妻子|前夫|前妻|儿子|女儿|兄弟|村里|村委|亲戚|朋友|同事)")
FOLLOW_UP_RE = re.compile(r"^(那|那么|那要|那如果|那我|那他|那对方|如果|要是|万一|还有|另外|这种情况|这样的话|那样的话|"
                          r"他要是|对方要是|能不能|可不可以|是不是|多少|要多久|怎么算|咋算|咋办|怎么办)")


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
        count = low_confidence_count(tracker) + 1
        if count >= 2:
            dispatcher.utter_message(text="这个问题我可能答不准。")
            return events + await hand_over(dispatcher, tracker, "low_confidence",
                                            "我请工作人员来帮您看看，请稍等，工作人员会在这里回复您。")
        events.append(SlotSet("low_confidence_count", count))
    else:
        events.append(SlotSet("low_confidence_count", 0))
    line = _citation_line(citations, answer)
    full = answer + (f"\n{line}" if line else "")
    safety = metadata(tracker).get("triage_line")  # harm that happened: the hotline, no alarm
    if isinstance(safety, str) and safety.strip():
        full = f"{full}\n{safety.strip()}"
    say(dispatcher, tracker, full, "answer", domain=domain, domains=domains, subtype=subtype, citations=citations,
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
        return await answer_question(dispatcher, tracker, resident_text(tracker))


class ActionHandleInform(Action):
    """`inform` outside the form: a question goes to the knowledge base, else ask what they need."""

    def name(self) -> Text:
        return "action_handle_inform"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        text = resident_text(tracker)
        if re.search(r"(吗|呢|么|怎么|咋|啥|什么|多少|能不能|可不可以|是否|？|\?)", text) or len(text) >= 12:
            return await answer_question(dispatcher, tracker, text)
        say(dispatcher, tracker, "收到。请问您想咨询什么法律问题，还是要登记纠纷请人调解？", "chitchat")
        return [SlotSet("last_outcome", "chitchat")]


class ActionNotHelpful(Action):
    """没帮助 after an answer: suggest asking again; the second time in a row, hand over to a person."""

    def name(self) -> Text:
        return "action_not_helpful"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List[EventType]:
        count = low_confidence_count(tracker) + 1
        if count >= 2:
            return await hand_over(dispatcher, tracker, "low_confidence",
                                   "抱歉没帮上。我请工作人员来帮您，请稍等，工作人员会在这里回复您。")
        say(dispatcher, tracker, "抱歉没帮上。您可以换个说法再问一次，或说「转人工」找工作人员。", "chitchat")
        return [SlotSet("low_confidence_count", count), SlotSet("last_outcome", "chitchat")]
