"""User text with script payloads, typed through the UI, never runs in the browser (no dialog ever opens)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PAYLOAD = '<img src=x onerror=alert(1)><script>alert(2)</script>"><svg onload=alert(3)>'


def test_no_dialog_fires(new_page: Any, sign_in: Any) -> None:
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "agent6")
    page.goto("/tickets/new/")
    page.fill("[data-testid=create-subject]", "XSS " + PAYLOAD)
    page.fill("[data-testid=create-description]", PAYLOAD)
    page.get_by_label("新建客户").check()
    page.fill("#id_new_customer_name", PAYLOAD[:60])
    page.click("[data-testid=create-submit]")
    page.wait_for_url(re.compile(r"/tickets/\d+/$"))
    page.fill("[data-testid=reply-body]", PAYLOAD)
    page.get_by_test_id("reply-submit").click()
    page.get_by_test_id("message-reply").wait_for()
    page.get_by_test_id("tab-note").click()
    page.fill("[data-testid=note-body]", PAYLOAD)
    page.get_by_test_id("note-submit").click()
    page.get_by_test_id("message-note").wait_for()
    detail = page.url
    page.goto("/tickets/?scope=mine&q=XSS")
    page.wait_for_load_state("networkidle")
    page.fill("[data-testid=saved-view-name]", PAYLOAD[:60])
    page.get_by_test_id("saved-view-save").click()
    page.get_by_test_id("saved-view").first.wait_for()
    for url in (detail, "/customers/", "/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
    page.goto(detail)
    assert PAYLOAD in page.get_by_test_id("ticket-description").inner_text()  # shown as text
    assert dialogs == []
    assert not page.js_errors


def test_api_docs_render_offline_under_the_content_security_policy(new_page: Any, sign_in: Any) -> None:
    # Swagger UI comes from Kefu's own static files (no CDN) and runs under the same policy as every page.
    page = new_page()
    sign_in(page, "agent6")
    page.goto("/api/v1/docs")
    page.locator(".opblock-tag", has_text="tickets").first.wait_for()
    assert not page.js_errors
