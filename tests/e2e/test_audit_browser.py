"""The audit viewer in the browser, over the demo company: an agent reveals a customer's contacts; the quality
inspector (who sees numbers masked) tries a part of that number — nothing — then the whole number, which finds
the customer; the manager then finds both in the audit log, filtered by action and by person, opens a row and
exports the filtered rows. Screenshots in both languages (docs/images/admin-audit-*.png)."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _publish(path: Path) -> None:
    DOCS_IMAGES.mkdir(exist_ok=True)
    shutil.copy(path, DOCS_IMAGES / path.name)


def test_the_audit_viewer_finds_reveals_and_lookups(new_page: Any, sign_in: Any, screenshot: Any) -> None:
    agent = new_page()
    sign_in(agent, "agent1")
    agent.goto("/customers/")
    # the first customer with a phone number to reveal (other browser tests sharing the server bring forward customers
    # they served, some known by a company name only)
    links = [a.get_attribute("href") for a in agent.get_by_test_id("customer-table").locator("tbody a").all()]
    for href in dict.fromkeys(links):
        agent.goto(href)
        values = agent.get_by_test_id("contact-value")
        if agent.get_by_test_id("reveal").count() and values.count() and "@" not in values.first.inner_text():
            break  # a phone number first
    customer_name = agent.get_by_test_id("customer-name").inner_text()
    agent.get_by_test_id("reveal").click()
    agent.get_by_test_id("contact-value").first.wait_for()
    agent.wait_for_function("() => !document.querySelector('[data-testid=contact-value]').textContent.includes('*')")
    phone = agent.get_by_test_id("contact-value").first.inner_text().strip()
    assert phone.isdigit(), phone

    qa = new_page()
    sign_in(qa, "qa")
    qa.goto(f"/customers/?q={phone[:10]}")  # all but the last digit
    assert customer_name not in qa.locator("main").inner_text()  # a part of the number finds no one
    qa.goto(f"/customers/?q={phone}")
    qa.get_by_test_id("customer-table").get_by_text(customer_name).first.wait_for()
    assert phone not in qa.locator("main").inner_text()  # still masked in the list

    manager = new_page()
    sign_in(manager, "manager")
    manager.goto("/admin/")
    manager.get_by_role("link", name=re.compile("审计日志")).click()
    manager.wait_for_url("**/admin/audit/")
    manager.get_by_test_id("audit-table").wait_for()
    manager.select_option("[data-testid=audit-action]", "personal_data.looked_up")
    manager.get_by_test_id("audit-apply").click()
    manager.wait_for_url(re.compile(r"action=personal_data"))
    rows = manager.get_by_test_id("audit-row")
    assert rows.count() == 2
    table = manager.get_by_test_id("audit-table").inner_text()
    assert "按完整电话查找" in table
    assert "按部分电话查找" in table
    assert phone not in manager.content()  # the audit log holds masked values only
    path = screenshot(manager, "admin-audit-zh")
    _publish(path)

    inspector = rows.first.locator("td").nth(1).inner_text().strip()  # the 质检 persona's name
    manager.select_option("[data-testid=audit-action]", "")
    manager.select_option("[data-testid=audit-actor]", label=inspector)
    manager.get_by_test_id("audit-apply").click()
    manager.wait_for_url(re.compile(r"actor=\d+"))
    # what the inspector did: her sign-in and her two searches
    done = [row.inner_text() for row in manager.get_by_test_id("audit-row").all()]
    assert sum("查找" in row for row in done) == 2, done

    manager.goto("/admin/audit/?action=customer.viewed_unmasked")
    manager.get_by_test_id("audit-row").first.wait_for()
    assert "查看完整个人信息" in manager.get_by_test_id("audit-table").inner_text()
    manager.get_by_test_id("audit-open").first.click()
    manager.get_by_test_id("audit-detail").wait_for()
    assert "contacts" in manager.get_by_test_id("audit-data").inner_text()
    _publish(screenshot(manager, "admin-audit-detail-zh"))
    manager.get_by_test_id("audit-back").click()
    manager.wait_for_url(re.compile(r"/admin/audit/\?action=customer.viewed_unmasked"))

    with manager.expect_download() as download:
        manager.get_by_test_id("audit-export").click()
    import openpyxl

    data = Path(download.value.path()).read_bytes()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert {row[3] for row in list(sheet.iter_rows(values_only=True))[1:]} == {"customer.viewed_unmasked"}

    english = new_page()
    sign_in(english, "manager", "en")
    english.goto("/admin/audit/?action=personal_data.*")
    english.get_by_test_id("audit-row").first.wait_for()
    text = english.locator("main").inner_text()
    assert "Looked up by whole phone" in text
    assert "Audit log" in english.locator("h1").inner_text()
    assert "All actions" in english.locator("[data-testid=audit-action]").inner_text()
    assert "Viewed unmasked personal data" in english.locator("[data-testid=audit-action]").inner_text()
    _publish(screenshot(english, "admin-audit-en"))
    for page in (agent, qa, manager, english):
        assert not page.js_errors, page.js_errors
