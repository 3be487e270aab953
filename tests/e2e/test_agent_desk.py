"""The agent's desktop in a real browser: agent1 goes on a break and back to available with the header's switch; a
VIP's chat and then a VIP's call wait in routed queues that only agent1 is skilled for; each offer pops up on the
desk page with its countdown running, is accepted, and the contact shows under the live contacts (the chat opens
its conversation, the call pops the caller's card). Declining puts the contact back in line. Screenshots of the
desk with an offer and a live contact go to docs/images, in both languages."""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import kefu_command

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

# Two routed queues of agent1's team that only agent1 is skilled for (nobody else is offered their contacts; the
# team's agents see the queue's calls, so the caller's card opens), a chat channel whose
# conversations wait in the chat queue, and a PBX token for the CTI API. Idempotent: both languages run it.
SETUP = """
from kefu.accounts.models import AgentSkill, Skill, Team, User
from kefu.accounts.services import api_token_create
from kefu.conversations.models import Channel
from kefu.conversations.services import channel_create
from kefu.routing.models import Queue
from kefu.routing.services import QueueData, queue_create

admin = User.objects.get(username="admin")
skill, _ = Skill.objects.get_or_create(code="vip-service", defaults={"name": "大客户服务"})
AgentSkill.objects.get_or_create(user=User.objects.get(username="agent1"), skill=skill, defaults={"proficiency": 4})
for code, name, kind in (("vip-line", "VIP 专线", "phone"), ("vip-chat", "VIP 在线咨询", "chat")):
    if not Queue.objects.filter(code=code).exists():
        queue_create(actor=admin, data=QueueData(code=code, name=name, kind=kind, routed=True, offer_seconds=120,
                                                 team=Team.objects.get(name="客服一组"), skills=((skill, 3),)))
if not Channel.objects.filter(code="vip-chat").exists():
    channel_create(actor=admin, kind="chat", code="vip-chat", name="VIP 在线咨询", config={"allowed_origins": ["*"]},
                   secrets_={"identity_secret": "e2e-desk-" + "x" * 32}, queue=Queue.objects.get(code="vip-chat"))
print(api_token_create(actor=admin, name="PBX desk", scopes=["telephony"]).key)
"""

VIPS = """
from kefu.customers.models import Customer
vips = Customer.objects.filter(is_vip=True, contacts__kind="phone").distinct().order_by("id")[:2]
print(json.dumps([[c.name, c.contacts.filter(kind="phone").order_by("id").first().value] for c in vips]))
"""

CHAT_IN = """
from kefu.conversations.adapters.base import Identity, InboundMessage
from kefu.conversations.models import Channel
from kefu.conversations.services import message_receive
got = message_receive(channel=Channel.objects.get(code="vip-chat"), inbound=InboundMessage(
    external_id="{message}", identity=Identity(kind="external", value="{visitor}", name="{name}"),
    text="你好，我家的净水器滤芯需要更换，可以预约上门吗？"))
print(got.conversation.pk)
"""

TIDY = """
from kefu.accounts.models import User
from kefu.conversations.models import Conversation
from kefu.conversations.services import conversation_close
from kefu.routing.services import ROUTING, StateChange, agent_state_set
agent = User.objects.get(username="agent1")
for pk in {conversations}:
    conversation = Conversation.objects.get(pk=pk)
    if conversation.status != "closed":
        conversation_close(actor=agent, conversation=conversation, reason="resolved")
agent_state_set(actor=ROUTING, user=agent, change=StateChange(state="available", source="system"))
"""


@pytest.fixture(scope="module")
def floor(server: str, server_env: dict[str, str]) -> dict[str, Any]:
    token = kefu_command(server_env, "shell", "-c", SETUP).strip().splitlines()[-1]
    vips = json.loads(kefu_command(server_env, "shell", "-c", "import json\n" + VIPS).strip().splitlines()[-1])
    return {"token": token, "vips": vips}


