"""Real headless Chromium against the real app: a maintainer starts the console re-index
(knowledge.reindex: build next to the old index, then switch the pointer) while a client keeps
asking through the REST endpoint POST /api/v1/ask. No answer fails or comes back empty during the
build; the entry published just before re-indexing is answered by the old index never, and by the
new one from the switch on (once it appears it stays). Screenshots in $MINGBAI_TEST_ARTIFACTS."""
from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from tests.consoles.test_browser import ART, browser  # noqa: F401  (fixture)
from tests.consoles.test_browser_kb import ANSWER, QUESTION
from tests.consoles.test_kb_console import base_index, kb_home  # noqa: F401  (fixtures)
from tests.tickets.fixtures import make_staff

pytestmark = pytest.mark.browser
PW = "secret-pass-1"
EID = "lab-contract-902"
# the new entry's question, then the fixture Q&A's (tests/knowledge/data/qa_fixture.yml)
QUESTIONS = [QUESTION, "老板拖欠工资不给怎么办？", "给了彩礼没结婚，彩礼能要回来吗？", "被家暴了怎么申请人身安全保护令？",
             "怎么申请法律援助？"]
ERROR_TEXT = "系统暂时出了点问题"  # knowledge.answer.BAD_INPUT["error"]: ask() swallowed an exception


def without_rate_limits(app):
    """The API rate limit off (the client below asks ~10 times a second, one token: 120 a minute
    would refuse it; the limits themselves are tested elsewhere). Switched off on the running
    Limiter rather than with MINGBAI_RATE_LIMITS=false, which create_app does not accept at every
    revision (flask_limiter asserts on the storage of a disabled Limiter)."""
    for limiter in app.extensions.get("limiter", ()):
        limiter.enabled = False
    return app


@pytest.fixture()
def kb_server(kb_home):  # noqa: F811
    """The app on a free port, API rate limit off."""
    from werkzeug.serving import make_server

    from mingbai.web import create_app

    app = without_rate_limits(create_app())
    make_staff("admin", "管理员", None)
    make_staff("alice", "审核员", None)
    make_staff("bob", "审核员", None)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _ask(base: str, token: str, text: str) -> tuple[int, dict]:
    req = urllib.request.Request(f"{base}/api/v1/ask", data=json.dumps({"text": text}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {}
    except Exception as e:  # refused, reset, timeout: a failed answer too
        return 0, {"error": repr(e)}


class Client(threading.Thread):
    """Keeps asking (one question every ~50 ms) and notes the re-index state around each answer."""

    def __init__(self, base: str, token: str):
        super().__init__(daemon=True)
        self.base, self.token, self.stop, self.log = base, token, threading.Event(), []

    def run(self) -> None:
        from knowledge import reindex

        i = 0
        while not self.stop.is_set():
            q = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            before = reindex.status()["state"]
            code, body = _ask(self.base, self.token, q)
            after = reindex.status()["state"]
            self.log.append({"q": q, "code": code, "body": body, "before": before, "after": after})
            time.sleep(0.05)


def test_reindex_while_a_client_keeps_asking(kb_server, browser):  # noqa: F811
    from knowledge import reindex, store
    from mingbai.settings import get_settings

    ART.mkdir(parents=True, exist_ok=True)
    server, token = kb_server, get_settings().secret("api_token")
    # published just before the re-index: the old index cannot know it yet
    store.save(EID, store.form_to_data(dict(
        domain="劳动纠纷", subtype="劳动合同", kind="qa", question=QUESTION,
        paraphrases="干了半年没签合同能赔钱吗\n老板一直拖着不签合同咋办", answer=ANSWER,
        steps="保留工资条、考勤和聊天记录\n向劳动争议仲裁委员会申请仲裁", citations="劳动合同法第八十二条")), "alice")
    store.submit(EID, "alice")
    store.publish(EID, "bob")
    code, before = _ask(server, token, QUESTION)
    assert code == 200 and before["answer"] and before["entry_id"] != EID
    old_dir = reindex.status()["current"]

    ctx = browser.new_context(viewport={"width": 1100, "height": 800}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{server}/console/login")
    page.fill("#username", "admin")
    page.fill("#password", PW)
    page.click("#login-btn")
    page.click("header nav >> text=知识库")
    page.click(".subnav >> text=重建索引")
    page.wait_for_selector("#reindex-btn:not([disabled])")
    assert page.inner_text("#current") == old_dir

    client = Client(server, token)
    client.start()
    try:
        deadline = time.time() + 10
        while len(client.log) < 5 and time.time() < deadline:  # a few answers from the old index first
            time.sleep(0.05)
        page.click("#reindex-btn")
        page.wait_for_selector('#stage[data-state="running"]', timeout=10_000)
        page.screenshot(path=str(ART / "reindex_1_running.png"), full_page=True)
        page.wait_for_selector('#stage[data-state="done"]', timeout=120_000)
        n_done = len(client.log)
        deadline = time.time() + 10
        while len(client.log) < n_done + 5 and time.time() < deadline:  # and a few from the new one
            time.sleep(0.05)
    finally:
        client.stop.set()
        client.join(35)
    page.wait_for_timeout(400)  # the bar's transition, for the screenshot
    page.screenshot(path=str(ART / "reindex_2_done.png"), full_page=True)

    log = client.log
    during = [x for x in log if x["before"] == x["after"] == "running"]
    (ART / "reindex_client.json").write_text(json.dumps(
        {"answers": len(log), "during_build": len(during), "reindex": reindex.status(),
         "new_entry": [x["body"].get("entry_id") for x in log if x["q"] == QUESTION]}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    failed = [x for x in log if x["code"] != 200 or not (x["body"].get("answer") or "").strip()
              or ERROR_TEXT in x["body"].get("answer", "")]
    assert failed == [], failed[:3]
    assert len(during) >= 5, f"only {len(during)} of {len(log)} answers while the build ran"
    assert all(x["body"].get("citations") for x in during if x["q"] != QUESTION)  # real answers, not fallbacks

    # the new entry: never from the old index, always from the new one once the switch happened
    new_q = [x["body"].get("entry_id") == EID for x in log if x["q"] == QUESTION]
    assert not new_q[0] and new_q[-1], new_q
    first = new_q.index(True)
    assert all(new_q[first:]) and not any(new_q[:first]), new_q
    st = reindex.status()
    assert st["state"] == "done" and st["current"] == st["dir"] != old_dir
    assert page.inner_text("#current") == st["dir"] and page.get_attribute("#bar", "aria-valuenow") == "100"
    code, after = _ask(server, token, QUESTION)
    assert code == 200 and after["entry_id"] == EID and after["answer"].startswith(ANSWER)
