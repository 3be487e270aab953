"""Personal data in a real browser: the manager sees a customer's consent and exports their data, records a consent,
files an erasure request; the administrator — a second person — approves it on the approvals page, and the
customer's page shows the tombstone banner; the retention rules page with its preview. Screenshots (zh-hans) go to
docs/images/."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import kefu_command

pytestmark = pytest.mark.e2e

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
MAKE_CUSTOMER = """
from kefu.customers.services import ContactInput, SiteInput, customer_create
from kefu.tickets.services import ticket_create
from kefu.accounts.models import User
agent = User.objects.get(username="agent1")
c = customer_create(actor=None, name="欧阳静", code="E2E-PRIV-1", company="深圳湾物业",
                    contacts=[ContactInput(kind="phone", value="13912345678", is_primary=True),
                              ContactInput(kind="email", value="ouyang.jing@example.com")],
                    sites=[SiteInput(province="广东省", city="深圳市", address="南山区海德三道 126 号")])
ticket_create(actor=agent, subject="欧阳静家门禁卡失灵", description="住址：海德三道 126 号", customer=c)
print(c.pk)
"""


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def test_export_consent_erasure_and_approval(new_page: Any, sign_in: Any, screenshot: Any, server_env: Any,
                                             tmp_path: Path) -> None:
    customer_id = int(kefu_command(server_env, "shell", "-c", MAKE_CUSTOMER).strip().splitlines()[-1])

    # the agent records a consent given on a call
    page = new_page()
    sign_in(page, "agent1")
    page.goto(f"/customers/{customer_id}/")
    page.get_by_test_id("edit-consents").click()
    page.wait_for_url(re.compile(r"/consents/$"))
    phone_select = page.locator("[data-testid$='-marketing_sms']").first
    phone_select.select_option("yes")
    page.locator("[data-testid$='-survey']").first.select_option("no")
    page.get_by_test_id("consent-source").select_option("phone")
    page.fill("#id_note", "来电中口头同意，已录音")
    _keep(screenshot(page, "customer-consents-zh"), "customer-consents-zh")
    page.get_by_test_id("consent-save").click()
    page.wait_for_url(re.compile(rf"/customers/{customer_id}/$"))
    assert page.locator("[data-testid=consent-chip][data-purpose=marketing_sms][data-allowed='1']").count() == 1
    assert page.locator("[data-testid=consent-chip][data-purpose=survey][data-allowed='0']").count() >= 1
    assert page.get_by_test_id("personal-data-menu").count() == 0  # agents do not export personal data
    assert page.get_by_test_id("request-erasure").count() == 0
    assert not page.js_errors

    # the manager exports everything held about the customer, then files an erasure request
    page = new_page()
    sign_in(page, "manager")
    page.goto(f"/customers/{customer_id}/")
    page.get_by_test_id("personal-data-menu").locator("summary").click()
    _keep(screenshot(page, "customer-privacy-zh"), "customer-privacy-zh")
    with page.expect_download() as download:
        page.get_by_test_id("export-json").click()
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["contacts"][0]["value"] in ("13912345678", "ouyang.jing@example.com")  # unmasked
    assert document["work_orders"][0]["subject"] == "欧阳静家门禁卡失灵"
    with page.expect_download() as download:
        page.get_by_test_id("export-xlsx").click()  # the menu is still open
    assert download.value.suggested_filename.endswith(".xlsx")

    page.get_by_test_id("request-erasure").click()
    page.select_option("#id_asked_by", "customer")
    page.fill("#id_reason", "客户来电要求删除全部个人信息，已核对身份证后四位")
    _keep(screenshot(page, "customer-erasure-request-zh"), "customer-erasure-request-zh")
    page.get_by_test_id("erasure-submit").click()
    page.get_by_test_id("erasure-pending-banner").wait_for()
    # the requester cannot approve their own request
    page.get_by_test_id("erasure-pending-banner").get_by_role("link").click()
    page.get_by_test_id("own-request").wait_for()
    assert page.get_by_test_id("erasure-approve").count() == 0
    assert not page.js_errors

    # the administrator, a second person, approves it
    page = new_page()
    sign_in(page, "admin")
    page.goto("/admin/")
    page.get_by_role("link", name="删除申请").click()
    page.get_by_test_id("erasure-table").wait_for()
    _keep(screenshot(page, "admin-erasure-requests-zh"), "admin-erasure-requests-zh")
    page.locator("[data-testid=erasure-row][data-status=pending] a").first.click()
    page.get_by_test_id("erasure-decide").wait_for()
    _keep(screenshot(page, "admin-erasure-detail-zh"), "admin-erasure-detail-zh")
    page.fill("#id_note", "已核实，同意删除")
    page.get_by_test_id("erasure-approve").click()
    page.get_by_test_id("erasure-result").wait_for()
    assert page.get_by_test_id("erasure-status").inner_text().strip() == "已执行"
    page.goto(f"/customers/{customer_id}/")
    page.get_by_test_id("anonymised-banner").wait_for()
    assert "欧阳静" not in page.content()
    assert "13912345678" not in page.content()
    _keep(screenshot(page, "customer-anonymised-zh"), "customer-anonymised-zh")

    # the retention rules with what each would remove now
    page.goto("/admin/privacy/retention/")
    page.get_by_test_id("retention-table").wait_for()
    page.locator("[data-testid=retention-row][data-kind=closed_tickets] input[name=keep_days]").last.fill("30")
    page.get_by_test_id("retention-preview-closed_tickets").click()
    page.get_by_test_id("preview-result").wait_for()
    _keep(screenshot(page, "admin-retention-zh"), "admin-retention-zh")
    assert not page.js_errors
