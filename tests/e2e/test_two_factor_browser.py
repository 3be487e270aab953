"""Two-factor sign-in in a real browser: an administrator sets up an authenticator (the test "scans" the QR code by
reading the secret shown beside it and computes the codes an authenticator app would show), keeps the recovery
codes, signs out, signs in again through the second step, and opens the sign-in security page. Screenshots of the
setup, recovery-code, second-step and administration pages (zh-hans) go to docs/images/."""

from __future__ import annotations

import re
import shutil
import time
from base64 import b32decode
from pathlib import Path
from typing import Any

import pytest
from django_otp.oath import TOTP

from tests.e2e.conftest import kefu_command, wait_for

pytestmark = pytest.mark.e2e
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
USERNAME = "secadmin"
PASSWORD = "Sec-Admin-2026!"


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def _code(secret: str, at: float) -> str:
    """What an authenticator app shows for `secret` at the time `at` (the server accepts one step either side)."""
    clean = re.sub(r"\s", "", secret)
    totp = TOTP(b32decode(clean + "=" * (-len(clean) % 8)), step=30, t0=0, digits=6)
    totp.time = at
    return f"{totp.token():06d}"


def test_an_administrator_sets_up_two_factor_and_signs_in_with_it(new_page: Any, server: str,
                                                                   server_env: dict[str, str],
                                                                   screenshot: Any) -> None:
    kefu_command(server_env, "createadmin", "--username", USERNAME, "--password", PASSWORD)
    page = new_page()
    page.goto("/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url(lambda url: "/login/" not in url)

    page.goto("/account/two-factor/")
    page.get_by_test_id("two-factor-off").wait_for()
    page.get_by_test_id("two-factor-setup").click()
    page.get_by_test_id("setup-qr").wait_for()
    assert page.locator("[data-testid=setup-qr] svg").count() == 1
    _keep(screenshot(page, "two-factor-setup-zh"), "two-factor-setup-zh")
    secret = page.get_by_test_id("setup-secret").inner_text()  # what scanning the QR code gives the app

    # a wrong code first: refused on the page, nothing enabled
    right = _code(secret, time.time())
    page.fill("[data-testid=setup-code]", "000000" if right != "000000" else "111111")
    page.get_by_test_id("setup-submit").click()
    page.get_by_test_id("setup-error").wait_for()
    # django-otp's throttle refuses any code for a second after a wrong one: try until the page accepts it

    def accepted() -> bool:
        page.fill("[data-testid=setup-code]", _code(secret, time.time()))
        page.get_by_test_id("setup-submit").click()
        page.wait_for_load_state("networkidle")
        return page.get_by_test_id("recovery-codes").count() > 0

    wait_for(accepted, "the authenticator's code accepted")
    enrolled_at = time.time()
    codes = page.get_by_test_id("recovery-codes").inner_text().split()
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    _keep(screenshot(page, "two-factor-recovery-codes-zh"), "two-factor-recovery-codes-zh")
    page.get_by_test_id("recovery-codes-done").click()

    # sign out, sign in again: the password step leads to the second step
    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url(re.compile(r"/account/two-factor/verify/"))
    page.get_by_test_id("verify-form").wait_for()
    _keep(screenshot(page, "two-factor-verify-zh"), "two-factor-verify-zh")
    # a page asked for directly is refused until the second step is done
    page.goto("/tickets/")
    page.wait_for_url(re.compile(r"/account/two-factor/verify/"))
    # the code of the step after the one used at enrolment (a code is accepted once)
    # (the next step's while it is still the enrolment's step, else the current one: the test may have been slow)
    page.fill("[data-testid=verify-code]", _code(secret, max(time.time(), enrolled_at + 30)))
    page.get_by_test_id("verify-submit").click()
    page.wait_for_url(re.compile(r"/tickets/"))

    page.goto("/admin/two-factor/")
    page.get_by_test_id("two-factor-rules").wait_for()
    row = page.get_by_test_id(f"person-{USERNAME}").inner_text()
    assert "已设置" in row
    _keep(screenshot(page, "admin-two-factor-zh", full_page=True), "admin-two-factor-zh")
    assert not page.js_errors, page.js_errors
