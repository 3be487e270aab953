"""A manager sets up a routed queue in the browser: required skills with their minimum proficiency, the strategy,
affinity, overflow and priorities; a bad value is refused on its field with nothing saved; the saved settings come
back on the page. Screenshots of the queue's settings page in both languages (docs/images/admin-queues-*.png)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
# names from the demo data and this test, not interface text
# (other browser tests sharing the server add their own queues: their names are data too)
DATA_WORDS = ("贵宾专线", "服务热线", "在线客服", "客服一组", "客服二组", "VIP 专席组", "报修", "贵宾服务", "账单",
              "VIP 在线咨询", "VIP 专线", "商城咨询排队", "大客户服务")


def _add_skill(page: Any, code: str, name: str) -> None:
    page.goto("/admin/skills/")
    if page.get_by_test_id("skill-table").get_by_role("link", name=code, exact=True).count():
        return
    page.goto("/admin/skills/new/")
    page.fill("#id_code", code)
    page.fill("#id_name", name)
    page.get_by_test_id("skill-save").click()
    page.wait_for_url("**/admin/skills/")


def _whole_page(page: Any, screenshot: Any, name: str) -> None:
    """The page at its full height in one viewport, so that the sticky save bar sits where it belongs."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1440, "height": max(900, int(height))})
    screenshot(page, name)


def test_a_manager_sets_up_a_routed_queue(new_page: Any, sign_in: Any, screenshot: Any) -> None:
    page = new_page()
    sign_in(page, "manager")
    for code, name in (("repair", "报修"), ("vip", "贵宾服务"), ("billing", "账单")):
        _add_skill(page, code, name)
    page.goto("/admin/queues/")
    assert page.get_by_test_id("queue-row-hotline").is_visible()
    page.get_by_test_id("queue-add").click()
    page.wait_for_url("**/admin/queues/new/")

    page.fill("#id_code", "vip-hotline")
    page.fill("#id_name", "贵宾专线")
    page.select_option("#id_team", label="客服一组")
    page.fill("#id_target_percent", "90")
    page.fill("#id_target_seconds", "15")
    page.check("#id_routed")
    page.select_option("#id_strategy", "proficiency")
    page.fill("#id_offer_seconds", "15")
    page.select_option("#id_affinity", "dedicated")
    page.fill("#id_affinity_seconds", "")
    page.select_option("#id_overflow_to", label="服务热线（hotline）")
    page.fill("#id_overflow_after_seconds", "120")
    page.fill("#id_vip_priority", "30")
    page.fill("#id_long_wait_seconds", "90")
    group = page.get_by_test_id("group-skills")
    group.get_by_label("报修").select_option("3")
    group.get_by_label("贵宾服务").select_option("2")
    page.get_by_test_id("queue-save").click()

    error = page.get_by_test_id("error-affinity_seconds")
    error.wait_for()
    assert "偏好等待秒数" in error.inner_text()
    assert page.input_value("#id_code") == "vip-hotline"  # what was typed stays on the form
    page.fill("#id_affinity_seconds", "60")
    page.get_by_test_id("queue-save").click()
    page.wait_for_url(re.compile(r"/admin/queues/\d+/$"))
    assert "贵宾专线" in page.locator(".flash-stack, .messages, main").first.inner_text()

    page.reload()
    assert page.input_value("#id_code") == "vip-hotline"
    assert page.locator("#id_code").is_disabled()
    assert page.is_checked("#id_routed")
    assert (page.input_value("#id_strategy"), page.input_value("#id_offer_seconds"),
            page.input_value("#id_affinity"), page.input_value("#id_affinity_seconds"),
            page.input_value("#id_overflow_after_seconds"), page.input_value("#id_vip_priority")) == (
        "proficiency", "15", "dedicated", "60", "120", "30")
    assert page.get_by_test_id("group-skills").get_by_label("报修").input_value() == "3"
    assert page.get_by_test_id("group-skills").get_by_label("账单").input_value() == ""
    assert page.get_by_test_id("queue-in-line").inner_text().strip() == "0"
    edit_url = page.url
    _whole_page(page, screenshot, "admin-queues-zh")

    page.goto("/admin/queues/")
    screenshot(page, "admin-queue-list-zh")
    row = page.get_by_test_id("queue-row-vip-hotline")
    assert "技能熟练度优先" in row.inner_text()
    assert "90% / 15 秒" in row.inner_text()
    assert not page.js_errors

    english = new_page()
    sign_in(english, "manager", "en")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    # the interface's own words: headings, labels, column heads, buttons, help (names of queues, teams and skills
    # are data, whoever made them: other browser tests share this server)
    interface = "main h1, main h2, main h3, main label, main th, main button, main .help, main legend, main .flash"
    for url in ("/admin/queues/", edit_url):
        english.goto(url)
        text = "\n".join(english.locator(interface).all_inner_texts())
        for word in DATA_WORDS:
            text = text.replace(word, "")
        leaks = [line for line in text.splitlines() if cjk.search(line)]
        assert not leaks, (url, leaks[:5])
    _whole_page(english, screenshot, "admin-queues-en")
    assert not english.js_errors
