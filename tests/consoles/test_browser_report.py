"""Real headless Chromium against the real app: the 平安报表 renders its Chart.js charts with the
seeded numbers, red/yellow/green per grid, and a printable page (print media + PDF).

33 tickets over four grids and five domains in November 2026 (the clock frozen per step with
tickets.clock.set_now, as tests/tickets/test_report.py does):
  QF01 大塘村第一网格  10 — acknowledged in 15 min, mediated, resolved 调解成功          → green
  QF04 新街社区第一网格 10 — 9 on time, one acknowledged after 2 h (ack rate 90 %)      → yellow
  QF03 柳树湾村网格     5 — nobody ever acknowledges them (all overdue, still open)    → red
  CG01 和平社区第一网格  8 — as QF01                                                   → green
  QF02 and the other grids: none                                                      → grey
Screenshots and the PDF in $MINGBAI_TEST_ARTIFACTS (default: a temporary folder)."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from tests.consoles.test_browser import ART, browser, server  # noqa: F401  (fixtures)
from tests.tickets.fixtures import local_dt, make_staff
from tickets import clock, service

pytestmark = pytest.mark.browser
PW = "secret-pass-1"
DOMAINS = ["侵权", "劳动纠纷", "婚姻家庭", "债权债务", "房产纠纷"]
NOW = local_dt(2026, 11, 27, 16, 0)  # Friday afternoon: the leader reads November
# grid code, a place residents name there, tickets, first working day (November 2026), behaviour
PLAN = [("QF01", "大塘一组", 10, 2, "good"), ("QF04", "锦绣花园", 10, 2, "one_late"),
        ("QF03", "柳湾渡口", 5, 16, "never"), ("CG01", "和平路", 8, 9, "good")]
RGB = {"red": "rgb(198, 40, 40)", "yellow": "rgb(249, 168, 37)", "green": "rgb(46, 125, 50)",
       "grey": "rgb(154, 165, 177)"}


def _slots(first: int, count: int) -> list:
    """Two tickets a working day (09:00 and 11:00) from November `first`."""
    out, d = [], local_dt(2026, 11, first, 9, 0)
    while len(out) < count:
        if d.weekday() < 5:
            out += [d, d + timedelta(hours=2)]
        d += timedelta(days=1)
    return out[:count]


def _seed() -> Counter:
    """Open, acknowledge, mediate and resolve the planned tickets; returns tickets per domain."""
    for code in ("QF01", "QF02", "QF03", "QF04", "CG01"):
        make_staff(f"g-{code}", "网格员", code, duty="08:30-17:30", days="1-5")
    for code in ("QFZ-DT", "QFZ-LSW", "QFZ-XJ", "CG-HP"):
        make_staff(f"v-{code}", "人民调解员", code, duty="08:00-18:00", days="1-6")
    domains: Counter = Counter()
    i = 0
    for code, place, count, first, how in PLAN:
        for k, at in enumerate(_slots(first, count)):
            domain = DOMAINS[i % len(DOMAINS)]
            i += 1
            domains[domain] += 1
            clock.set_now(at)
            t = service.open_ticket(f"web:report-{code}-{k}", domain=domain, summary=f"{place}的纠纷 {k}",
                                    location=place)
            assert t["node"] == code and t["tier"] == 1
            if how == "never":
                continue
            late = how == "one_late" and k == 3
            actor = f"staff:g-{code}"
            for after, to, kw in ((timedelta(hours=2) if late else timedelta(minutes=15), "acknowledged", {}),
                                  (timedelta(hours=2, minutes=30) if late else timedelta(hours=1), "in_mediation", {}),
                                  (timedelta(hours=3) if late else timedelta(hours=1, minutes=30), "resolved",
                                   {"outcome": "调解成功", "resolution": "双方达成一致"})):
                clock.set_now(at + after)
                service.change_status(t["number"], to, actor, **kw)
    clock.set_now(NOW)
    return domains


def _login(browser, base: str, user: str):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    ctx.clock.set_fixed_time(NOW)
    page = ctx.new_page()
    page.goto(f"{base}/console/login")
    page.fill("#username", user)
    page.fill("#password", PW)
    page.click("#login-btn")
    page.wait_for_selector("header nav >> text=平安报表")
    return page


CHART_DATA = """ids => ids.map(id => {
  const el = document.getElementById(id), ch = window.Chart && Chart.getChart(el);
  if (!ch) return {id, chart: false};
  const blank = document.createElement('canvas');
  blank.width = el.width; blank.height = el.height;
  const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
  let painted = 0;
  for (let k = 3; k < px.length; k += 4) if (px[k]) painted++;
  return {id, chart: true, type: ch.config.type, labels: ch.data.labels,
          data: ch.data.datasets.map(d => d.data), width: el.width, height: el.height, painted,
          drawn: el.toDataURL().length > blank.toDataURL().length + 1000};
})"""
CHARTS = ["chart-trend", "chart-sla", "chart-domain", "chart-tier", "chart-ageing", "chart-grids"]


def test_report_renders_charts_rag_and_print(server, browser):  # noqa: F811
    ART.mkdir(parents=True, exist_ok=True)
    domains = _seed()
    make_staff("leader", "管理员", None)
    total = sum(n for _, _, n, _, _ in PLAN)
    assert total == sum(domains.values()) == 33

    page = _login(browser, server, "leader")
    page.click("header nav >> text=平安报表")
    page.wait_for_selector("#chart-grids")
    page.select_option("#period", "month")
    page.fill("input[name=at]", "2026-11")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/console/report?*at=2026-11*")
    page.wait_for_function("window.Chart && document.querySelectorAll('canvas').length === 6 && "
                           "[...document.querySelectorAll('canvas')].every(c => Chart.getChart(c))")
    assert page.inner_text("#total") == str(total)

    charts = {c["id"]: c for c in page.evaluate(CHART_DATA, CHARTS)}
    for cid in CHARTS:  # each canvas exists, holds a Chart.js chart, and has pixels painted
        c = charts[cid]
        assert c["chart"] and c["width"] > 100 and c["height"] > 100, c
        assert c["drawn"] and c["painted"] > 500, (cid, c["painted"])
    # the bars carry the seeded numbers
    dom = charts["chart-domain"]
    assert dict(zip(dom["labels"], dom["data"][0])) == dict(domains)
    trend = charts["chart-trend"]
    assert len(trend["labels"]) == 30 and sum(trend["data"][0]) == total      # one bar per November day
    assert sum(trend["data"][1]) == 28                                         # resolved: all but QF03's five
    assert trend["data"][0][trend["labels"].index("11-02")] == 4                 # QF01's and QF04's first
    sla = charts["chart-sla"]  # datasets 按时 / 超时 / 未到期 × labels 受理 / 答复
    assert [d[0] for d in sla["data"]] == [27, 6, 0]   # ack: QF04's late one and QF03's five missed
    assert [d[1] for d in sla["data"]] == [28, 5, 0]   # answer: QF03's five never answered
    tier = charts["chart-tier"]
    assert tier["labels"][0] == "网格" and tier["data"][0][0] == 28 and tier["data"][1][0] == total
    ageing = charts["chart-ageing"]
    assert sum(ageing["data"][0]) == 5 and ageing["data"][0][3] == 5            # the five, 7–30 days old
    grids = charts["chart-grids"]
    ack = dict(zip(grids["labels"], grids["data"][0]))
    assert ack["大塘村第一网格"] == 100 and ack["新街社区第一网格"] == 90 and ack["柳树湾村网格"] == 0

    # red / yellow / green per grid, with the colour really shown and the reason written
    want = {"QF01": "green", "QF04": "yellow", "QF03": "red", "CG01": "green", "QF02": "grey"}
    for code, colour in want.items():
        row = page.locator(f'#grids tr[data-code="{code}"]')
        assert row.get_attribute("data-rag") == colour, code
        cell = row.locator(".rag")
        assert cell.evaluate("e => getComputedStyle(e).backgroundColor") == RGB[colour], code
        assert cell.inner_text() == {"red": "红", "yellow": "黄", "green": "绿", "grey": "—"}[colour]
    assert "受理及时率 90 < 95" in page.inner_text('#grids tr[data-code="QF04"] .why')
    why = page.inner_text('#grids tr[data-code="QF03"] .why')
    assert "红：受理及时率 0 < 80" in why and "红：超时未办 5 ≥ 3" in why
    assert page.locator('#towns tr[data-code="QFZ"]').get_attribute("data-rag") == "red"
    assert page.inner_text("#ack-met") == "27" and page.inner_text("#ack-missed") == "6"
    page.screenshot(path=str(ART / "report_1_screen.png"), full_page=True)

    # the CSV export answers from the same page
    r = page.request.get(server + page.get_attribute("#csv-link", "href"))  # with the session cookie
    assert r.ok and r.headers["content-type"].startswith("text/csv") and "大塘村第一网格" in r.text()

    # the printable page: print media hides the controls, shows the title, keeps the charts drawn
    page.emulate_media(media="print")
    page.wait_for_timeout(200)
    assert page.is_visible("h1.print-only") and page.inner_text("h1.print-only") == "全县平安报表"
    assert not page.is_visible("form.filters") and not page.is_visible("header nav")
    again = {c["id"]: c for c in page.evaluate(CHART_DATA, CHARTS)}
    assert all(again[c]["drawn"] and again[c]["painted"] > 500 for c in CHARTS)
    page.screenshot(path=str(ART / "report_2_print.png"), full_page=True)
    pdf = page.pdf(path=str(ART / "report_print.pdf"), format="A4", landscape=True, print_background=True)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 50_000
