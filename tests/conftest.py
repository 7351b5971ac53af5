"""Shared fixtures. Each test session gets a fresh MINGBAI_HOME; the e5 model and the trained
Rasa model that `make setup` built under var/ are reused (read-only) through overrides.
Tests write only into temporary folders (screenshots and reports: `artifacts_dir()`).

Test tiers (markers, registered in pyproject.toml): `rasa` (a real Rasa stack), `browser`
(headless Chromium), `services` (PostgreSQL / Redis / RabbitMQ on 127.0.0.1; every test marked
`postgres`, `redis` or `rabbitmq` is a `services` test too), `slow`. `make test-fast` deselects
rasa, browser and services: it needs none of them."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILT_HOME = Path(os.environ.get("MINGBAI_BUILT_HOME", ROOT / "var"))

pytest_plugins = ["tests.fixtures_rasa"]

SERVICE_MARKS = ("postgres", "redis", "rabbitmq")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if not item.get_closest_marker("services") and any(item.get_closest_marker(m) for m in SERVICE_MARKS):
            item.add_marker(pytest.mark.services)


def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for people to look at: $MINGBAI_TEST_ARTIFACTS,
    else a folder in the system's temporary directory (never the repository)."""
    d = Path(os.environ.get("MINGBAI_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "mingbai-test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


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
