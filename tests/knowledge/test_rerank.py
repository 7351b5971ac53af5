"""The second stage of article ranking (knowledge/rerank.py): what it learns and how it re-orders."""
from __future__ import annotations

import json

import numpy as np

from knowledge import rerank

N_FEATURES = 9  # knowledge.search.Searcher.FEATURES
N_EXTRA = rerank.N_EXTRA  # knowledge.search.Searcher._extra


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
    E = rng.uniform(0.0, 1.0, size=(n, N_EXTRA))
    return rows, F, laws, {gold}, E, 1.0


def test_learns_what_the_weighted_sum_misses():
    rng = np.random.default_rng(0)
    w = np.asarray([0.3, 1.0, 0, 0, 0, 0, 0, 0, 0], np.float64)  # a first stage that over-trusts words
    data = [_question(rng) for _ in range(80)]
    before = rerank.evaluate(data, w, None)
    for extra in (False, True):
        params = rerank.fit(data, w, top=20, extra=extra)
        after = rerank.evaluate(data, w, rerank.ready(params))
        assert before["R@1"] == 0.0 and after["R@1"] >= 0.95


def test_learns_from_the_second_stage_columns():
    """A gold that nothing in the first stage tells apart, but one extra column does (say, most of
    the resident's nearest asked questions belong to it): only the fit that sees E finds it."""
    rng = np.random.default_rng(3)
    w = np.ones(N_FEATURES)
    data = []
    for _ in range(80):
        rows, F, laws, _, E, wt = _question(rng)
        F[:] = rng.uniform(0.0, 0.5, size=F.shape)
        g = int(rng.integers(0, len(rows)))
        E[:, 1] = rng.uniform(0, 3, size=len(rows))
        E[g, 1] = 8.0
        data.append((rows, F, laws, {int(rows[g])}, E, wt))
    plain = rerank.evaluate(data, w, rerank.ready(rerank.fit(data, w, top=30, extra=False)))
    full = rerank.evaluate(data, w, rerank.ready(rerank.fit(data, w, top=30, extra=True)))
    assert plain["R@1"] < 0.3 and full["R@1"] >= 0.95


def test_an_asked_question_can_leave_itself_out(kb):
    """Fitting on knowledge/asked/ questions: searched with itself excluded, its own entry no longer
    counts among the nearest asked questions of its article (the others still do)."""
    from knowledge.search import KNN

    L = kb.L
    q = "在厂里干了一年多老板一直不跟我签合同 能要双倍工资不"
    texts = json.loads((kb_index_dir() / "asked_texts.json").read_text(encoding="utf-8"))
    i = texts.index(q)
    row = int(L.asked_rows[i])
    got = {}
    for ex in (None, np.asarray([i])):
        kb.capture, kb.exclude_asked = [], ex
        kb.search_articles(q, None, k=10, mode="hybrid")
        rows, F, E = kb.capture[-1]
        kb.capture, kb.exclude_asked = None, None
        at = np.nonzero(rows == row)[0]
        got[ex is None] = (float(F[at[0], 7]), float(E[at[0], 0])) if len(at) else (0.0, 0.0)
    assert got[True][0] > 0.9 and 1.0 <= got[True][1] <= KNN
    assert got[False][0] < got[True][0] and got[False][1] == got[True][1] - 1


def kb_index_dir():
    from mingbai.settings import get_settings

    return get_settings().index_dir


def test_only_the_top_candidates_move_and_none_is_lost():
    rng = np.random.default_rng(1)
    rows, F, laws, *_ = _question(rng)
    s = F @ np.ones(N_FEATURES)
    params = {"top": 5, "mean": np.zeros(27), "scale": np.ones(27), "coef": -np.eye(27)[20], "intercept": 0.0,
              "extra": False}
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
    rows, F, laws, _, E, _ = _question(rng)
    width = rerank.features(rows, F, F @ np.ones(N_FEATURES), laws, E if p.get("extra") else None).shape[1]
    assert len(p["coef"]) == len(p["mean"]) == len(p["scale"]) == width
    assert rerank.load() is not None
