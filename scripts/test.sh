#!/usr/bin/env bash
# Run the whole suite. pytest exits 5 when it collected no test: that is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# The import contracts first (.importlinter, docs/ARCHITECTURE.md): a lower part importing a
# higher one (tickets → connectors, knowledge → bot, mingbai.db → an area …) fails the run.
if ! .venv-app/bin/lint-imports; then
  echo "导入约定被破坏 (import contract broken): 上面列出了违反 .importlinter 的导入。" >&2
  echo "下层（mingbai 核心 ← tickets ← knowledge ← bot ← connectors/consoles）不能导入上层；" >&2
  echo "见 docs/ARCHITECTURE.md「导入约定」。" >&2
  exit 1
fi
# Setup leaves the articles' meaning vectors to a background build: the suite reads the whole index,
# so it waits for that build (or finishes it) first; a no-op once every article has its vector.
if .venv-app/bin/mingbai kb status >/dev/null 2>&1; then
  .venv-app/bin/mingbai kb vectors --quiet >/dev/null || { echo "条文向量计算失败 (kb vectors)" >&2; exit 1; }
fi
.venv-app/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "没有收集到任何测试 (no tests collected) — failing" >&2
  exit 1
fi
exit "$rc"
