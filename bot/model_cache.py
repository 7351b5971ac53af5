"""A fitted model cached as a pickle under MINGBAI_HOME/bot/ (the domain classifier, the learned road).

The file name carries a fingerprint of the model's inputs, so a change to its examples retrains it.
A fresh data dir (a test's home) reuses the file `make setup` cached in ./var/bot.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Callable, TypeVar

from mingbai.settings import PROJECT_ROOT, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def path_for(name: str) -> Path:
    return Path(get_settings().home) / "bot" / name


def load_or_train(name: str, train: Callable[[], T]) -> T:
    path = path_for(name)
    shipped = PROJECT_ROOT / "var" / "bot" / name
    for p in (path, shipped):
        if p.exists():
            try:
                return pickle.loads(p.read_bytes())
            except Exception:
                log.warning("model cache unreadable, retraining: %s", p)
    model = train()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(model))
    tmp.replace(path)
    return model
