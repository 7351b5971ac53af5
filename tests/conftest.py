"""Shared fixtures. Each test session gets a fresh MINGBAI_HOME; the e5 model and the trained
Rasa model that `make setup` built under var/ are reused (read-only) through overrides."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILT_HOME = Path(os.environ.get("MINGBAI_BUILT_HOME", ROOT / "var"))

pytest_plugins = ["tests.fixtures_rasa"]


def _use_home(path: Path) -> None:
    os.environ["MINGBAI_HOME"] = str(path)
    os.environ.setdefault("MINGBAI_MODEL_PATH", str(BUILT_HOME / "models" / "e5-small"))
    os.environ.setdefault("MINGBAI_RASA_MODELS_PATH", str(BUILT_HOME / "rasa" / "models"))
    os.environ.pop("DATABASE_URL", None)
    from mingbai.settings import reset_settings_cache
    from mingbai.db import reset_engines

    reset_settings_cache()
    reset_engines()


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("mingbai-home")
    _use_home(home)
    return home


@pytest.fixture()
def fresh_home(tmp_path) -> Path:
    """A data directory of one's own (own SQLite db) for tests that need isolation."""
    old = os.environ.get("MINGBAI_HOME")
    _use_home(tmp_path)
    yield tmp_path
    _use_home(Path(old))


@pytest.fixture(scope="session")
def built_model_dir() -> Path:
    d = BUILT_HOME / "models" / "e5-small"
    if not (d / "modules.json").exists():
        pytest.fail(f"e5 model missing at {d}: run `make setup` (mingbai model build)")
    return d
