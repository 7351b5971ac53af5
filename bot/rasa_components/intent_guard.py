"""Two corrections after DIET + FallbackClassifier.

1. Content-free noise -> `nlu_fallback`. DIET is over-confident on noise: 「嗯嗯啊啊哦哦」「qwerty」「。。。」
   came back as `affirm` with 0.7–0.9, which would, say, accept a mediation offer. Such messages carry
   nothing to understand, so they count as "not understood" (twice in a row: a person takes over).
2. A real legal matter that DIET cannot place between `ask_legal_question` and `report_dispute`
   (「借给朋友两万块钱 他一直不还 怎么办」: 0.51 / 0.49 -> nlu_fallback) is a legal question: the
   resident gets the answer first, and the answer offers mediation when there is another party.
   Likewise a dispute phrased as a question (「…他一直不还 怎么办」) that does not ask for mediation
   or registration: answer first, then the offer.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

# Interjections / fillers that say nothing on their own when repeated (哈 is laughter: chitchat).
FILLER = set("啊阿呃嗯哦噢喔唔唉哎诶欸额巴吧呀哇嘛么呢的了吗咦哟哼")
KNOWN_LATIN = {"hi", "hello", "hey", "ok", "okay", "bye", "yes", "no", "ai", "thanks", "thx", "app"}


def is_gibberish(text: str) -> bool:
    t = unicodedata.normalize("NFKC", text or "")
    core = re.sub(r"[\s\W_]+", "", t)
    if not core:
        return True  # punctuation / emoji only
    cjk = [c for c in core if "\u4e00" <= c <= "\u9fff"]
    if not cjk:
        if core.isdigit():
            return not (len(core) >= 7 or core in {"88", "886", "110", "120", "12348", "12356", "96110"})
        words = re.findall(r"[a-z]+", core.lower())
        return not any(w in KNOWN_LATIN for w in words)
    if len(core) >= 3 and all(c in FILLER for c in core):
        return True
    return False


LEGAL = ("ask_legal_question", "report_dispute")
REQUEST = re.compile(r"(调解|登记|投诉|反映|举报|帮我|帮帮我|找人|网格员|评理|处理一下|管一管|管管)")
QUESTION = re.compile(r"(怎么办|咋办|咋整|怎么处理|怎么弄|怎么说|能不能|可不可以|可以吗|行不行|合法吗|违法吗|犯法吗|算不算|有没有|多少|几年|"
                      r"谁负责|谁来|找谁|吗|呢|么)[\s?？。!！~]*$")


def legal_intent(ranking: List[Dict[str, Any]]) -> bool:
    """The two legal intents together hold the probability mass, split between them."""
    scores = {r.get("name"): float(r.get("confidence") or 0) for r in ranking}
    return scores.get(LEGAL[0], 0) + scores.get(LEGAL[1], 0) >= 0.75


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class IntentGuard(GraphComponent):
    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "IntentGuard":
        return cls()

    @staticmethod
    def _set(message: Message, name: str, confidence: float) -> None:
        intent = {"name": name, "confidence": confidence}
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != name]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [intent] + ranking, add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text is None:
                continue
            if is_gibberish(text):
                self._set(message, "nlu_fallback", 1.0)
                continue
            intent = (message.get(INTENT) or {}).get("name")
            ranking = message.get(INTENT_RANKING_KEY) or []
            scores = {r.get("name"): float(r.get("confidence") or 0) for r in ranking}
            if intent == "nlu_fallback" and legal_intent(ranking):
                self._set(message, LEGAL[0], round(scores.get(LEGAL[0], 0) + scores.get(LEGAL[1], 0), 4))
            elif intent == LEGAL[1] and QUESTION.search(text.strip()) and not REQUEST.search(text):
                self._set(message, LEGAL[0], round(scores.get(LEGAL[0], 0) + scores.get(LEGAL[1], 0), 4))
        return messages

    def process_training_data(self, training_data):
        return training_data
