"""`mingbai rasa train|validate|test`: run Rasa (its own Python 3.10 venv) on this project.

The process runner (mingbai/run.py) calls `rasa_bin()`, `train()` and `server_cmd()`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mingbai import crypto_fields
from mingbai.settings import PROJECT_ROOT, SettingsError, get_settings

MODEL_NAME = "mingbai"
CONFIG = PROJECT_ROOT / "config.yml"
DOMAIN = PROJECT_ROOT / "bot" / "domain.yml"
DATA = PROJECT_ROOT / "training_data"
CREDENTIALS = PROJECT_ROOT / "bot" / "credentials.yml"
ENDPOINTS = PROJECT_ROOT / "bot" / "endpoints.yml"
TEST_STORIES = PROJECT_ROOT / "eval" / "bot" / "test_stories.yml"
RESULTS = PROJECT_ROOT / "eval" / "results" / "rasa"
# Everything that changes the trained model: data, config, domain, dictionary, NLU components.
FINGERPRINT_INPUTS = [CONFIG, DOMAIN, DATA, PROJECT_ROOT / "bot" / "dictionary",
                      PROJECT_ROOT / "bot" / "rasa_components", PROJECT_ROOT / "bot" / "emergency.py"]


def rasa_bin() -> Path:
    venv = Path(os.environ.get("MINGBAI_RASA_VENV") or PROJECT_ROOT / ".venv-rasa")
    binary = venv / "bin" / "rasa"
    if not binary.exists():
        raise SettingsError(
            f"找不到 Rasa 运行环境: {binary}\n请先运行 `make setup`（会创建 .venv-rasa 并安装 rasa==3.6.21）。"
        )
    return binary


def rasa_env() -> dict[str, str]:
    """Environment for Rasa subprocesses: project importable, quiet, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("MPLCONFIGDIR", str(Path(get_settings().home) / ".matplotlib"))
    # Rasa's runtime has no pydantic-settings: hand it the data key's file (the encrypted tracker
    # store and the action server must read the app's key), unless the key itself is in the env.
    if not env.get(crypto_fields.KEY_ENV, "").strip():
        env[crypto_fields.KEY_FILE_ENV] = str(crypto_fields.key_file())
    return env


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        elif p.exists():
            out.append(p)
    return out


