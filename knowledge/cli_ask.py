"""`mingbai ask "问题"` prints the answer; `--input IN.jsonl --output OUT.jsonl` answers a file.

Output lines: {"id", "answer", "citations": [{"law","article","text"}], "entry_id", "score",
"confident", "domain"}.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mingbai.jsonl import iter_jsonl


def _answer_file(inp: Path, out: Path, domain: str | None) -> int:
    from knowledge.answer import ask

    n = bad = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fout:
        for _lineno, item, error in iter_jsonl(inp):
            if error:
                bad += 1  # keep one output line per input line
                print(error, file=sys.stderr)
                item = {"id": None, "text": None}
            r = ask(item.get("text"), item.get("domain") or domain)
            fout.write(json.dumps({"id": item.get("id"), **r}, ensure_ascii=False) + "\n")
            n += 1
    print(f"已回答 {n} 条，写入 {out}" + (f"（其中 {bad} 行格式不对）" if bad else ""), file=sys.stderr)
    return 0


def _notice_first_build() -> None:
    from knowledge import index
    from mingbai.settings import get_settings

    if not index.is_built(get_settings().index_dir):
        print("首次使用，正在建立知识库索引（约一分钟；完整版请运行 mingbai kb build）…", file=sys.stderr)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="mingbai ask", description="法律问答")
    p.add_argument("text", nargs="*", help="问题")
    p.add_argument("--input", type=Path, help="输入 JSONL：每行 {\"id\", \"text\"}")
    p.add_argument("--output", type=Path, help="输出 JSONL")
    p.add_argument("--domain", default=None, help="已知的纠纷领域（可选）")
    p.add_argument("--json", action="store_true", help="输出完整 JSON")
    args = p.parse_args(argv)
    if args.input or args.output:
        if not (args.input and args.output):
            print("--input 和 --output 需要一起使用", file=sys.stderr)
            return 2
        if not args.input.exists():
            print(f"输入文件不存在: {args.input}", file=sys.stderr)
            return 2
        _notice_first_build()
        return _answer_file(args.input, args.output, args.domain)
    from knowledge.answer import ask

    _notice_first_build()
    r = ask(" ".join(args.text), args.domain)
    if args.json:
        print(json.dumps(r, ensure_ascii=False, indent=1))
    else:
        print(r["answer"])
    return 0
