"""Sign-in protection and one's own account security in a real browser on the demo data: ten wrong passwords lock an
account, the sign-in page says until when (both languages), the administrator sees the lock and lifts it; a person
signed in on two browsers creates a scoped API token (shown once, and it works), and signs the other browser out.
Screenshots in both languages go to docs/images/."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def _api(server: str, method: str, path: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call the API with the token alone, as an integration would (no browser cookies)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server}/api/v1{path}", data=data, method=method, headers={  # noqa: S310
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local test server
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def _try(page: Any, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state("domcontentloaded")


def test_a_locked_account_is_told_until_when_and_an_administrator_unlocks_it(new_page: Any, sign_in: Any,
                                                                             screenshot: Any) -> None:
    page = new_page()
    page.goto("/login/")
    for n in range(10):
        _try(page, "agent9", f"not-the-password-{n}")
    box = page.get_by_role("alert")
    text = box.inner_text()
    assert "此账号已临时锁定" in text, text
    assert re.search(r"\d\d:\d\d", text), text
    _keep(screenshot(page, "signin-locked-zh"), "signin-locked-zh")
    _try(page, "agent9", DEMO_PASSWORD)  # the right password: still locked
    assert "/login/" in page.url
    assert "此账号已临时锁定" in page.get_by_role("alert").inner_text()

    page.get_by_role("button", name="English").click()
    page.wait_for_load_state("domcontentloaded")
    _try(page, "agent9", DEMO_PASSWORD)
    english = page.get_by_role("alert").inner_text()
    assert "temporarily locked" in english, english
    assert re.search(r"\d\d:\d\d", english), english
    _keep(screenshot(page, "signin-locked-en"), "signin-locked-en")

    admin = new_page()
    sign_in(admin, "admin")
    admin.goto("/admin/")
    admin.get_by_role("link", name=re.compile("登录安全")).click()
    row = admin.get_by_test_id("lock-row").filter(has_text="agent9")
    assert row.count() == 1
    _keep(screenshot(admin, "admin-security-zh"), "admin-security-zh")
    row.get_by_test_id("unlock").click()
    admin.wait_for_load_state("domcontentloaded")
    assert "已解除" in admin.locator(".flash").first.inner_text()
    assert admin.get_by_test_id("lock-row").filter(has_text="agent9").count() == 0

    again = new_page()
    sign_in(again, "agent9")
    assert "/login/" not in again.url
    assert not page.js_errors
    assert not admin.js_errors
    assert not again.js_errors


@pytest.mark.parametrize(("language", "suffix"), [("zh-hans", "zh"), ("en", "en")])
def test_the_security_page_creates_a_token_and_signs_out_the_other_browser(new_page: Any, sign_in: Any,
                                                                           screenshot: Any, server: str,
                                                                           language: str, suffix: str) -> None:
    user = "agent14" if suffix == "zh" else "agent15"
    elsewhere = new_page()
    sign_in(elsewhere, user)
    page = new_page()
    sign_in(page, user, language)
    switch = page.get_by_test_id("lang-switch")
    if switch.inner_text().strip() != ("English" if language == "zh-hans" else "简体中文"):
        switch.click()
        page.wait_for_function("document.querySelector('[data-testid=lang-switch]')?.innerText.trim() === "
                               + ("'English'" if language == "zh-hans" else "'简体中文'"))
    page.get_by_test_id("account-security").click()
    page.wait_for_url("**/account/security/")
    assert page.get_by_test_id("session-row").count() == 2
    assert page.get_by_test_id("this-device").count() == 1

    page.fill("[data-testid=token-name]", "CRM 同步" if suffix == "zh" else "CRM sync")
    page.check("[data-testid=scope-tickets]")
    page.select_option("[data-testid=token-days]", "180")
    page.click("[data-testid=token-create]")
    page.wait_for_load_state("domcontentloaded")
    key = page.get_by_test_id("token-key").input_value()
    assert key.startswith("kefu_")
    assert page.get_by_test_id("token-row").count() == 1
    _keep(screenshot(page, f"account-security-{suffix}", full_page=True), f"account-security-{suffix}")

    status, me = _api(server, "GET", "/me", key)
    assert status == 200
    assert me["username"] == user
    status, refused = _api(server, "POST", "/customers", key, {"name": "王五"})
    assert status == 403
    assert refused["code"] == "scope_missing"

    page.goto("/account/security/")
    assert page.get_by_test_id("token-key").count() == 0  # shown once
    page.click("[data-testid=end-others]")
    page.wait_for_load_state("domcontentloaded")
    assert page.get_by_test_id("session-row").count() == 1
    elsewhere.goto("/")
    assert "/login/" in elsewhere.url

    page.get_by_test_id("revoke-token").click()
    page.wait_for_load_state("domcontentloaded")
    assert _api(server, "GET", "/me", key)[0] == 401
    assert not page.js_errors
    assert not elsewhere.js_errors
