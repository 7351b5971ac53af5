"""Warm before ready: what a serving process loads at start so the first resident's answer does not
wait for models (`mingbai serve-actions` in its Sanic worker, `mingbai serve-web` before it binds).

An app-layer module (it reaches into bot and knowledge); mingbai.encoder stays in the core layer.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Optional

log = logging.getLogger(__name__)

WARM_ENV = "MINGBAI_WARM"  # "1"/unset: all steps; "0": none; or a comma list, e.g. "encoder,emergency"


def _encoder() -> None:
    from mingbai.encoder import warm

    warm()


def _index() -> None:
    import knowledge
    from knowledge.search import get_searcher

    get_searcher()
    knowledge.ask("老板拖欠工资怎么办")  # jieba's dictionary, the legal vocabulary, the statutes db


def _classifier() -> None:
    from bot.classifier import classify, get_model

    get_model()
    classify("老板拖欠工资怎么办")  # sklearn / scipy code paths and the text normaliser


def _emergency() -> None:
    from bot import emergency_semantic

    emergency_semantic.ready(wait=True)


def _road() -> None:
    from bot import road

    road.probabilities("老板拖欠工资怎么办")


STEPS: list[tuple[str, Callable[[], None]]] = [
    ("encoder", _encoder), ("index", _index), ("classifier", _classifier), ("emergency", _emergency),
    ("road", _road)]


def selected() -> list[str]:
    """The steps MINGBAI_WARM asks for (all by default)."""
    raw = os.environ.get(WARM_ENV, "1").strip().lower()
    if raw in ("0", "false", "no", "off", "none"):
        return []
    if raw in ("", "1", "true", "yes", "on", "all"):
        return [name for name, _ in STEPS]
    wanted = {w.strip() for w in raw.split(",") if w.strip()}
    return [name for name, _ in STEPS if name in wanted]


def warm_serving(steps: Optional[list[str]] = None) -> dict:
    """Load the shared encoder, the knowledge index, the issue classifier and the emergency backstop's
    vectors (or only `steps`). Each step on its own: one failing (say, a missing index) leaves the
    others warm and the lazy path in place. Returns {step: seconds or "error: ..."}."""
    names = [name for name, _ in STEPS] if steps is None else steps
    done: dict = {}
    for name, fn in STEPS:
        if name not in names:
            continue
        t = time.monotonic()
        try:
            fn()
            done[name] = round(time.monotonic() - t, 2)
        except Exception as e:  # the lazy path still works; say why in the log
            log.warning("warm-up %s failed: %s", name, e)
            done[name] = f"error: {e}"[:200]
    log.info("warm-up done: %s", done)
    return done


_thread: Optional[threading.Thread] = None
_lock = threading.Lock()


def start_warmup(wait: float = 0.0) -> Optional[threading.Thread]:
    """warm_serving() in a daemon thread, once per process; waits up to `wait` seconds for it
    (what is not done by then goes on in the background). MINGBAI_WARM picks the steps; "0": none."""
    global _thread
    steps = selected()
    if not steps:
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=warm_serving, args=(steps,), name="mingbai-warm", daemon=True)
            _thread.start()
        th = _thread
    if wait > 0:
        th.join(wait)
    return th
