"""The web chat page in real headless Chromium: ask, get an answer, tap 没帮助 under it, ask for a
person, receive the staff reply live, large-text mode. Screenshots go to $MINGBAI_TEST_ARTIFACTS
(default: a temporary folder)."""
from __future__ import annotations

import os

import pytest

from sqlalchemy import select

from mingbai.db import session_scope
from tests.conftest import artifacts_dir
from tests.connectors.rasa_stub import default_reply

pytestmark = pytest.mark.browser

ART = artifacts_dir()
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture()
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_webchat_in_chromium(live, rasa, browser):
    from tickets import feedback, service

    ART.mkdir(parents=True, exist_ok=True)
    handoffs = {}

    def reply(sender, message):
        # What the bot's handoff action does: a real tickets.service call, then its message.
        if "工作人员" in message:
            h = service.start_handoff(sender, "居民要求人工")
            handoffs[sender] = h
            return [h["message"]]
        # As the bot's answer_question action: the answer with its outcome payload, then 有帮助吗？
        return [{"text": default_reply(sender, message)[0], "custom": {"outcome": "answer", "confident": True}},
                "有帮助吗？"]

    rasa.reply = reply
    # bypass_csp: Playwright's wait_for_function evaluates a string in the page, which our CSP
    # (no 'unsafe-eval') rightly refuses; the page's own scripts still run under the nonce policy.
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                            locale="zh-CN", bypass_csp=True)
    page.goto(live.url + "/chat")
    page.wait_for_selector("#input")
    page.screenshot(path=str(ART / "webchat_1_open.png"))

    def say(text, expect_count):
        page.fill("#input", text)
        page.click("#send")
        page.wait_for_function(
            f"document.querySelectorAll('.msg.bot:not(.wait), .msg.staff').length >= {expect_count}",
            timeout=20000)

    say("邻居把垃圾堆在我家门口怎么办", 2)
    assert "同意" in page.locator(".msg.bot").nth(1).inner_text()
    say("同意", 4)
    texts = page.locator(".msg.bot").all_inner_texts()
    assert any("邻居把垃圾堆在我家门口怎么办" in t and "测试回答" in t for t in texts)

    # One tap on 没帮助 under the answer: big real buttons, the thanks appears, the buttons lock.
    page.wait_for_selector(".feedback .fb", timeout=10000)
    helpful = page.get_by_role("button", name="这个回答有帮助")
    unhelpful = page.get_by_role("button", name="这个回答没帮助")
    box = unhelpful.bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 88  # a finger-sized target on a phone
    page.screenshot(path=str(ART / "webchat_2_answer.png"))
    turns_before = rasa.total_turns()
    unhelpful.click()
    page.wait_for_selector(".msg.bot.thanks", timeout=10000)
    assert page.locator(".msg.bot.thanks").inner_text() == feedback.THANKS_UNHELPFUL
    assert unhelpful.is_disabled() and helpful.is_disabled()
    assert unhelpful.get_attribute("aria-pressed") == "true"
    assert rasa.total_turns() == turns_before  # the tap never reached the bot
    with session_scope() as s:
        items = [(i.kind, i.question, i.resident_key) for i in s.scalars(select(feedback.UnansweredItem))]
    assert len(items) == 1 and items[0][:2] == ("unhelpful", "邻居把垃圾堆在我家门口怎么办")
    assert items[0][2].startswith("web:")
    page.screenshot(path=str(ART / "webchat_2b_unhelpful_tapped.png"))

    page.click("text=找工作人员")
    page.wait_for_function("document.querySelectorAll('.msg.bot:not(.wait)').length >= 6", timeout=20000)
    assert page.locator(".feedback .fb:not([disabled])").count() == 0  # a handoff offers no rating
    assert len(handoffs) == 1
    rk, h = next(iter(handoffs.items()))
    assert rk.startswith("web:") and service.in_handoff(rk)
    page.wait_for_selector("#handoff:not([hidden])", timeout=10000)

    # During the handoff the bot is silent; the message goes to the staff console.
    turns_before = rasa.total_turns()
    page.fill("#input", "我家在3号楼2单元")
    page.click("#send")
    page.wait_for_function("!document.querySelector('.msg.wait')", timeout=10000)
    assert rasa.total_turns() == turns_before
    assert any(m["text"] == "我家在3号楼2单元" for m in service.transcript(rk))

    # A staff member replies from the console: it appears live in the page.
    assert service.staff_reply(h["ticket_number"], "wangtiaojie", "您好，我是调解员王芳，明天上午到您家看看。")
    page.wait_for_selector(".msg.staff", timeout=15000)
    assert "王芳" in page.locator(".msg.staff").first.inner_text()
    page.screenshot(path=str(ART / "webchat_3_staff_reply.png"))

    # Large-text mode for elderly readers, remembered across reloads.
    small = page.eval_on_selector(".msg.bot", "e => parseFloat(getComputedStyle(e).fontSize)")
    page.click("#bigtext")
    big = page.eval_on_selector(".msg.bot", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= small * 1.3
    page.screenshot(path=str(ART / "webchat_4_large_text.png"))
    page.reload()
    page.wait_for_selector("#input")
    assert page.evaluate("document.body.classList.contains('big')")
    page.close()
