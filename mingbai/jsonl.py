"""The JSONL batch files the CLIs read (`mingbai ask|classify|converse --input`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Optional


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Optional[dict], Optional[str]]]:
    """Yield (line number, object, None) per non-blank line, or (line number, None, Chinese error)
    when the line is not a JSON object; each caller decides whether to skip or stop."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield lineno, None, f"第 {lineno} 行不是合法 JSON: {e}"
                continue
            if not isinstance(row, dict):
                yield lineno, None, f"第 {lineno} 行应是 JSON 对象"
                continue
            yield lineno, row, None
