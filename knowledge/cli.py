"""`mingbai kb ingest-laws DIR | build | eval | stats` — all under MINGBAI_HOME/index."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mingbai.settings import get_settings


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_ingest(args) -> int:
    from knowledge import index

    root = Path(args.dir)
    if not root.is_dir():
        print(f"目录不存在: {root}", file=sys.stderr)
        return 2
    s = get_settings()
    s.ensure_dirs()
    if not index.is_built(s.index_dir):
        _log("首次使用：先建立内置法条和问答索引…")
        index.build(s.index_dir, article_vectors=args.with_vectors, workers=args.workers,
                    progress=not args.quiet, log=_log)
    # Meaning vectors for ~58k articles take tens of minutes on two cores: by default they are
    # built by a detached background process while BM25 answers at once (--wait: build here).
    vectors_now = not args.no_vectors and args.wait
    background = not args.no_vectors and not args.wait
    info = index.ingest_laws(s.index_dir, root, progress=not args.quiet, vectors=vectors_now,
                             workers=args.workers, log=_log)
    from knowledge.search import reset_cache

    reset_cache()
    if background:
        info["dense_articles"] = {"background_pid": _spawn_vectors(s, args.workers)}
        _log("条文向量在后台计算（关键词检索已可用）；进度: mingbai kb status")
    print(json.dumps(info, ensure_ascii=False))
    return 0


def _spawn_vectors(s, workers: int) -> int:
    """Detached `kb vectors`: meaning search grows over the corpus while answers keep coming."""
    import os
    import subprocess

    log_path = s.home / "logs" / "kb-vectors.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        # niced: residents' answers come first on a small machine
        proc = subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "mingbai.cli", "kb", "vectors",
                                 "--workers", str(workers), "--quiet"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=dict(os.environ))
    return proc.pid


def cmd_vectors(args) -> int:
    """Meaning vectors for every article in force. One build at a time (a lock beside the index):
    a second caller waits for it and then finds everything cached, or with --if-idle leaves at once.
    Nothing is rewritten when every article already has a vector, so serving processes do not reload."""
    import fcntl

    from knowledge import index

    s = get_settings()
    if not index.is_built(s.index_dir):
        print("知识库索引不存在，请先运行 mingbai kb build", file=sys.stderr)
        return 2
    if args.background:
        pid = _spawn_vectors(s, args.workers)
        _log(f"条文向量在后台计算（pid {pid}，关键词检索已可用）；进度: mingbai kb status")
        print(json.dumps({"background_pid": pid}))
        return 0
    lock = open(s.index_dir / ".vectors.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if args.if_idle:
            _log("条文向量已在另一个进程里计算，本次跳过")
            return 0
        _log("等待正在进行的条文向量计算完成…")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        cov = index.vector_coverage(s.index_dir)
        if not cov["missing"]:
            print(json.dumps({"articles_dense": cov["with_vectors"], "newly_encoded": 0, "complete": True}))
            return 0
        info = {}
        if cov["asked_with_vectors"] < cov["asked_questions"]:  # short texts, a large share of the ranking: first
            info["asked"] = index.build_dense_asked(s.index_dir, workers=args.workers, progress=not args.quiet)
            index.write_meta(s.index_dir, asked_vectors=info["asked"]["asked_vectors"])
            _log(f"条文问法向量: {info['asked']}")
        if cov["with_vectors"] < cov["articles_in_force"]:
            info.update(index.build_dense_articles(s.index_dir, workers=args.workers, progress=not args.quiet,
                                                   limit_shipped=False, save_every=4096, log=_log))
            index.write_meta(s.index_dir, dense_scope="all", dense_progress={"done": info["articles_dense"],
                                                                             "total": info["articles_dense"]})
        print(json.dumps(info, ensure_ascii=False))
        return 0
    finally:
        lock.close()


def cmd_status(args) -> int:
    from knowledge import index

    s = get_settings()
    if not index.is_built(s.index_dir):
        print(json.dumps({"built": False, "hint": "mingbai kb build"}, ensure_ascii=False))
        return 1
    cov = index.vector_coverage(s.index_dir)
    meta_path = s.index_dir / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    entries = len(json.loads((s.index_dir / "qa.json").read_text(encoding="utf-8")))
    out = {"built": True, **cov, "qa_entries": entries, "dense_scope": meta.get("dense_scope", "shipped"),
           "updated": meta.get("updated")}
    print(json.dumps(out, ensure_ascii=False))
    print(f"条文 {cov['articles_in_force']} 条（内置 {cov['shipped']}），已有语义向量 {cov['with_vectors']} 条"
          f"（{cov['coverage']:.0%}）；条文问法 {cov['asked_questions']} 条，已有向量 {cov['asked_with_vectors']} 条；"
          f"问答 {entries} 条", file=sys.stderr)
    return 0


def cmd_build(args) -> int:
    from knowledge import index
    from knowledge.qa import QAError

    s = get_settings()
    s.ensure_dirs()
    try:
        kw = {}
        if args.qa_dir:
            kw["qa_dir"] = Path(args.qa_dir)
        if args.statutes_dir:
            kw["statutes_dir"] = Path(args.statutes_dir)
        vectors = False if args.no_vectors else ("later" if args.vectors_later else True)
        info = index.build(s.index_dir, article_vectors=vectors, workers=args.workers,
                           progress=not args.quiet, log=_log, **kw)
    except QAError as e:
        print(f"问答文件有误: {e}", file=sys.stderr)
        return 2
    from knowledge.search import reset_cache

    reset_cache()
    print(json.dumps(info, ensure_ascii=False))
    return 0


def cmd_eval(args) -> int:
    from knowledge.evaluate import run_eval

    files = [Path(f) for f in args.files] if args.files else None
    report = run_eval(files, mode=args.mode, calibrate=args.calibrate, cv=args.cv)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    m = report["metrics"]
    print(f"问题数 {m['n']}（可回答 {m['n_answerable']}，不可回答 {m['n_unanswerable']}）")
    print(f"hit@1 {m['hit@1']:.3f}  hit@5 {m['hit@5']:.3f}  MRR {m['mrr']:.3f}  citation hit@3 {m['citation_hit@3']:.3f}")
    print(f"无把握检测: precision {m['no_answer_precision']:.3f}  recall {m['no_answer_recall']:.3f}")
    if "cross_validated" in report:
        c = report["cross_validated"]["metrics"]
        print(f"交叉验证（阈值在另一半上选）: hit@1 {c['hit@1']:.3f}  citation hit@3 {c['citation_hit@3']:.3f}  "
              f"无把握 P {c['no_answer_precision']:.3f} R {c['no_answer_recall']:.3f}")
    print(f"结果写入 {out}")
    return 0


def cmd_stats(args) -> int:
    from knowledge.search import get_searcher

    s = get_searcher()
    L = s.L
    print(json.dumps({
        "articles_in_force": int(len(L.art_ids)), "articles_with_vectors": L.art_vec_count,
        "laws": len(L.art_laws), "qa_entries": len(L.entries), "qa_texts": int(len(L.qa_owner)),
    }, ensure_ascii=False))
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai kb", description="知识库：法条入库、建索引、评测")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ingest-laws", help="把一个法规目录（LawRefBook 格式）加入知识库")
    a.add_argument("dir")
    a.add_argument("--workers", type=int, default=2)
    a.add_argument("--with-vectors", action="store_true", help="首次建库时也给内置条文算向量（较慢）")
    a.add_argument("--no-vectors", action="store_true", help="只建关键词索引，不算条文向量")
    a.add_argument("--wait", action="store_true", help="在前台算完条文向量再返回（默认在后台算，先用关键词检索）")
    a.add_argument("--quiet", action="store_true")
    b = sub.add_parser("build", help="用内置法条和问答建立索引（可重复运行）")
    b.add_argument("--no-vectors", action="store_true", help="条文只建关键词索引（快，测试用）")
    b.add_argument("--vectors-later", action="store_true",
                   help="条文向量留给 kb vectors（安装时用：关键词检索立即可用，已有的向量保留）")
    b.add_argument("--workers", type=int, default=2, help="算向量的进程数")
    b.add_argument("--quiet", action="store_true")
    b.add_argument("--qa-dir", help="问答 YAML 目录（默认 knowledge/qa）")
    b.add_argument("--statutes-dir", help="内置法条目录（默认 knowledge/statutes）")
    e = sub.add_parser("eval", help="在 eval/knowledge/*.jsonl 上评测")
    e.add_argument("files", nargs="*")
    e.add_argument("--mode", default="hybrid", choices=["hybrid", "bm25", "dense", "rrf"])
    e.add_argument("--calibrate", action="store_true", help="在开发集上选阈值并写入 knowledge/calibration.json")
    e.add_argument("--cv", action="store_true", help="另做两折交叉验证（阈值不在测试的那一半上选）")
    e.add_argument("--output", default=str(Path(__file__).resolve().parent.parent / "eval" / "results" / "knowledge.json"))
    sub.add_parser("stats", help="索引概况")
    sub.add_parser("status", help="索引覆盖情况（多少条文有语义向量）")
    v = sub.add_parser("vectors", help="给全部现行条文算语义向量（可中断，下次接着算）")
    v.add_argument("--workers", type=int, default=2)
    v.add_argument("--quiet", action="store_true")
    v.add_argument("--if-idle", action="store_true", help="已有进程在算时直接退出（不等待）")
    v.add_argument("--background", action="store_true", help="在后台（脱离终端）计算，立即返回")
    args = p.parse_args(argv)
    t = time.time()
    rc = {"ingest-laws": cmd_ingest, "build": cmd_build, "eval": cmd_eval, "stats": cmd_stats, "status": cmd_status,
          "vectors": cmd_vectors}[args.cmd](args)
    _log(f"用时 {time.time() - t:.1f} 秒")
    return rc
