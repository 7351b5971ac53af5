"""Sets intent `emergency` (confidence 1.0) whenever bot.emergency's rules fire.

The statistical classifier may miss a rare phrasing or lose it to a form's text slot; the rules
are the safety net, so they run inside Rasa too (not only in the gateway).
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.emergency import detect


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class EmergencyOverride(GraphComponent):
    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "EmergencyOverride":
        return cls()

    def __init__(self) -> None:
        # Load the semantic backstop's vectors in the background (cached; never blocks a parse).
        try:
            from bot import emergency_semantic

            emergency_semantic.ready()
        except Exception:  # pragma: no cover - rules still work
            pass

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = detect(text, vector=message.get("e5_query_vector"))
            if not found:
                continue
            intent = {"name": "emergency", "confidence": 1.0}
            ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != "emergency"]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent] + ranking, add_to_output=True)
            message.set("emergency", found, add_to_output=True)
        return messages

    def process_training_data(self, training_data):  # nothing to learn
        return training_data
