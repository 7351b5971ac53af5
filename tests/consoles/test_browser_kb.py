"""Real headless Chromium against the real app: a reviewer writes an entry with a live citation
check, a second reviewer approves and publishes it, the re-index runs in the background with a
progress bar, and knowledge.answer.ask answers with the entry once the index switched.
Screenshots in $MINGBAI_TEST_ARTIFACTS (default: a temporary folder)."""
from __future__ import annotations

import threading

import pytest

from tests.consoles.test_browser import ART, browser  # noqa: F401  (fixture)
from tests.consoles.test_kb_console import base_index, kb_home  # noqa: F401  (fixtures)
from tests.tickets.fixtures import make_staff

pytestmark = pytest.mark.browser
PW = "secret-pass-1"
EID = "lab-contract-901"
QUESTION = "入职半年了老板还不签劳动合同，能要双倍工资吗？"
ANSWER = "入职超过一个月不满一年还没签书面劳动合同的，老板要每月付您两倍工资。先协商，不行就申请劳动仲裁。"


@pytest.fixture()
def kb_server(kb_home):  # noqa: F811
    from werkzeug.serving import make_server

    from mingbai.web import create_app

    app = create_app()
    make_staff("alice", "审核员", None)
    make_staff("bob", "审核员", None)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _login(browser, server, user):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")  # a phone
    page = ctx.new_page()
    page.goto(f"{server}/console/login")
    page.fill("#username", user)
    page.fill("#password", PW)
    page.click("#login-btn")
    page.wait_for_selector("header nav >> text=知识库")
    return page


def test_edit_review_publish_reindex_answer(kb_server, browser):  # noqa: F811
    from knowledge import reindex
    from knowledge.answer import ask

    ART.mkdir(parents=True, exist_ok=True)
    server = kb_server
    assert ask(QUESTION)["entry_id"] != EID

    alice = _login(browser, server, "alice")
    alice.click("header nav >> text=知识库")
    alice.wait_for_selector("#entries")
    alice.click(".subnav >> text=新建")
    alice.fill("#id", EID)
    alice.select_option("#domain", "劳动纠纷")
    alice.fill("#subtype", "劳动合同")
    alice.fill("#question", QUESTION)
    alice.fill("#paraphrases", "干了半年没签合同能赔钱吗\n老板一直拖着不签合同咋办")
    alice.fill("#answer", ANSWER)
    assert alice.inner_text("#answer-count") == str(len(ANSWER))
    alice.fill("#steps", "保留工资条、考勤和聊天记录\n向劳动争议仲裁委员会申请仲裁")
    # the live check: a repealed law is refused, the right article shows verbatim
    alice.fill("#citations", "婚姻法 32")
    alice.wait_for_selector("#cite-preview .cite.bad >> text=已于2021年1月1日废止")
    alice.fill("#citations", "劳动合同法第八十二条")
    alice.wait_for_selector("#cite-preview .cite:not(.bad) >> text=每月支付二倍的工资")
    alice.screenshot(path=str(ART / "kb_1_edit_citation.png"), full_page=True)
    alice.click("#save-submit-btn")
    alice.wait_for_selector(".flash.ok >> text=提交审核")
    assert alice.inner_text("#entry-status") == "待审核"
    assert "不能审核自己" in alice.inner_text("#review-blocked")

    bob = _login(browser, server, "bob")
    bob.goto(f"{server}/console/kb/?status=review")
    bob.click(f'.entry-row[data-id="{EID}"] a')
    bob.wait_for_selector("#publish-btn")
    bob.screenshot(path=str(ART / "kb_2_review.png"), full_page=True)
    bob.click("#publish-btn")
    bob.wait_for_selector(".flash.ok >> text=已发布第 1 版")
    assert bob.inner_text("#entry-status") == "已发布"
    bob.click(".subnav >> text=重建索引")
    bob.wait_for_selector('#stage[data-state="done"]', timeout=240_000)  # the bar polls status.json
    assert bob.get_attribute("#bar", "aria-valuenow") == "100"
    bob.wait_for_timeout(600)  # let the bar finish its transition for the screenshot
    bob.screenshot(path=str(ART / "kb_3_reindexed.png"), full_page=True)
    assert reindex.status()["state"] == "done"

    a = ask(QUESTION)
    assert a["entry_id"] == EID and a["answer"].startswith(ANSWER)
    bob.goto(f"{server}/console/kb/try?q=" + QUESTION)
    bob.wait_for_selector(f'#qa-hits .qa-hit[data-id="{EID}"]')
    assert EID in bob.inner_text("#final-answer")
    bob.screenshot(path=str(ART / "kb_4_try.png"), full_page=True)
