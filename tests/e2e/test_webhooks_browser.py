"""An administrator registers a webhook endpoint on the product's own pages, is refused a bad address with the
field named, edits it and finds it in the list; screenshots in both languages."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_an_administrator_registers_an_endpoint(new_page: Any, sign_in: Any, screenshot: Any,
                                                language: str) -> None:
    page = new_page()
    sign_in(page, "admin", language)
    page.goto("/admin/webhooks/endpoints/")
    page.get_by_test_id("endpoint-add").click()
    page.fill("input[name=name]", f"CRM {language}")
    page.fill("input[name=url]", "http://169.254.169.254/latest")
    page.get_by_test_id("endpoint-save").click()
    error = page.locator(".form-error").filter(has_text=re.compile(r"\S")).first
    error.wait_for()
    assert "169.254" not in error.inner_text()  # the reason is worded for people, not an English exception
    page.fill("input[name=url]", "https://crm.example.com/kefu/webhook")
    page.get_by_label(re.compile("工单创建|Work order created")).check()
    page.get_by_test_id("endpoint-save").click()
    page.wait_for_url(re.compile(r"/admin/webhooks/endpoints/\d+/$"))
    assert len(page.get_by_test_id("endpoint-secret").input_value()) == 64
    screenshot(page, f"admin-webhook-edit-{'zh' if language == 'zh-hans' else 'en'}", full_page=True)
    page.goto("/admin/webhooks/endpoints/")
    assert f"CRM {language}" in page.get_by_test_id("endpoint-table").inner_text()
    screenshot(page, f"admin-webhooks-{'zh' if language == 'zh-hans' else 'en'}")
    assert not page.js_errors
