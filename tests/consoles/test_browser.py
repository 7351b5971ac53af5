"""Real headless Chromium (Debian's) against the real app: login → claim → live message →
reply → resolve → 调解协议书, with screenshots in $MINGBAI_TEST_ARTIFACTS (default: a temporary folder)."""
from __future__ import annotations

import shutil
import threading

import pytest

from tests.conftest import artifacts_dir
from tests.tickets.fixtures import make_staff
from tickets import service

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ART = artifacts_dir()  # $MINGBAI_TEST_ARTIFACTS, else a temporary folder


@pytest.fixture()
def server(sqlite_db):
    from werkzeug.serving import make_server

    from mingbai.web import create_app

    app = create_app()
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture()
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_login_claim_reply_resolve(server, browser):
    ART.mkdir(parents=True, exist_ok=True)
    make_staff("wang", "网格员", "QF01")
    rk = "web:browser-resident"
    service.record_consent(rk, True)
    service.record_message(rk, "in", "你好，邻居家的狗天天咬我家鸡，我电话13812345678", "resident", "web")
    t = service.open_ticket(rk, domain="侵权", subtype="邻里纠纷", summary="邻居家的狗咬死了我家三只鸡",
                            location="大塘二组", phone="13812345678", parties=["王大爷", "刘某"])
    n = t["number"]

    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")  # a phone screen
    page.goto(f"{server}/console/")
    page.fill("#username", "wang")
    page.fill("#password", "secret-pass-1")
    page.screenshot(path=str(ART / "console_1_login.png"))
    page.click("#login-btn")
    page.wait_for_selector(f'.ticket-row[data-number="{n}"]')
    assert page.locator(f'.ticket-row[data-number="{n}"] .badge').inner_text().startswith("受理 剩")
    page.screenshot(path=str(ART / "console_2_queue.png"), full_page=True)

    page.click(f'.ticket-row[data-number="{n}"] .claim-btn')
    page.wait_for_selector(".flash.ok")
    assert "已认领" in page.inner_text(".flash.ok")
    page.goto(f"{server}/console/t/{n}")
    assert "138****5678" in page.inner_text("#msgs") and "13812345678" not in page.content()
    page.select_option("#to", "acknowledged")
    page.click("#status-btn")
    page.wait_for_selector("text=已改为「已受理」")

    # the resident writes while the page is open: it shows up without a reload (poll)
    service.record_message(rk, "in", "我下午都在家", "resident", "web")
    page.wait_for_selector("#msgs >> text=我下午都在家", timeout=10000)
    # staff take over the conversation: from now on the resident's words stream in (SSE)
    page.click("text=接管对话（机器人暂停）")
    page.wait_for_selector("#handoff-on")
    assert service.in_handoff(rk)
    page.wait_for_timeout(300)
    service.record_message(rk, "in", "狗是刘家的，他不认账", "resident", "web")
    page.wait_for_selector("#msgs >> text=狗是刘家的，他不认账", timeout=5000)
    page.screenshot(path=str(ART / "console_3_live.png"), full_page=True)

    page.click(".canned button >> nth=0")
    assert "已经收到您反映的情况" in page.input_value("#reply-text")
    page.click("#reply-send")
    page.wait_for_selector("text=已发送。")
    staff_msgs = [m for m in service.transcript(rk) if m["author"] == "staff:wang"]
    assert staff_msgs and "已经收到您反映的情况" in staff_msgs[-1]["text"]
    from connectors import outbound

    assert any("已经收到您反映的情况" in m["text"] for m in outbound.poll(rk))  # queued for the web chat

    page.click("text=结束人工对话，恢复机器人")
    page.wait_for_selector("text=已结束人工对话")
    assert not service.in_handoff(rk)
    page.select_option("#to", "in_mediation")
    page.click("#status-btn")
    page.wait_for_selector("text=已改为「调解中」")
    page.select_option("#outcome-select", "调解成功")
    page.fill("#resolution", "刘某赔偿三只鸡共150元，今后把狗拴好。")
    page.click("#resolve-btn")
    page.wait_for_selector("text=已改为「已办结」")
    assert service.get_ticket(n)["outcome"] == "调解成功"
    page.set_viewport_size({"width": 1100, "height": 900})
    page.screenshot(path=str(ART / "console_4_resolved.png"), full_page=True)

    page.click("#agreement-link")
    page.wait_for_selector("#agreement")
    doc = page.inner_text("#agreement")
    assert "（一）当事人的基本情况；" in doc and "刘某赔偿三只鸡共150元" in doc
    assert "大塘村人民调解委员会" in doc
    page.screenshot(path=str(ART / "console_5_agreement.png"), full_page=True)
    page.pdf(path=str(ART / "console_agreement.pdf")) if hasattr(page, "pdf") else None
