"""The delivery contract on PostgreSQL (the scale path): dedup under concurrency, the shared token."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.connectors import wxsim
from tests.connectors.conftest import LiveServer, consent, make_app
from tests.tickets.fixtures import pg_available, pg_db  # noqa: F401

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def pg_live(wx_env, pg_db):  # noqa: F811
    if not pg_available():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    app = make_app()
    s = LiveServer(app)
    yield s
    s.stop()


def test_concurrent_retries_on_postgres(pg_live, rasa, fake_api):
    from mingbai.settings import get_settings

    assert get_settings().db_url.startswith("postgresql")
    openid = "o-pg"
    consent(f"wechat:{openid}")
    rasa.delay_s = 0.5
    xml = wxsim.text_xml(openid, "承包地被占怎么办", int(time.time() * 1000))
    with ThreadPoolExecutor(3) as ex:
        rs = list(ex.map(pg_live.post, [wxsim.build(xml) for _ in range(3)]))
    assert [r.status_code for r in rs] == [200, 200, 200]
    assert len([r for r in rs if r.content != b"success"]) == 1
    assert rasa.turns[(f"wechat:{openid}", "承包地被占怎么办")] == 1


def test_one_token_across_processes_on_postgres(pg_live, fake_api):
    code = "from connectors import wechat_api; print(wechat_api.get_token('wechat'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=90) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-400:] for _, e in outs]
    assert {o.strip() for o, _ in outs} == {"tok-1"} and fake_api.token_calls == 1
