"""The Rasa project's static checks (no Rasa process needed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ["greet", "goodbye", "thanks", "bot_challenge", "ask_legal_question", "report_dispute", "request_human",
            "check_ticket_status", "inform", "affirm", "deny", "emergency", "out_of_scope", "chitchat",
            "delete_my_data"]


def test_intents_have_enough_varied_examples():
    nlu = yaml.safe_load((ROOT / "training_data" / "nlu.yml").read_text())["nlu"]
    examples = {b["intent"]: [l[2:].strip() for l in b["examples"].splitlines() if l.strip()]
                for b in nlu if "intent" in b}
    for intent in REQUIRED:
        assert len(set(examples.get(intent, []))) >= 25, intent
    text = "".join(e for ex in examples.values() for e in ex)
    for word in ("俺", "咋", "啥", "麼", "嗎"):  # dialect and traditional characters are represented
        assert word in text


def test_config_points_jieba_at_a_directory():
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    assert config["language"] == "zh"
    jieba = next(c for c in config["pipeline"] if c["name"] == "JiebaTokenizer")
    d = ROOT / jieba["dictionary_path"]
    assert d.is_dir() and any(d.iterdir())
    names = [c["name"] for c in config["pipeline"]]
    # An intent classifier, then the fallback on its confidence; no TensorFlow model in the pipeline
    # or the policies (DIET and TED held ~500 MB in the server for no routing gain).
    assert "LogisticRegressionClassifier" in names and "FallbackClassifier" in names
    assert names.index("LogisticRegressionClassifier") < names.index("FallbackClassifier")
    policies = [p["name"] for p in config["policies"]]
    assert not {"DIETClassifier", "TEDPolicy"} & set(names + policies)


def test_domain_lists_every_action_the_rules_use():
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())
    # Rasa's own default actions need no entry in the domain.
    builtin = {"action_listen", "action_restart", "action_session_start", "action_default_fallback",
               "action_deactivate_loop", "action_revert_fallback_events", "action_two_stage_fallback",
               "action_unlikely_intent", "action_back", "action_extract_slots"}
    known = set(domain["actions"]) | set(domain["responses"]) | set(domain["forms"]) | builtin
    rules = yaml.safe_load((ROOT / "training_data" / "rules.yml").read_text())["rules"]
    for rule in rules:
        for step in rule["steps"]:
            if "action" in step:
                assert step["action"] in known, step["action"]
    # The action server registers every Action subclass of the package (one module per flow):
    # each domain action must resolve, and no name may be defined twice.
    from collections import Counter

    from rasa_sdk import Action, utils
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("bot.actions")
    assert set(domain["actions"]) <= set(executor.actions)
    ours = [c().name() for c in utils.all_subclasses(Action) if c.__module__.startswith("bot.actions.")]
    assert [n for n, k in Counter(ours).items() if k > 1] == []


def test_server_cmd_and_endpoints(tmp_path):
    from mingbai import rasa_runtime

    cmd = rasa_runtime.server_cmd(6005, 6055)
    assert cmd[1] == "run" and "--enable-api" in cmd and cmd[cmd.index("-p") + 1] == "6005"
    assert "--cors" not in cmd  # no browser talks to Rasa: no wildcard CORS
    # One argument "--auth-token=…": a token_urlsafe() token may begin with "-", which argparse would
    # take for an option if the token came as its own argument (rasa run then exits with code 2).
    assert cmd[cmd.index("-i") + 1] == "127.0.0.1" and f"--auth-token={rasa_runtime.rasa_token()}" in cmd
    endpoints = Path(cmd[cmd.index("--endpoints") + 1])
    assert "http://127.0.0.1:6055/webhook" in endpoints.read_text()
    assert cmd[cmd.index("--credentials") + 1].endswith("bot/credentials.yml")


def test_missing_rasa_venv_names_make_setup(monkeypatch, tmp_path):
    from mingbai import rasa_runtime
    from mingbai.settings import SettingsError

    monkeypatch.setenv("MINGBAI_RASA_VENV", str(tmp_path / "nope"))
    with pytest.raises(SettingsError, match="make setup"):
        rasa_runtime.rasa_bin()


def test_train_skips_when_fingerprint_unchanged(tmp_path):
    from mingbai import rasa_runtime

    (tmp_path / "mingbai.tar.gz").write_bytes(b"x")
    (tmp_path / "mingbai.fingerprint").write_text(rasa_runtime.fingerprint())
    assert rasa_runtime.train(out_dir=tmp_path, quiet=True) == tmp_path / "mingbai.tar.gz"


def test_phone_validation_and_masking():
    from bot.actions.services import extract_phone, mask_phone

    assert extract_phone("我电话是 138 1234 5678") == "13812345678"
    assert extract_phone("+86 139-0000-1111") == "13900001111"
    assert extract_phone("１３８１２３４５６７８") == "13812345678"
    assert extract_phone("138123") is None
    assert extract_phone("12345678901") is None
    assert mask_phone("13812345678") == "138****5678"


def test_rasa_data_validates_clean():
    from mingbai import rasa_runtime

    assert rasa_runtime.validate(quiet=True) == 0


def test_rasa_client_raises_when_rasa_is_down():
    from bot import rasa_client
    from tests.fixtures_rasa import free_port

    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(rasa_client.RasaUnavailable):
        rasa_client.turn("cli:local", "你好", base_url=down)
    with pytest.raises(rasa_client.RasaUnavailable):
        rasa_client.pause("cli:local", base_url=down)
    assert rasa_client.is_up(base_url=down) is False


def test_intent_guard_rules():
    """The guard's text rules (the component itself runs inside Rasa)."""
    import re

    src = (ROOT / "bot" / "rasa_components" / "intent_guard.py").read_text()
    ns: dict = {"re": re}
    # Only the pure functions: the module imports rasa, which lives in the other runtime.
    body = src.split("@DefaultV1Recipe")[0]
    body = "\n".join(l for l in body.splitlines() if not l.startswith("from rasa"))
    exec(compile(body, "intent_guard", "exec"), ns)
    gib = ns["is_gibberish"]
    assert gib("嗯嗯啊啊哦哦") and gib("qwerty") and gib("。。。") and gib("1234")
    assert not gib("嗯") and not gib("好的") and not gib("13812345678") and not gib("哈哈哈") and not gib("hi")
    assert ns["QUESTION"].search("借给朋友两万块钱 他一直不还 怎么办")
    assert ns["REQUEST"].search("帮我找调解员 可以吗")


def test_held_out_sets_never_become_training_material():
    """eval/bot/heldout* measure routing on phrasings nobody tuned on: none of their messages may be an
    example in the NLU data, the classifier's lists or the emergency backstop's bank (the tuning splits
    may). Short everyday phrasings (「删除我的信息」「你是机器人吗」) occur in both by nature, so only
    messages of 14 characters or more count."""
    import re as _re

    def norm(t: str) -> str:
        return _re.sub(r"\W+", "", _re.sub(r"\s*\[[^\]]+\]\s*$", "", t))

    held = set()
    for path in sorted((ROOT / "eval" / "bot").glob("heldout*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                t = norm(json.loads(line)["text"])
                if len(t) >= 14:
                    held.add(t)
    assert len(held) > 400
    examples = set()
    for path in [*sorted((ROOT / "training_data").glob("*.yml")), ROOT / "bot" / "emergency_bank.yml"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.add(norm(line[2:].strip().strip('"')))
    leaked = sorted(held & examples)
    assert not leaked, leaked[:5]
