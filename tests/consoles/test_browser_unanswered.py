"""Real headless Chromium: residents' not-sure questions are grouped in the 未解答 inbox; a reviewer
turns a group into a draft entry with one form, and the draft appears in the knowledge console.
Screenshots in $MINGBAI_TEST_ARTIFACTS (default: a temporary folder)."""
from __future__ import annotations

import re

import pytest

from tests.consoles.test_browser import ART, browser  # noqa: F401  (fixture)
from tests.consoles.test_browser_kb import _login, kb_server  # noqa: F401  (fixtures)
from tests.consoles.test_kb_console import base_index, kb_home  # noqa: F401  (fixtures)
from tickets import feedback, service

pytestmark = pytest.mark.browser


def _not_sure(rk: str, question: str) -> None:
    service.record_message(rk, "in", question, "resident", "web")
    service.record_message(rk, "out", "这个问题我暂时没有把握答准……", "bot", "web")
    assert feedback.mark_unanswered(rk, "unsure", channel="web")


def test_unanswered_group_becomes_a_draft_entry(kb_server, browser):  # noqa: F811
    _not_sure("web:ub1", "邻居占了我家的宅基地怎么办")
    _not_sure("web:ub2", "隔壁邻居把我家宅基地占了咋办")
    page = _login(browser, kb_server, "alice")
    page.click("header nav >> text=未解答")
    group = page.locator(".unanswered-group").first
    group.wait_for()
    assert "2 位居民" in group.inner_text()
    group.locator("text=生成知识库草稿").click()  # the form folds open
    form = group.locator("form.draft-form")
    form.locator("select[name=domain]").select_option("房产纠纷")
    form.locator("input[name=question]").fill("邻居占了我家宅基地怎么办")
    form.locator("textarea[name=answer]").fill("宅基地被占，先找村委会调解；调解不成，可以请乡镇人民政府处理，也可以去法院起诉。")
    form.locator("textarea[name=steps]").fill("先拍照留证\n找村委会调解")
    page.screenshot(path=str(ART / "unanswered_1_group.png"), full_page=True)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=已生成知识库草稿")
    flash = page.locator("text=已生成知识库草稿").first.inner_text()
    draft_id = re.search(r"已生成知识库草稿\s*(\S+?)（", flash).group(1)
    assert page.locator(".unanswered-group").count() == 0  # out of the inbox
    page.screenshot(path=str(ART / "unanswered_2_drafted.png"), full_page=True)
    page.click("header nav >> text=知识库")
    page.fill("input[name=q]", "宅基地")
    page.keyboard.press("Enter")
    row = page.locator(f'.entry-row[data-id="{draft_id}"]')
    row.wait_for()
    assert "草稿" in row.inner_text()
    page.screenshot(path=str(ART / "unanswered_3_in_kb.png"), full_page=True)
