"""Security tests reuse the channel fixtures: fake WeChat/WeCom API, Rasa stub, app with the
WeChat/WeCom settings (tests/connectors/conftest.py)."""
from __future__ import annotations

import pytest

from tests.connectors.conftest import app, client, fake_api, rasa, wx_env  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _fresh_limits():
    """The replay cache lives in this process: start each test clean (rate-limit counters
    live in each app, and every test makes its own app)."""
    try:
        from connectors import wxcrypto

        wxcrypto.nonces.clear()
    except (ImportError, AttributeError):
        pass
    yield


PW = "secret-pass-1"


@pytest.fixture()
def staff(app):
    """Two console users on the sample grid (the app fixture loaded it)."""
    from tests.tickets.fixtures import make_staff

    make_staff("wang", "网格员", "QF01")
    make_staff("admin", "管理员", None)
    return PW


def api_headers() -> dict:
    from mingbai.settings import get_settings

    return {"Authorization": f"Bearer {get_settings().secret('api_token')}"}
