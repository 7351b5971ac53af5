#!/usr/bin/env bash
# Run the whole suite. pytest exits 5 when it collected no test: that is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv-app/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "没有收集到任何测试 (no tests collected) — failing" >&2
  exit 1
fi
exit "$rc"
