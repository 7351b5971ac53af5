import subprocess
import sys
from pathlib import Path

from mingbai.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("run", "doctor", "ask", "kb", "model"):
        assert name in out


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "未知命令" in capsys.readouterr().err


def test_every_command_module_imports():
    import importlib

    for name, (module, _) in COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(getattr(mod, "main")), name


def test_console_script_installed():
    exe = Path(sys.executable).parent / "mingbai"
    assert exe.exists(), "make setup installs the mingbai command"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip()


def test_bad_settings_reported_in_words(monkeypatch):
    exe = Path(sys.executable).parent / "mingbai"
    env = {"PATH": "/usr/bin:/bin", "MINGBAI_WEB_PORT": "abc", "MINGBAI_HOME": "/tmp/mingbai-cli-test"}
    out = subprocess.run([str(exe), "doctor"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert "设置有误" in out.stderr and "web_port" in out.stderr
