"""Hybrid retrieval over curated Q&A and statute articles.

Scores are put on one absolute scale so a calibrated threshold can say "no good answer":
  dense  = clip((cos - lo) / (hi - lo))        e5 cosines are squeezed into ~0.83..0.96
  lexical= BM25 / BM25-of-a-perfect-match       ≈ idf-weighted share of the query's words found
  score  = alpha * dense + (1 - alpha) * lexical
           + ans_lex * lexical(answer text) + ans_dense * dense(answer passage)   [Q&A only]
           (+ domain bonus/penalty for Q&A when the bot knows the domain)
A Q&A entry's question side scores the max over its question and paraphrases.
Thresholds and weights: knowledge/calibration.json, written by `mingbai kb eval --calibrate`.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge import index as idx
from knowledge import rerank
from knowledge.index import tokenize
from knowledge.laws import (CIVIL_CODE, REPEALED_ARTICLE_MAP, REPEALED_BY_CIVIL_CODE, Article, law_key)
from knowledge.numerals import CN_NUM, cn2int
from knowledge.qa import Entry

CALIBRATION_PATH = Path(__file__).resolve().parent / "calibration.json"
KNN = 20  # nearest asked questions counted per article (second stage)
DEFAULTS = {
    "lo": 0.84, "hi": 0.95, "alpha": 0.5, "domain_bonus": 0.04, "domain_penalty": 0.04,
    "ans_lex": 0.2, "ans_dense": 0.1, "ans_lo": 0.80, "ans_hi": 0.92,
    "tau_qa": 0.52, "tau_art": 0.55, "len_relief": 0.0, "art_no_vector_weight": 0.85, "law_bonus": 0.15,
    # whole-corpus article ranking (search_articles); calibrated by knowledge/tune.py
    "w_dense": 0.5, "w_lex": 0.5, "w_vote": 0.4, "w_prior": 0.15, "w_shipped": 0.05, "w_domain": 0.1,
    "w_asked_lex": 0.3, "w_asked_dense": 0.3, "cand_asked": 30, "cand_asked_dense": 300,
    "expansion_weight": 0.5, "vote_floor": 0.35, "vote_k": 5, "vote_secondary": 0.8,
    "cand_lex": 200, "cand_dense": 200,
}
# What a law's title says beyond its kind: 旅游法 → 旅游, 快递暂行条例 → 快递, 最高人民法院关于审理旅游纠纷案件
# 适用法律若干问题的规定 → 旅游 纠纷 (the rarer a word among the titles, the more it counts).
_TITLE_BOILER = re.compile(r"中华人民共和国|最高人民法院|最高人民检察院|关于|审理|办理|适用|法律|若干|问题|案件|"
                           r"实施细则|实施条例|实施办法|暂行|条例|规定|解释|办法|决定|[（(][一二三四五六七八九十]+[）)]|"
                           r"《|》|的|法$|法典$")
_ART_REF = re.compile(rf"第\s*([{CN_NUM}0-9]+)\s*条(?:之([{CN_NUM}]+))?")


def calibration() -> dict:
    c = dict(DEFAULTS)
    if CALIBRATION_PATH.exists():
        try:
            c.update(json.loads(CALIBRATION_PATH.read_text(encoding="utf-8")))
        except ValueError:
            pass
    return c


@dataclass
class QAHit:
    entry: Entry
    score: float
    dense: float
    lexical: float


@dataclass
class ArticleHit:
    article: Article
    score: float
    dense: float | None
    lexical: float


@dataclass
class Result:
    query: str
    qa: list[QAHit] = field(default_factory=list)
    articles: list[ArticleHit] = field(default_factory=list)
    laws_named: list[str] = field(default_factory=list)
    repealed: str | None = None
    direct: list[Article] = field(default_factory=list)  # "民法典第1079条" asked by number


class Searcher:
    def __init__(self, loaded: idx.Loaded, calib: dict | None = None):
        self.L = loaded
        self.c = calib or calibration()
        self.law_names = sorted(set(loaded.art_laws) | set(loaded.corpus.law_names.values()), key=len, reverse=True)
        self.law_index = {name: i for i, name in enumerate(loaded.art_laws)}
        self._civil_mask = loaded.art_law == self.law_index.get(CIVIL_CODE, -1)
        self._vec_covered = np.zeros(len(loaded.art_ids), np.bool_)
        if loaded.art_vec_rows is not None:
            self._vec_covered[loaded.art_vec_rows] = True
        self._build_priors()
        n = len(loaded.art_ids)
        ok = loaded.asked_rows[loaded.asked_rows >= 0] if loaded.asked_rows is not None else np.zeros(0, np.int64)
        self._n_asked = np.log1p(np.bincount(ok, minlength=n)[:n]).astype(np.float32)
        self._build_titles()
        interp = np.asarray([x.startswith("最高人民法院") for x in loaded.art_laws], np.float32)
        self._interp = interp[loaded.art_law] if n else np.zeros(0, np.float32)
        self.capture: list | None = None  # calibration: collects (rows, features) per query
        # Fitting the second stage on the asked questions themselves: each one leaves itself out.
        self.exclude_asked: np.ndarray | None = None
        self.adapter = _load_adapter()  # `mingbai model tune`, only when it beat the base model
        self.rerank = rerank.load()  # second stage (knowledge/rerank.py), fitted on the dev splits

    # ------------------------------------------------------------------ law mentions
    def laws_in(self, text: str) -> tuple[list[tuple[int, int, str]], str | None]:
        """Longest non-overlapping law names in the text (so 劳动合同法 is not 合同法)."""
        t = text.replace("中华人民共和国", "").replace("《", "").replace("》", "")
        found: list[tuple[int, int, str]] = []
        taken = [False] * len(t)
        for name in list(self.law_names) + sorted(REPEALED_BY_CIVIL_CODE, key=len, reverse=True):
            if len(name) < 2 or name not in t:
                continue
            start = t.find(name)
            while start != -1:
                end = start + len(name)
                if not any(taken[start:end]):
                    found.append((start, end, name))
                    for i in range(start, end):
                        taken[i] = True
                start = t.find(name, end)
        repealed = next((n for _, _, n in sorted(found) if n in REPEALED_BY_CIVIL_CODE
                         and n not in self.law_index), None)
        return sorted(found), repealed

    def _direct(self, text: str, found, repealed) -> list[Article]:
        t = text.replace("中华人民共和国", "").replace("《", "").replace("》", "")
        out = []
        for start, end, name in found:
            m = _ART_REF.match(t[end:end + 14].lstrip("的 "))
            if not m:
                continue
            try:
                num = cn2int(m.group(1))
                sub = cn2int(m.group(2)) if m.group(2) else 0
            except ValueError:
                continue
            if name in REPEALED_BY_CIVIL_CODE and name not in self.law_index:
                new = REPEALED_ARTICLE_MAP.get((name, num))
                a = self.L.corpus.get(CIVIL_CODE, new) if new else None
            else:
                a = self.L.corpus.get(name, f"第{m.group(1)}条" + (f"之{m.group(2)}" if m.group(2) else ""))
            if a:
                out.append(a)
        return out

    def tau_qa(self, text: str) -> float:
        """Long run-on questions match a short curated question only partly: relax the bar a little."""
        return self.c["tau_qa"] - self.c.get("len_relief", 0.0) * min(len(text), 60) / 60

    # ------------------------------------------------------------------ scoring
    def _dense_norm(self, cos: np.ndarray) -> np.ndarray:
        lo, hi = self.c["lo"], self.c["hi"]
        return np.clip((cos - lo) / (hi - lo), 0.0, 1.0)

    def _fuse(self, d: np.ndarray | None, b: np.ndarray, mode: str) -> np.ndarray:
        if mode == "bm25" or d is None:
            return b
        if mode == "dense":
            return d
        a = self.c["alpha"]
        return a * d + (1 - a) * b

    def search_qa(self, text: str, qv: np.ndarray | None, domain: str | None = None, k: int = 10,
                  mode: str = "hybrid") -> list[QAHit]:
        L = self.L
        n_entries = len(L.entries)
        if n_entries == 0:
            return []
        terms = L.bm_qa.query_terms(text)
        raw, norm = L.bm_qa.scores(terms)
        lex_t = np.minimum(raw / norm, 1.0)
        lex = np.zeros(n_entries, np.float32)
        np.maximum.at(lex, L.qa_owner, lex_t)
        r2, n2 = L.bm_qa_ans.scores(L.bm_qa_ans.query_terms(text))
        lex_ans = np.minimum(r2 / n2, 1.0) if len(r2) == n_entries else np.zeros(n_entries, np.float32)
        dense = dense_ans = None
        if qv is not None and mode != "bm25" and len(L.qa_vecs):
            cos_t = L.qa_vecs @ qv
            cos = np.full(n_entries, -1.0, np.float32)
            np.maximum.at(cos, L.qa_owner, cos_t)
            dense = self._dense_norm(cos)
            if len(L.qa_ans_vecs) == n_entries:
                lo, hi = self.c["ans_lo"], self.c["ans_hi"]
                dense_ans = np.clip((L.qa_ans_vecs @ qv - lo) / (hi - lo), 0.0, 1.0)
        ga, gd = self.c["ans_lex"], self.c["ans_dense"]
        if mode == "rrf" and dense is not None:
            s = _rrf([lex, dense])  # the textbook recipe: BM25 list + dense list
        else:
            if mode == "dense" and dense is not None:
                s = dense + (gd * dense_ans if dense_ans is not None else 0.0)
            elif mode == "bm25" or dense is None:
                s = lex + ga * lex_ans
            else:
                s = self._fuse(dense, lex, mode) + ga * lex_ans + (gd * dense_ans if dense_ans is not None else 0.0)
            if domain:
                doms = np.asarray([e.domain == domain for e in L.entries])
                guide = np.asarray([e.kind == "guide" for e in L.entries])
                s = s + np.where(doms, self.c["domain_bonus"], np.where(guide, 0.0, -self.c["domain_penalty"]))
        top = np.argsort(-s)[:k]
        return [QAHit(L.entries[i], float(s[i]), float(dense[i]) if dense is not None else 0.0, float(lex[i]))
                for i in top]

    def _build_titles(self) -> None:
        """Each law's title words (jieba, idf over the titles), for title_match()."""
        names = self.L.art_laws
        words = [{t for t in tokenize(_TITLE_BOILER.sub(" ", x)) if len(t) >= 2} for x in names]
        df: dict[str, int] = {}
        for ws in words:
            for t in ws:
                df[t] = df.get(t, 0) + 1
        idf = {t: float(np.log((len(names) + 1) / (d + 0.5))) for t, d in df.items()}
        self._title_laws = {t: [] for t in df}
        total = np.zeros(len(names), np.float32)
        for li, ws in enumerate(words):
            for t in ws:
                self._title_laws[t].append(li)
                total[li] += idf[t]
        self._title_idf, self._title_total = idf, np.maximum(total, 1e-6)

    def title_match(self, text: str) -> np.ndarray:
        """Per law: the share (by idf) of its title words that the resident's words contain."""
        got = np.zeros(len(self._title_total), np.float32)
        for t, laws in self._title_laws.items():
            if t in text:
                got[laws] += self._title_idf[t]
        return got / self._title_total

    # ------------------------------------------------------------------ article priors
    def _build_priors(self) -> None:
        """Which laws residents' questions rest on, learned from the curated entries' citations.

        law_prior[law]   log-scaled share of curated citations (+ a floor for shipped laws), 0..1
        domain_law[d]    the same, per domain: 劳动纠纷 → 劳动合同法, 劳动争议调解仲裁法, 工伤保险条例 …
        cite_rows[e]     BM25 rows of entry e's cited articles (curated paraphrases vote for them)
        """
        L = self.L
        n_laws = len(L.art_laws)
        key_ix = {law_key(name): i for i, name in enumerate(L.art_laws)}
        counts = np.zeros(n_laws, np.float32)
        dom_counts: dict[str, np.ndarray] = {}
        row_of = {int(a): r for r, a in enumerate(L.art_ids)}
        self.cite_rows: list[list[int]] = []
        self._entry_pos = {e.id: i for i, e in enumerate(L.entries)}  # per index, not per query
        for e in L.entries:
            rows = []
            for c in e.citations:
                li = key_ix.get(law_key(c["law"]))
                if li is None:
                    continue
                counts[li] += 1
                dom_counts.setdefault(e.domain, np.zeros(n_laws, np.float32))[li] += 1
                a = L.corpus.get(c["law"], c["article"])
                if a is not None and a.id in row_of:
                    rows.append(row_of[a.id])
            self.cite_rows.append(rows)
        norm = np.log1p(counts) / max(float(np.log1p(counts.max())), 1e-6) if n_laws else counts
        self.law_prior = norm.astype(np.float32)
        # The domain a law's questions usually belong to (next steps for an article answer).
        self.law_domain: dict[str, str] = {}
        for d, v in dom_counts.items():
            for li in np.nonzero(v)[0]:
                name = L.art_laws[int(li)]
                best = self.law_domain.get(name)
                if best is None or dom_counts[best][li] < v[li]:
                    self.law_domain[name] = d
        self.domain_law = {d: (np.log1p(v) / max(float(np.log1p(v.max())), 1e-6)).astype(np.float32)
                           for d, v in dom_counts.items()}

    def _votes(self, qa_hits: list[QAHit], exclude: str | None = None) -> dict[int, float]:
        """Curated paraphrases as extra queries: a close entry votes for the articles it cites."""
        c = self.c
        floor = c["vote_floor"]
        out: dict[int, float] = {}
        for h in qa_hits[: int(c["vote_k"])]:
            if h.entry.id == exclude or h.score < floor:
                continue
            strength = min((h.score - floor) / max(c["tau_qa"] - floor, 1e-6), 1.0)
            for j, r in enumerate(self.cite_rows[self._entry_pos[h.entry.id]]):
                v = strength * (1.0 if j == 0 else c["vote_secondary"])
                if v > out.get(r, 0.0):
                    out[r] = v
        return out

    def _domain_weights(self, qa_hits: list[QAHit], domain: str | None) -> dict[str, float]:
        """The domain(s) the question is about: the bot's label, else the best entries' domains."""
        if domain:
            return {domain: 1.0}
        w: dict[str, float] = {}
        for h in qa_hits[:5]:
            if h.entry.kind == "guide":
                continue
            w[h.entry.domain] = w.get(h.entry.domain, 0.0) + max(h.score, 0.0)
        tot = sum(w.values())
        return {d: v / tot for d, v in w.items()} if tot > 0 else {}

    FEATURES = ("dense", "lex", "vote", "prior", "shipped", "domain", "law_named", "asked_lex", "asked_dense")

    def _weights(self) -> np.ndarray:
        c = self.c
        return np.asarray([c["w_dense"], c["w_lex"], c["w_vote"], c["w_prior"], c["w_shipped"], c["w_domain"],
                           c["law_bonus"], c["w_asked_lex"], c["w_asked_dense"]], np.float32)

    def _asked(self, text: str, qv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """Per article row: how closely the resident's words match what residents ask of it (lexical
        and by meaning, the best of its questions)."""
        L = self.L
        if L.bm_asked is None or L.asked_rows is None:
            return None
        n = len(L.art_ids)
        ok = L.asked_rows >= 0
        rows = L.asked_rows[ok]
        lex = np.zeros(n, np.float32)
        raw, norm = L.bm_asked.scores(L.bm_asked.query_terms(text))
        ex = self.exclude_asked
        if ex is not None and len(raw) == len(ok):
            raw = raw.copy()
            raw[ex] = 0.0
        knn_lex = np.zeros(n, np.float32)
        if len(raw) == len(ok):
            np.maximum.at(lex, rows, np.minimum(raw / norm, 1.0)[ok].astype(np.float32))
            near = np.argpartition(-raw, min(KNN, len(raw) - 1))[:KNN]
            near = near[(raw[near] > 0) & (L.asked_rows[near] >= 0)]
            np.add.at(knn_lex, L.asked_rows[near], 1.0)
        dense = np.zeros(n, np.float32)
        knn_dense = np.zeros(n, np.float32)
        if qv is not None and L.asked_vecs is not None and L.asked_vecs.ntotal:
            # The closest questions only: the rest score 0 on the clipped dense scale anyway.
            k = min(int(self.c["cand_asked_dense"]), L.asked_vecs.ntotal)
            D, I = L.asked_vecs.search(qv.reshape(1, -1).astype(np.float32), k)
            found = I[0] >= 0
            if ex is not None:
                found &= ~np.isin(I[0], ex)
            q_rows, cos = L.asked_rows[I[0][found]], D[0][found]
            keep = q_rows >= 0  # a question whose article left the corpus in force
            np.maximum.at(dense, q_rows[keep], self._dense_norm(cos[keep]).astype(np.float32))
            np.add.at(knn_dense, q_rows[keep][:KNN], 1.0)  # faiss returns them closest first
        return lex, dense, knn_lex, knn_dense

    def _features(self, rows: np.ndarray, b: np.ndarray, dense_by_row: dict[int, float], votes: dict[int, float],
                  qa_hits: list[QAHit], domain: str | None, law_ix: set[int],
                  asked: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """One row per candidate article, columns as FEATURES; the score is a weighted sum."""
        L, c = self.L, self.c
        d = np.asarray([dense_by_row.get(int(r), np.nan) for r in rows], np.float32)
        if L.faiss_art is not None and L.faiss_art.ntotal:
            # An article with a vector that missed the dense top-k lies below the k-th cosine.
            floor = float(min(dense_by_row.values())) if dense_by_row else 0.0
            d = np.where(np.isnan(d) & self._vec_covered[rows], floor, d)
        # No vector yet (background build): stand in with the lexical evidence.
        d = np.where(np.isnan(d), c["art_no_vector_weight"] * b, d).astype(np.float32)
        laws_of = L.art_law[rows]
        dp = np.zeros(len(rows), np.float32)
        for dom, wt in self._domain_weights(qa_hits, domain).items():
            vec = self.domain_law.get(dom)
            if vec is not None:
                dp += wt * vec[laws_of]
        named = np.isin(laws_of, list(law_ix)).astype(np.float32) if law_ix else np.zeros(len(rows), np.float32)
        a_lex, a_dense = (asked[0][rows], asked[1][rows]) if asked is not None else (np.zeros(len(rows), np.float32),) * 2
        return np.stack([d, b, np.asarray([votes.get(int(r), 0.0) for r in rows], np.float32),
                         self.law_prior[laws_of], L.art_shipped[rows].astype(np.float32), dp, named,
                         a_lex, a_dense], axis=1)

    def _extra(self, rows: np.ndarray, asked, title: np.ndarray) -> np.ndarray:
        """Second-stage-only columns (knowledge/rerank.py): how many of the resident's nearest asked
        questions (by words, by meaning) belong to the article, how many it has, interpretation or
        not, how much of its law's title the resident's words contain."""
        z = np.zeros(len(rows), np.float32)
        kl, kd = (asked[2][rows], asked[3][rows]) if asked is not None else (z, z)
        return np.stack([kl, kd, self._n_asked[rows], self._interp[rows], title[self.L.art_law[rows]]],
                        axis=1).astype(np.float64)

    def search_articles(self, text: str, qv: np.ndarray | None, k: int = 5, mode: str = "hybrid",
                        laws: list[str] | None = None, civil_only: bool = False,
                        qa_hits: list[QAHit] | None = None, domain: str | None = None,
                        exclude_entry: str | None = None) -> list[ArticleHit]:
        """Whole-corpus article ranking.

        score = w_dense·dense + w_lex·lexical(typed + expanded words) + w_vote·curated vote
                + w_prior·law prior + w_domain·domain prior (+ law_bonus when the law is named)
                + w_asked_lex / w_asked_dense·match with what residents ask of the article
        Articles without a vector yet (background build) get art_no_vector_weight·lexical for the
        dense share. Modes bm25 / dense keep one signal only (benchmarks).
        """
        from knowledge.expand import legal_words

        L, c = self.L, self.c
        n = len(L.art_ids)
        if n == 0:
            return []
        terms = L.bm_art.query_terms(text)
        extra: dict[str, float] = {}
        if mode in ("hybrid", "bm25x"):
            for w in legal_words(text):
                for t in tokenize(w):
                    extra.setdefault(t, c["expansion_weight"])
        raw, norm = L.bm_art.scores(terms, extra)
        lex = np.minimum(raw / norm, 1.0)
        n_lex = int(c["cand_lex"])
        cand = set(np.argpartition(-raw, min(n_lex, n - 1))[:n_lex].tolist()) if mode != "dense" else set()
        dense_by_row: dict[int, float] = {}
        if qv is not None and mode in ("hybrid", "dense", "rrf") and L.faiss_art is not None and L.faiss_art.ntotal:
            kk = min(int(c["cand_dense"]), L.faiss_art.ntotal)
            qa = qv.reshape(-1).astype(np.float32)
            if self.adapter is not None:
                qa = self.adapter @ qa
                qa = qa / (np.linalg.norm(qa) or 1.0)
            D, I = L.faiss_art.search(qa.reshape(1, -1), kk)
            dn = self._dense_norm(D[0])
            for j, v in zip(I[0], dn):
                if j >= 0:
                    row = int(L.art_vec_rows[j])
                    dense_by_row[row] = float(v)
                    cand.add(row)
        votes = self._votes(qa_hits or [], exclude_entry) if mode == "hybrid" else {}
        cand |= set(votes)
        asked = self._asked(text, qv) if mode == "hybrid" else None
        if asked is not None:
            m = int(c["cand_asked"])
            for v in asked[:2]:
                top = np.argpartition(-v, min(m, n - 1))[:m]
                cand |= set(top[v[top] > 0].tolist())
        if civil_only:
            cand |= set(np.nonzero(self._civil_mask)[0][np.argsort(-lex[self._civil_mask])[:50]].tolist())
            cand = {r for r in cand if self._civil_mask[r]}
        law_ix = {self.law_index[x] for x in (laws or []) if x in self.law_index}
        if law_ix:  # the resident named the law: look inside it too
            mask = np.isin(L.art_law, list(law_ix))
            rows = np.nonzero(mask)[0]
            cand |= set(rows[np.argsort(-lex[rows])[:50]].tolist())
        if not cand:
            return []
        rows = np.fromiter(cand, np.int64, len(cand))
        b = lex[rows].astype(np.float32)
        if mode == "bm25" or mode == "bm25x":
            s = b.copy()
        elif mode == "dense":
            s = np.asarray([dense_by_row.get(int(r), 0.0) for r in rows], np.float32)
        else:
            F = self._features(rows, b, dense_by_row, votes, qa_hits or [], domain, law_ix, asked)
            # The second-stage columns only when something reads them (they cost a pass over the titles).
            E = (self._extra(rows, asked, self.title_match(text))
                 if self.capture is not None or (mode == "hybrid" and self.rerank and self.rerank["extra"]) else None)
            if self.capture is not None:
                self.capture.append((rows, F, E))
            s = F @ self._weights()
        if mode == "hybrid" and self.rerank is not None:
            order = rerank.order(rows, F.astype(np.float64), s.astype(np.float64), L.art_law[rows], self.rerank,
                                 E)[:k]
        else:
            order = np.argsort(-s)[:k]
        top = [(float(s[i]), int(rows[i])) for i in order]
        arts = L.corpus.by_ids([int(L.art_ids[r]) for _, r in top])
        return [ArticleHit(a, sc, dense_by_row.get(r), float(lex[r])) for a, (sc, r) in zip(arts, top)]

    def search(self, text: str, domain: str | None = None, k: int = 5, mode: str = "hybrid",
               qv: np.ndarray | None = None, exclude_entry: str | None = None) -> Result:
        if mode in ("hybrid", "bm25x"):
            from knowledge.expand import standardize

            text = standardize(text)
        found, repealed = self.laws_in(text)
        res = Result(query=text, laws_named=[n for _, _, n in found], repealed=repealed)
        res.direct = self._direct(text, found, repealed)
        if qv is None and mode not in ("bm25", "bm25x"):
            from knowledge.embed import encode_query

            qv = encode_query(text)
        qa_mode = "bm25" if mode in ("bm25", "bm25x") else mode
        res.qa = self.search_qa(text, qv, domain=domain, k=max(k, 10), mode=qa_mode)
        if exclude_entry:
            res.qa = [h for h in res.qa if h.entry.id != exclude_entry]
        named = [n for n in res.laws_named if n in self.law_index]
        res.articles = self.search_articles(text, qv, k=k, mode=mode, laws=named,
                                            civil_only=bool(repealed) and not named, qa_hits=res.qa,
                                            domain=domain, exclude_entry=exclude_entry)
        return res


def _load_adapter() -> np.ndarray | None:
    try:
        from knowledge.adapter import adapter_path

        path = adapter_path()
        return np.load(path).astype(np.float32) if path.exists() else None
    except Exception:
        return None


def _rrf(lists: list[np.ndarray], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion; tied scores share a rank (BM25 gives many zeros)."""
    from scipy.stats import rankdata

    out = np.zeros(len(lists[0]), dtype=np.float64)
    for s in lists:
        out += 1.0 / (k + rankdata(-np.asarray(s, np.float64), method="min"))
    return out.astype(np.float32)


# ------------------------------------------------------------------------ process cache
_lock = threading.Lock()
_cache: dict[str, tuple[float, Searcher]] = {}


def get_searcher(index_dir: Path | None = None, *, auto_build: bool = True) -> Searcher:
    """Loaded once per index folder (thread-safe); reloaded when a rebuild changes meta.json."""
    if index_dir is None:
        from knowledge.reindex import current_index_dir  # follows a console re-index switch

        index_dir = current_index_dir()
    index_dir = Path(index_dir)
    key = str(index_dir.resolve())
    meta = index_dir / "meta.json"
    stamp = meta.stat().st_mtime if meta.exists() else 0.0
    hit = _cache.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    with _lock:
        hit = _cache.get(key)
        stamp = meta.stat().st_mtime if meta.exists() else 0.0
        if hit and hit[0] == stamp:
            return hit[1]
        if not idx.is_built(index_dir):
            if not auto_build:
                raise FileNotFoundError(f"知识库索引不存在: {index_dir}，请先运行 `mingbai kb build`")
            # First use on a fresh data dir: the quick build (no article vectors).
            idx.build(index_dir, article_vectors=False, workers=1, progress=False)
            stamp = meta.stat().st_mtime if meta.exists() else 0.0
        s = Searcher(idx.load(index_dir))
        _cache[key] = (stamp, s)
        return s


def reset_cache() -> None:
    with _lock:
        _cache.clear()