def cti(base: str, token: str, call_id: str, event: str, caller: str, *, ago: float = 0, **extra: str) -> None:
    at = datetime.now(tz=UTC) - timedelta(seconds=ago)
    body = json.dumps({"call_id": call_id, "event": event, "at": at.isoformat(),
                       "caller": caller, "called": "4008001234", "queue": "vip-line", **extra}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1/cti/events", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own local server
        pass


def chat_in(env: dict[str, str], name: str) -> int:
    script = CHAT_IN.replace("{message}", uuid.uuid4().hex).replace("{visitor}", uuid.uuid4().hex[:12]) \
        .replace("{name}", name)
    return int(kefu_command(env, "shell", "-c", script).strip().splitlines()[-1])


def set_state(page: Any, state: str) -> None:
    page.get_by_test_id("state-button").click()
    page.get_by_test_id(f"state-option-{state}").click()
    page.wait_for_selector(f"#state-switch [data-state={state}]")


def countdown_runs(page: Any) -> None:
    """The offer's countdown is counting down (a condition, not a time)."""
    card = page.locator("#offer-holder [data-testid=offer-card]")
    start = int(card.get_by_test_id("offer-countdown").inner_text())
    assert 0 < start <= 120
    page.wait_for_function(
        "n => Number(document.querySelector('#offer-holder [data-testid=offer-countdown]').textContent) < n",
        arg=start)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_an_agent_takes_a_chat_and_a_call_from_the_desk(new_page: Any, sign_in: Any, screenshot: Any,
                                                        server: str, server_env: dict[str, str],
                                                        floor: dict[str, Any], language: str) -> None:
    (call_name, call_phone), (chat_name, _phone) = floor["vips"][0], floor["vips"][-1]
    page = new_page()
    sign_in(page, "agent1", language)
    page.goto("/")
    page.get_by_test_id("nav-desk").click()
    page.wait_for_url(lambda url: url.endswith("/desk/"))
    page.wait_for_function("document.body.dataset.liveState === 'open'")

    # the header's switch: a break with its reason, then back to available
    page.get_by_test_id("state-button").click()
    page.get_by_test_id("state-note").fill("喝口水" if language == "zh-hans" else "Coffee")
    screenshot(page, f"agent-desktop-state-menu-{language}")
    page.get_by_test_id("state-option-break").click()
    page.wait_for_selector("#state-switch [data-state=break]")
    page.wait_for_selector("[data-testid=desk-state].state-break")  # the desk follows the agent's own event
    set_state(page, "available")
    page.wait_for_selector("[data-testid=desk-state].state-available")

    # a chat: offered, counting down, accepted → its conversation opens; back on the desk it is a live contact
    conversation = chat_in(server_env, chat_name)
    card = page.locator("#offer-holder [data-testid=offer-card]")
    card.wait_for()
    assert chat_name in card.get_by_test_id("offer-customer").inner_text()
    countdown_runs(page)
    card.get_by_test_id("offer-accept").click()
    page.wait_for_url(lambda url: f"/conversations/{conversation}/" in url)
    page.goto("/desk/")
    page.wait_for_function("document.body.dataset.liveState === 'open'")
    live = page.locator(f"[data-testid=desk-live-row][data-ref='conversation:{conversation}']")
    live.wait_for()
    assert chat_name in live.inner_text()

    # a VIP's call while the chat goes on: the offer pops up with the VIP badge
    call_id = f"desk-{uuid.uuid4().hex[:8]}"
    cti(server, floor["token"], call_id, "offered", call_phone, ago=46)  # through the voice menu first
    cti(server, floor["token"], call_id, "queued", call_phone, ago=38)
    card.wait_for()
    assert call_name in card.get_by_test_id("offer-customer").inner_text()
    assert card.get_by_test_id("offer-vip").is_visible()
    countdown_runs(page)
    suffix = "zh" if language == "zh-hans" else "en"
    shot = screenshot(page, f"agent-desktop-{suffix}")
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, DOCS_IMAGES / f"agent-desktop-{suffix}.png")

    # accepted: the caller's card pops, and the call joins the live contacts
    card.get_by_test_id("offer-accept").click()
    page.get_by_test_id("screen-pop").wait_for()
    assert page.get_by_test_id("screen-pop-customer").inner_text() == call_name
    page.locator(f"[data-testid=desk-live-row][data-ref='call:{call_id}']").wait_for()
    page.wait_for_selector("#state-switch [data-state=on_contact]")
    assert not page.js_errors, page.js_errors

    cti(server, floor["token"], call_id, "ended", call_phone)  # leave agent1 as the demo had them
    kefu_command(server_env, "shell", "-c", TIDY.replace("{conversations}", f"[{conversation}]"))


def test_a_declined_call_goes_back_in_line(new_page: Any, sign_in: Any, screenshot: Any, server: str,
                                           server_env: dict[str, str], floor: dict[str, Any]) -> None:
    _name, phone = floor["vips"][0]
    page = new_page()
    sign_in(page, "agent1")
    page.goto("/customers/")  # the offer pops up on any page, not only the desk
    page.wait_for_function("document.body.dataset.liveState === 'open'")
    set_state(page, "available")
    call_id = f"decline-{uuid.uuid4().hex[:8]}"
    cti(server, floor["token"], call_id, "offered", phone)
    cti(server, floor["token"], call_id, "queued", phone)
    card = page.locator("#offer-holder [data-testid=offer-card]")
    card.wait_for()
    page.reload()  # an open offer is read with the page: a reload loses nothing
    card.wait_for()
    countdown_runs(page)
    screenshot(page, "agent-desktop-popup-zh")
    card.get_by_test_id("offer-decline").click()
    page.get_by_test_id("offer-notice").wait_for()
    screenshot(page, "agent-desktop-declined-zh")  # for a look at the pop-up over another page
    assert card.count() == 0
    page.goto("/desk/")
    waiting = page.locator("[data-testid=desk-queue][data-queue=vip-line] [data-testid=desk-queue-waiting]")
    assert waiting.inner_text() == "1"  # back in line (agent1 is not offered it again for a minute)
    assert page.get_by_test_id("offer-empty").is_visible()
    assert not page.js_errors, page.js_errors
    cti(server, floor["token"], call_id, "abandoned", phone)
    kefu_command(server_env, "shell", "-c", TIDY.replace("{conversations}", "[]"))
