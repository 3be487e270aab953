"""The agent's day in a real browser: sign in, filter, open, reply, dispatch; the department acknowledges and
completes; the agent resolves. Screenshots of the list and the detail page in both languages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

SUBJECT = "楼上漏水，天花板渗水"


def _create_order(page: Any) -> str:
    """A fresh repair order for a new customer, so the flow never depends on the state of demo orders."""
    page.goto("/tickets/new/")
    page.fill("[data-testid=create-subject]", SUBJECT)
    page.select_option("#id_ticket_type", "repair")
    page.select_option("#id_priority", "high")
    page.fill(
        "[data-testid=create-description]", "客户反映卫生间天花板持续滴水，怀疑楼上管道破裂，请尽快安排上门。"
    )
    page.get_by_label("新建客户").check()
    page.fill("#id_new_customer_name", "赵文静")
    page.fill("#id_new_customer_phone", "13912345678")
    page.click("[data-testid=create-submit]")
    page.wait_for_url(re.compile(r"/tickets/\d+/$"))
    return page.get_by_test_id("ticket-number").inner_text()


def test_agent_flow(new_page: Any, sign_in: Any, screenshot: Any) -> None:
    agent = new_page()
    sign_in(agent, "agent1")
    number = _create_order(agent)

    # the list: filter by type and status with HTMX (the URL follows), then search
    agent.goto("/tickets/?scope=mine")
    agent.select_option("[data-testid=filter-type]", "repair")
    agent.wait_for_url(re.compile(r"type=repair"))
    agent.select_option("[data-testid=filter-status]", "open")
    agent.wait_for_url(re.compile(r"status=open"))
    rows = agent.get_by_test_id("ticket-row")
    assert rows.count() >= 1
    assert all("报修" in text for text in rows.all_inner_texts())
    screenshot(agent, "list-zh-hans")
    agent.keyboard.press("/")
    agent.wait_for_function("document.activeElement && document.activeElement.id === 'filter-q'")
    agent.keyboard.type(number)
    # the whole number, not an earlier keystroke's search, and no search still in flight to swap the rows
    agent.wait_for_url(re.compile(rf"q={number}"))
    agent.wait_for_function("document.querySelectorAll('[data-testid=ticket-row]').length === 1")
    # leave the search box without touching the page (a click could land on a link; Escape in a search field
    # clears it in Chromium). Leaving it fires the form's `change`: one more search, whose swap and URL push
    # would cancel an order being opened, so wait for it to answer and settle first.
    with agent.expect_response(lambda response: "/tickets/?" in response.url):
        agent.evaluate("document.activeElement.blur()")
    agent.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
    agent.wait_for_function("document.activeElement === document.body")
    # keyboard: j selects, o opens
    agent.keyboard.press("j")
    agent.wait_for_selector("[data-testid=ticket-row].selected")
    agent.keyboard.press("o")
    agent.wait_for_url(re.compile(r"/tickets/\d+/$"))
    assert agent.get_by_test_id("ticket-subject").inner_text() == SUBJECT
    detail_url = agent.url

    # reply (r focuses the composer), then dispatch to the repair department
    agent.keyboard.press("r")
    agent.wait_for_function(
        "document.activeElement && document.activeElement.dataset.testid === 'reply-body'"
    )
    agent.keyboard.type("您好，已收到您的报修，我们已通知维修部今天上门查看。")
    agent.get_by_test_id("reply-submit").click()
    agent.get_by_test_id("message-reply").wait_for()
    assert "已回复客户" in agent.get_by_test_id("flash").inner_text()
    agent.get_by_test_id("open-dispatch").click()
    agent.select_option("[data-testid=dispatch-department]", label="维修部")
    due = (datetime.now() + timedelta(days=1)).replace(hour=17, minute=0)
    agent.fill("[data-testid=dispatch-due]", due.strftime("%Y-%m-%dT%H:%M"))
    agent.fill("[data-testid=dispatch-instructions]", "请联系楼上住户，检查卫生间管道并维修。")
    agent.get_by_test_id("dispatch-submit").click()
    agent.get_by_test_id("dispatch").filter(has_text="待接单").wait_for()
    assert "等待部门" in agent.get_by_test_id("ticket-status").inner_text()
    screenshot(agent, "detail-zh-hans", full_page=True)

    # the repair department, in its own browser context, acknowledges and completes
    repair = new_page()
    sign_in(repair, "repair1")
    assert "/department/" in repair.url
    row = repair.get_by_test_id("queue-row").filter(has_text=number)
    row.get_by_test_id("queue-ack").click()
    row = repair.get_by_test_id("queue-row").filter(has_text=number)
    row.get_by_test_id("queue-result").fill("已更换楼上卫生间破裂的进水管，天花板不再滴水。")
    row.get_by_test_id("queue-complete").click()
    repair.get_by_test_id("queue-row").filter(has_text=number).filter(has_text="已完成").wait_for()
    assert not repair.js_errors

    # back with the agent: the order returned to "in progress"; resolve it
    agent.goto(detail_url)
    assert "处理中" in agent.get_by_test_id("ticket-status").inner_text()
    assert "已更换楼上卫生间破裂的进水管" in agent.get_by_test_id("dispatches").inner_text()
    agent.get_by_test_id("transition-resolved").click()
    agent.get_by_test_id("ticket-status").filter(has_text="已解决").wait_for()
    history = agent.get_by_test_id("history").inner_text()
    assert "韩师傅（维修部）已接单" in history
    assert "将状态从“处理中”改为“已解决”" in history
    assert not agent.js_errors


def test_screens_in_english(new_page: Any, sign_in: Any, screenshot: Any) -> None:
    page = new_page()
    sign_in(page, "agent1", language="en")
    page.goto("/tickets/?scope=team&status=open")
    assert page.get_by_test_id("scope-team").inner_text() == "My team's"
    screenshot(page, "list-en")
    page.get_by_test_id("ticket-row").first.locator("a[data-open]").click()
    page.wait_for_url(re.compile(r"/tickets/\d+/$"))
    assert page.get_by_role("heading", name="Conversation").count() == 1
    screenshot(page, "detail-en", full_page=True)
    # the shortcut help overlay opens with ? and closes with Escape
    page.keyboard.press("?")
    page.get_by_test_id("shortcut-help").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.get_by_test_id("shortcut-help").wait_for(state="hidden")
    # switching back to Chinese is remembered
    page.get_by_test_id("lang-switch").click()
    page.get_by_role("heading", name="沟通记录").wait_for()
    assert not page.js_errors
