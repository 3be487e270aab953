"""Screen pop in a real browser: the PBX reports a call through the CTI API (offered, queued, ringing at agent1),
and agent1's open page pops the caller's card — the demo VIP their number belongs to, with open orders — and
makes an order for them in one step. The card is also shown in English; screenshots go to docs/images."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import kefu_command

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

PBX_TOKEN = """
from kefu.accounts.models import User
from kefu.accounts.services import api_token_create
print(api_token_create(actor=User.objects.get(username="admin"), name="PBX", scopes=["telephony"]).key)
"""

DEMO_CUSTOMER = """
from kefu.customers.models import Customer
vips = Customer.objects.filter(is_vip=True, contacts__kind="phone", tickets__isnull=False).distinct()
c = vips.order_by("id").first()
print(c.name, c.contacts.filter(kind="phone").order_by("id").first().value)
"""


# The wallboard test's own phone queue: other browser tests put calls in the hotline and end them on the same
# server at the same time, which moved the hotline's count under this test's feet.
WALLBOARD_QUEUE = """
from kefu.accounts.models import User
from kefu.routing.models import Queue
from kefu.routing.services import QueueData, queue_create
if not Queue.objects.filter(code="complaints").exists():
    queue_create(actor=User.objects.get(username="admin"), data=QueueData(code="complaints", name="投诉专线"))
"""


@pytest.fixture(scope="module")
def pbx_token(server: str, server_env: dict[str, str]) -> str:
    return kefu_command(server_env, "shell", "-c", PBX_TOKEN).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def complaints_queue(server: str, server_env: dict[str, str]) -> str:
    kefu_command(server_env, "shell", "-c", WALLBOARD_QUEUE)
    return "complaints"


def cti(base: str, token: str, call_id: str, event: str, caller: str, **extra: str) -> dict[str, Any]:
    body = json.dumps({"call_id": call_id, "event": event, "at": datetime.now(tz=UTC).isoformat(),
                       "caller": caller, "called": "4008001234", "queue": "hotline", **extra}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1/cti/events", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own local server
        return json.loads(answer.read())  # type: ignore[no-any-return]


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_ringing_call_pops_the_callers_card(new_page: Any, sign_in: Any, screenshot: Any, server: str,
                                              server_env: dict[str, str], pbx_token: str, language: str) -> None:
    name, phone = kefu_command(server_env, "shell", "-c", DEMO_CUSTOMER).strip().splitlines()[-1].split()
    page = new_page()
    sign_in(page, "agent1", language)
    page.goto("/")
    page.wait_for_function("document.body.dataset.liveState === 'open'")
    call_id = f"e2e-{uuid.uuid4().hex[:8]}"
    cti(server, pbx_token, call_id, "offered", phone)
    cti(server, pbx_token, call_id, "queued", phone)
    rang = time.monotonic()
    cti(server, pbx_token, call_id, "ringing", phone, agent="agent1")
    pop = page.get_by_test_id("screen-pop")
    pop.wait_for(timeout=15_000)
    print(f"screen pop shown {time.monotonic() - rang:.2f} s after the ringing event was posted")
    assert page.get_by_test_id("screen-pop-customer").inner_text() == name
    assert phone in page.get_by_test_id("screen-pop-number").inner_text().replace(" ", "")
    suffix = "zh" if language == "zh-hans" else "en"
    _keep(screenshot(page, f"screen-pop-{suffix}"), f"screen-pop-{suffix}")
    if language == "en":
        assert "Open orders" in pop.inner_text()
        return
    page.get_by_test_id("screen-pop-ticket").click()
    page.wait_for_url(lambda url: "/tickets/new/" in url)
    assert name in page.content()  # the order form has the caller's record chosen


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_wallboard_follows_the_floor_live(new_page: Any, sign_in: Any, screenshot: Any, server: str,
                                              pbx_token: str, complaints_queue: str, language: str) -> None:
    """A team lead's wallboard: a call joining a queue of no team (whose calls the lead does not see) shows as
    waiting without a reload, within seconds (the page also reads its figures every 15 s, longer than the wait)."""
    page = new_page()
    sign_in(page, "lead1", language)
    page.goto("/wallboard/")
    page.wait_for_function("document.body.dataset.boardState === 'joined'")  # it hears every queue's changes
    row = page.locator(f"[data-testid=wb-queue][data-queue={complaints_queue}]")
    before = int(row.get_by_test_id("wb-waiting").inner_text())
    call_id = f"wb-{uuid.uuid4().hex[:8]}"
    cti(server, pbx_token, call_id, "queued", "13900000000", queue=complaints_queue)
    page.wait_for_function(
        "([queue, n]) => Number(document.querySelector(`[data-queue=${queue}] [data-testid=wb-waiting]`)"
        ".textContent) > n", arg=[complaints_queue, before], timeout=10_000)
    suffix = "zh" if language == "zh-hans" else "en"
    _keep(screenshot(page, f"wallboard-{suffix}"), f"wallboard-{suffix}")
    cti(server, pbx_token, call_id, "abandoned", "13900000000", queue=complaints_queue)  # leave it empty again
