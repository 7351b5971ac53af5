"""Real headless Chromium against the real app: a neighbour's noise complaint registered on a
Sunday morning (through the REST ticket API, as the 12345 hotline integration does) stays at the
grid — the grid worker's queue shows it, its tier is 网格, the 流转记录 says why (非工作时间, no jump
to the county) and the 1 h clock runs in the grid's working time (due Monday 09:30).

Time is frozen on both sides: tickets.clock.set_now for the server (as tests/tickets/test_working_time.py
does), Playwright's clock for the page's countdown badges. Screenshots in $MINGBAI_TEST_ARTIFACTS."""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime

import pytest

from tests.consoles.test_browser import ART, browser, server  # noqa: F401  (fixtures)
from tests.tickets.fixtures import local_dt, make_staff
from tickets import clock, service
from tickets.clock import local
from tickets.sla import tick

pytestmark = pytest.mark.browser
PW = "secret-pass-1"
SUNDAY10 = local_dt(2026, 12, 6, 10, 0)


def _staff_office() -> None:
    """data/grids/sample.yml's chain for 大塘一组, everybody on office hours (as the unit test)."""
    make_staff("grid1", "网格员", "QF01", duty="08:30-17:30", days="1-5")
    make_staff("vil1", "人民调解员", "QFZ-DT", duty="08:00-18:00", days="1-6")
    make_staff("town1", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5")
    make_staff("qfz-duty", "人民调解员", "QFZ", duty="08:30-17:30", days="1-5")  # on_call in sample.yml
    make_staff("county1", "人民调解员", "QFX", duty="08:30-17:30", days="1-5")


def _register(base: str, **body) -> dict:
    from mingbai.settings import get_settings

    req = urllib.request.Request(f"{base}/api/v1/tickets", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + get_settings().secret("api_token")})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
        return json.loads(r.read())


def _login(browser, base: str, user: str, at: datetime):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",  # a phone
                              timezone_id="Asia/Shanghai")
    ctx.clock.set_fixed_time(at)  # the countdown badges compute from the page's Date
    page = ctx.new_page()
    page.goto(f"{base}/console/login")
    page.fill("#username", user)
    page.fill("#password", PW)
    page.click("#login-btn")
    page.wait_for_selector("header nav")
    return page


def test_sunday_noise_complaint_stays_at_the_grid(server, browser):  # noqa: F811
    ART.mkdir(parents=True, exist_ok=True)
    _staff_office()
    clock.set_now(SUNDAY10)
    t = _register(server, resident_key="web:sunday-noise", domain="侵权", subtype="邻里纠纷",
                  summary="隔壁邻居周末一早就装修，电钻噪音太吵，说了也不听", location="大塘一组")
    n = t["number"]
    assert (t["tier"], t["node"], t["status"]) == (1, "QF01", "new")
    assert local(datetime.fromisoformat(t["ack_due"])) == local_dt(2026, 12, 7, 9, 30)      # Monday working time
    assert local(datetime.fromisoformat(t["answer_due"])) == local_dt(2026, 12, 9, 14, 30)  # 24 working hours

    page = _login(browser, server, "grid1", SUNDAY10)
    row = f'#grid .ticket-row[data-number="{n}"]'
    page.wait_for_selector(row)
    # the queue: at the grid (网格·大塘村第一网格), waiting for Monday, not late
    assert page.inner_text(f"{row} .muted").startswith("网格·大塘村第一网格")
    badge = page.locator(f"{row} .badge[data-kind]")
    assert badge.inner_text() == "受理 剩23小时30分"
    assert "late" not in badge.get_attribute("class")
    assert local(datetime.fromisoformat(badge.get_attribute("data-due"))) == local_dt(2026, 12, 7, 9, 30)
    assert f"新工单 {n}" in page.inner_text('.card:has(strong:text-is("提醒"))')  # grid1 was told
    page.screenshot(path=str(ART / "routing_1_sunday_queue.png"), full_page=True)

    page.click(f'{row} a[href$="/t/{n}"]')
    page.wait_for_selector("#history")
    card = page.inner_text("main .card >> nth=0")
    assert page.locator("main .card >> nth=0").locator(".tag").all_inner_texts()[2] == "网格·大塘村第一网格"
    assert "受理期限：12-07 09:30" in card and "答复期限：12-09 14:30" in card
    steps = page.locator("#history .history-step")
    assert steps.count() == 1  # registered → the grid; nothing went up
    assert steps.first.get_attribute("data-kind") == "route"
    step = steps.first.inner_text()
    assert "登记 → 网格" in step and "大塘村第一网格" in step
    # why, in words: out of hours, a normal case stays here and waits for Monday's opening
    assert "非工作时间" in step and "留在本级" in step
    assert "12-07 08:30 上班后按工作时间计时" in step and "受理时限 12-07 09:30" in step
    assert "清风县" not in step and "县级" not in step
    page.screenshot(path=str(ART / "routing_2_sunday_ticket.png"), full_page=True)
    # nobody above was notified; the county saw nothing jump to it
    assert service.unread_notifications("county1", 5) == []
    assert service.unread_notifications("town1", 5) == [] and service.unread_notifications("qfz-duty", 5) == []

    # Monday 09:29:59: the scheduler fires nothing, the case is still the grid's, 1 s left on the clock
    monday = local_dt(2026, 12, 7, 9, 29, 59)
    assert tick(monday)["escalated"] == 0
    clock.set_now(monday)
    page.context.clock.set_fixed_time(monday)
    page.goto(f"{server}/console/")
    page.wait_for_selector(row)
    assert page.inner_text(f"{row} .muted").startswith("网格·大塘村第一网格")
    assert page.locator(f"{row} .badge[data-kind]").inner_text() == "受理 剩0分"
    page.screenshot(path=str(ART / "routing_3_monday_queue.png"), full_page=True)
    assert service.get_ticket(n)["tier"] == 1
