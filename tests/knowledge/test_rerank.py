"""The second stage of article ranking (knowledge/rerank.py): what it learns and how it re-orders."""
from __future__ import annotations

import json

import numpy as np

from knowledge import rerank

N_FEATURES = 9  # knowledge.search.Searcher.FEATURES


def _question(rng):
    """30 candidates; the gold has the best meaning match but, on the weighted sum, comes second."""
    n = 30
    F = rng.uniform(0.0, 0.5, size=(n, N_FEATURES))
    rows = np.arange(100, 100 + n)
    laws = rng.integers(0, 5, size=n)
    gold = 100 + 1
    F[1, 0] = 0.95  # dense: best by far
    F[0, 1] = 1.0   # lex: the decoy wins on words
    F[0, 0] = 0.5
    return rows, F, laws, {gold}


def test_learns_what_the_weighted_sum_misses():
    rng = np.random.default_rng(0)
    w = np.asarray([0.3, 1.0, 0, 0, 0, 0, 0, 0, 0], np.float64)  # a first stage that over-trusts words
    data = [_question(rng) for _ in range(80)]
    before = rerank.evaluate(data, w, None)
    params = rerank.fit(data, w, top=20)
    after = rerank.evaluate(data, w, rerank.ready(params))
    assert before["R@1"] == 0.0 and after["R@1"] >= 0.95


def test_only_the_top_candidates_move_and_none_is_lost():
    rng = np.random.default_rng(1)
    rows, F, laws, _ = _question(rng)
    s = F @ np.ones(N_FEATURES)
    params = {"top": 5, "mean": np.zeros(27), "scale": np.ones(27), "coef": -np.eye(27)[20], "intercept": 0.0}
    o = rerank.order(rows, F, s, laws, params)  # coefficient -1 on log(rank): the first stage's order again
    assert sorted(o.tolist()) == list(range(len(rows)))
    first = np.argsort(-s, kind="stable")
    assert o[5:].tolist() == first[5:].tolist()
    assert o[:5].tolist() == first[:5].tolist()
    params["coef"] = np.eye(27)[20]  # +1 on log(rank): the top five reversed, the rest untouched
    o = rerank.order(rows, F, s, laws, params)
    assert o[:5].tolist() == first[:5][::-1].tolist() and o[5:].tolist() == first[5:].tolist()
    assert rerank.order(rows, F, s, laws, None).tolist() == first.tolist()


def test_the_shipped_parameters_fit_the_features():
    p = json.loads(rerank.PARAMS_PATH.read_text(encoding="utf-8"))
    rng = np.random.default_rng(2)
    rows, F, laws, _ = _question(rng)
    width = rerank.features(rows, F, F @ np.ones(N_FEATURES), laws).shape[1]
    assert len(p["coef"]) == len(p["mean"]) == len(p["scale"]) == width
    assert rerank.load() is not None
