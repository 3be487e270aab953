"""Two agents on the same work order, each in a browser of their own: each sees the other viewing it, typing in the
reply or note box shows "正在回复…" on the other's page, a change by one says so on the other's page (who made
it, with a link to reload) and the stale page's save still gets the version conflict; closing one page clears it
on the other. Screenshots of the warning in both languages go to docs/images/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


DESCRIPTION = "客户收到的冰箱外壳有明显凹痕，要求换货并补偿运费。"


def _create_order(page: Any, subject: str, description: str = DESCRIPTION) -> str:
    """A fresh order of the creator's team (客服一组), so that the test never depends on the demo orders' state."""
    page.goto("/tickets/new/")
    page.fill("[data-testid=create-subject]", subject)
    page.select_option("#id_ticket_type", "complaint")
    page.fill("[data-testid=create-description]", description)
    page.get_by_role("checkbox", name=re.compile("^(新建客户|New customer)$")).check()
    page.fill("#id_new_customer_name", "周雨桐")
    page.fill("#id_new_customer_phone", "13812345670")
    page.click("[data-testid=create-submit]")
    page.wait_for_url(re.compile(r"/tickets/\d+/$"))
    return page.url


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("document.body.dataset.liveState === 'open'")


def _viewer(page: Any, name: str, state: str) -> None:
    """Wait until the page shows `name` with `state` (正在查看 / 正在回复…) among the viewers."""
    page.locator("[data-testid=viewer]", has_text=f"{name} {state}").wait_for()


def test_two_agents_on_the_same_order(new_page: Any, sign_in: Any, screenshot: Any) -> None:
    first, second = new_page(), new_page()
    sign_in(first, "agent1")  # 李娜
    sign_in(second, "agent2")  # 张伟, same team
    url = _create_order(first, "冰箱外壳凹陷，客户要求换货")
    _open(first, url)
    _open(second, url)

    # each sees the other
    _viewer(first, "张伟", "正在查看")
    _viewer(second, "李娜", "正在查看")
    assert first.get_by_test_id("viewer").count() == 1  # not oneself
    assert first.locator("[data-presence-warning]").is_hidden()

    # 张伟 replies: while he types, 李娜's page warns; once sent, her page says who changed the order
    second.get_by_test_id("reply-body").fill("您好，已为您登记换货，明天安排上门取件。")
    second.get_by_test_id("reply-body").press("Space")
    _viewer(first, "张伟", "正在回复…")
    assert first.locator("[data-presence-warning]").is_visible()
    second.evaluate("window.heard = []; document.body.addEventListener('kefu:event', "
                    "function (e) { window.heard.push(e.detail.event); })")
    second.get_by_test_id("reply-submit").click()
    second.get_by_test_id("message-reply").wait_for()
    banner = first.get_by_test_id("live-banner")
    banner.wait_for()
    assert "工单已被 张伟 更新" in banner.inner_text()
    second.wait_for_function("window.heard.indexOf('ticket.replied') >= 0")
    assert second.get_by_test_id("live-banner").is_hidden()  # his own change is not news to him

    # he starts a note too: the screenshot shows both warnings
    second.get_by_test_id("tab-note").click()
    second.get_by_test_id("note-body").press_sequentially("客户")
    _viewer(first, "张伟", "正在回复…")
    _keep(screenshot(first, "ticket-presence-zh"), "ticket-presence-zh")

    # her page is stale: its save is still refused with the version conflict, not applied over his change
    first.locator("[data-testid^=transition-]").first.click()
    first.locator("#err-transition .error-box").wait_for()
    assert "已被他人修改" in first.locator("#err-transition").inner_text()

    # closing his page clears him from hers
    second.close()
    first.locator("[data-testid=ticket-presence]").wait_for(state="hidden")
    assert first.get_by_test_id("viewer").count() == 0
    assert first.js_errors == []
    assert second.js_errors == []


def test_the_warning_in_english(new_page: Any, sign_in: Any, screenshot: Any) -> None:
    first, second = new_page(), new_page()
    sign_in(first, "agent3", language="en")  # 赵敏
    sign_in(second, "agent4")  # 孙丽
    url = _create_order(first, "Dented fridge door, customer wants a replacement",
                        "The fridge arrived with a dent in the door; the customer asks for a replacement.")
    _open(first, url)
    _open(second, url)
    first.get_by_test_id("viewer").wait_for()
    second.get_by_test_id("reply-body").press_sequentially("您好")
    first.locator("[data-testid=viewer].is-typing").wait_for()
    _keep(screenshot(first, "ticket-presence-en"), "ticket-presence-en")
    second.close()
    first.locator("[data-testid=ticket-presence]").wait_for(state="hidden")
    assert first.js_errors == []
