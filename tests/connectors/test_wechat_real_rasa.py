"""One WeChat message through the real Rasa + action servers (slow: shares the session's stack).

The answer comes back passively when ready within 4 s, else once through the customer-service API;
either way exactly once, and it is a real answer (not the 'system busy' fallback)."""
from __future__ import annotations

import time

import pytest

from connectors import gateway
from tests.connectors import wxsim
from tests.connectors.conftest import LiveServer, consent, load_sample_grid, make_app

pytestmark = pytest.mark.rasa


def test_wechat_message_through_real_rasa(rasa_stack, fresh_home, fake_api, monkeypatch):
    from mingbai.db import reset_engines
    from mingbai.settings import reset_settings_cache

    env = wxsim.env(fake_api.url, rasa_stack["rasa"])
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_settings_cache()
    reset_engines()
    with fake_api.lock:
        fake_api.sent.clear()
        fake_api.valid_tokens.clear()
    app = make_app()
    load_sample_grid()
    live = LiveServer(app)
    try:
        openid = "o-real-rasa"
        consent(f"wechat:{openid}")
        xml = wxsim.text_xml(openid, "别人借了我两万块钱一直不还怎么办", int(time.time() * 1000))
        t0 = time.monotonic()
        r = live.post(wxsim.build(xml))
        assert r.status_code == 200 and time.monotonic() - t0 < 5.0
        reply = wxsim.read_reply(r.content, "aes")
        texts = [reply["Content"]] if reply else fake_api.wait_for(1, timeout=60, touser=openid)
        assert texts and texts[0].strip()
        assert gateway.BOT_DOWN not in texts[0] and gateway.SORRY not in texts[0]
        time.sleep(1.0)
        assert len(fake_api.contents(openid)) == (0 if reply else len(texts))
    finally:
        live.stop()