def fingerprint(extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for f in _files(FINGERPRINT_INPUTS):
        h.update(str(f.relative_to(PROJECT_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def model_path() -> Path:
    return get_settings().rasa_model_dir / f"{MODEL_NAME}.tar.gz"


def _stamp_path(out_dir: Path) -> Path:
    return out_dir / f"{MODEL_NAME}.fingerprint"


def is_current(out_dir: Path | None = None) -> bool:
    out_dir = out_dir or get_settings().rasa_model_dir
    model, stamp = out_dir / f"{MODEL_NAME}.tar.gz", _stamp_path(out_dir)
    return model.exists() and stamp.exists() and stamp.read_text().strip() == fingerprint()


def train(force: bool = False, out_dir: Path | None = None, quiet: bool = False, warm: bool = True) -> Path:
    """Train the model into settings.rasa_model_dir (skipped when the inputs are unchanged).
    warm=False: leave the emergency bank and the classifier to `python -m bot.road_model`, which
    setup runs beside this and which makes them first (each training text encoded once)."""
    out_dir = Path(out_dir or get_settings().rasa_model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = out_dir / f"{MODEL_NAME}.tar.gz"
    fp = fingerprint()
    if not force and is_current(out_dir):
        if not quiet:
            print(f"Rasa 模型已是最新，跳过训练: {model}")
        if warm:
            _warm_emergency_bank()
        return model
    cmd = [str(rasa_bin()), "train", "--config", str(CONFIG), "--domain", str(DOMAIN), "--data", str(DATA),
           "--out", str(out_dir), "--fixed-model-name", MODEL_NAME]
    if force:
        cmd.append("--force")
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(),
                          stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
                          text=True)
    if proc.returncode != 0 or not model.exists():
        tail = (proc.stdout or "")[-3000:] if quiet else ""
        raise RuntimeError(f"rasa train 失败 (exit {proc.returncode})\n{tail}")
    _stamp_path(out_dir).write_text(fp)
    if warm:
        _warm_emergency_bank()
    if not quiet:
        print(f"训练完成 {time.monotonic() - started:.0f} 秒: {model}")
    return model


def _warm_emergency_bank() -> None:
    """Embed the emergency backstop's examples and train the issue classifier once (cached under MINGBAI_HOME/cache) so that
    servers load them in milliseconds instead of embedding ~1,000 sentences on first use."""
    try:
        from bot import emergency_semantic

        emergency_semantic.ready(wait=True)
    except Exception as e:  # triage still has its rules
        print(f"警告: 紧急情况语义库没有生成 ({e})", file=sys.stderr)
    try:  # the issue classifier the actions use (cached under MINGBAI_HOME/bot)
        from bot.classifier import get_model

        get_model()
    except Exception as e:
        print(f"警告: 纠纷分类模型没有生成 ({e})", file=sys.stderr)


def scale_endpoints() -> str:
    """The scale path, only when configured: SQL tracker store on PostgreSQL (DATABASE_URL; the
    events encrypted at rest: bot.tracker_store.EncryptedSQLTrackerStore, Rasa's own store class),
    RedisLockStore for several Rasa replicas (REDIS_URL), and a pika event broker (AMQP_URL,
    queue settings.amqp_queue). The scale profile (`mingbai run --profile scale`) runs two
    replicas on this file: one tracker store, one lock per conversation across both.
    With none set, Rasa keeps its in-memory defaults (a laptop's first run)."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    import yaml

    s = get_settings()
    extra: dict = {}
    if s.database_url and s.database_url.startswith("postgres"):
        u = urlsplit(s.database_url)
        extra["tracker_store"] = {"type": "bot.tracker_store.EncryptedSQLTrackerStore", "dialect": "postgresql",
                                  "url": u.hostname or "127.0.0.1", "port": u.port or 5432,
                                  "db": u.path.lstrip("/") or "postgres", "username": unquote(u.username or ""),
                                  "password": unquote(u.password or "")}
        if u.query:  # e.g. ?options=-csearch_path%3Dmy_schema: Rasa's `events` beside the app's tables
            extra["tracker_store"]["query"] = dict(parse_qsl(u.query))
    if s.redis_url:
        u = urlsplit(s.redis_url)
        extra["lock_store"] = {"type": "redis", "url": u.hostname or "127.0.0.1", "port": u.port or 6379,
                               "db": int((u.path.lstrip("/") or "0")), "password": unquote(u.password or "") or None,
                               "key_prefix": "mingbai"}
    if s.amqp_url:
        u = urlsplit(s.amqp_url)
        extra["event_broker"] = {"type": "pika", "url": u.hostname or "127.0.0.1", "port": u.port or 5672,
                                 "username": unquote(u.username or "guest"), "password": unquote(u.password or "guest"),
                                 "queues": [s.amqp_queue]}
    return ("\n" + yaml.safe_dump(extra, allow_unicode=True, sort_keys=False)) if extra else ""


def endpoints_file(action_port: int) -> Path:
    """bot/endpoints.yml with the configured action server port, written under MINGBAI_HOME."""
    text = ENDPOINTS.read_text(encoding="utf-8").replace(
        "http://127.0.0.1:5055/webhook", f"http://127.0.0.1:{int(action_port)}/webhook")
    text += scale_endpoints()
    target = Path(get_settings().home) / "rasa" / f"endpoints-{int(action_port)}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def rasa_token() -> str:
    """The Rasa HTTP API's auth token (MINGBAI_RASA_TOKEN, else generated into MINGBAI_HOME)."""
    return get_settings().secret("rasa_token")


def server_cmd(port: int | None = None, action_port: int | None = None, model: Path | None = None) -> list[str]:
    """Command line for the Rasa server (REST channel + HTTP API). Run it with cwd=PROJECT_ROOT, env=rasa_env().

    Loopback only, no CORS (only the web app and the action server talk to Rasa, never a
    browser), and the HTTP API (/conversations/…, /model/…, /status) needs ?token=rasa_token()."""
    s = get_settings()
    port = int(port or s.rasa_port)
    action_port = int(action_port or s.action_port)
    return [str(rasa_bin()), "run", "--enable-api", f"--auth-token={rasa_token()}", "-p", str(port),
            "-i", "127.0.0.1",
            "-m", str(model or model_path()), "--endpoints", str(endpoints_file(action_port)),
            "--credentials", str(CREDENTIALS)]


def status_url(port: int | None = None) -> str:
    """Health URL for the Rasa server: /status needs the auth token since the API is protected."""
    from urllib.parse import quote

    return f"http://127.0.0.1:{int(port or get_settings().rasa_port)}/status?token={quote(rasa_token(), safe='')}"


def validate(quiet: bool = False) -> int:
    """`rasa data validate --fail-on-warnings`: the project must validate clean."""
    cmd = [str(rasa_bin()), "data", "validate", "--fail-on-warnings", "--config", str(CONFIG), "--domain",
           str(DOMAIN), "--data", str(DATA)]
    kw = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(), **kw).returncode


def test(folds: int = 3, nlu_only: bool = False) -> int:
    """NLU cross-validation + story tests; reports under eval/results/rasa/."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    rc = 0
    nlu_out = RESULTS / "nlu"
    cmd = [str(rasa_bin()), "test", "nlu", "--config", str(CONFIG), "--domain", str(DOMAIN),
           "--nlu", str(DATA / "nlu.yml"), "--cross-validation", "--folds", str(folds), "--out", str(nlu_out)]
    print("$", " ".join(cmd))
    rc |= subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env()).returncode
    if not nlu_only:
        model = train()
        core_out = RESULTS / "core"
        cmd = [str(rasa_bin()), "test", "core", "--model", str(model), "--stories", str(TEST_STORIES),
               "--out", str(core_out), "--endpoints", str(endpoints_file(get_settings().action_port))]
        print("$", " ".join(cmd))
        rc |= subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env()).returncode
    summary = {}
    report = nlu_out / "intent_report.json"
    if report.exists():
        data = json.loads(report.read_text())
        summary["nlu_cross_validation"] = {
            "folds": folds, "accuracy": data.get("accuracy"),
            "macro_f1": (data.get("macro avg") or {}).get("f1-score"),
            "weighted_f1": (data.get("weighted avg") or {}).get("f1-score"),
        }
    stories = RESULTS / "core" / "story_report.json"
    if stories.exists():
        data = json.loads(stories.read_text())
        summary["story_tests"] = {"accuracy": data.get("accuracy"),
                                  "macro_f1": (data.get("macro avg") or {}).get("f1-score"),
                                  "conversations": str(TEST_STORIES.relative_to(PROJECT_ROOT))}
    (RESULTS / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return rc


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mingbai rasa", description="在 Rasa 运行环境中训练、校验、测试")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_train = sub.add_parser("train", help="训练模型（输入没变时跳过）")
    p_train.add_argument("--force", action="store_true", help="即使输入没变也重新训练")
    p_train.add_argument("--no-warm", action="store_true",
                         help="不预先生成紧急语义库和纠纷分类模型（安装时由 python -m bot.road_model 生成）")
    sub.add_parser("validate", help="rasa data validate")
    p_test = sub.add_parser("test", help="NLU 交叉验证 + 对话测试, 结果在 eval/results/rasa/")
    p_test.add_argument("--folds", type=int, default=3)
    p_test.add_argument("--nlu-only", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "train":
            train(force=args.force, warm=not args.no_warm)
            return 0
        if args.cmd == "validate":
            return validate()
        if args.cmd == "test":
            return test(folds=args.folds, nlu_only=args.nlu_only)
    except RuntimeError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
