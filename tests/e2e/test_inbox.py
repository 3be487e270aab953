"""The agent's inbox in a real browser: a customer's message arrives through an app's signed webhook and appears
in 待接入 without a reload; the agent picks it up, answers with a canned reply (typed "/", Enter inserts, Enter
sends; the app's outbound URL receives it), transfers it to the team lead with a note, and the team lead closes it
with a reason. Screenshots of the inbox in both languages go to docs/images/ (inbox-zh.png, inbox-en.png)."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import kefu_command, wait_for

pytestmark = pytest.mark.e2e

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SECRET = "e2e-inbox-secret"


class AppServer:
    """The app's own server: receives the agents' replies that Kefu's worker POSTs to the outbound URL."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kefu/replies"


@pytest.fixture(scope="module")
def app_server() -> Iterator[AppServer]:
    app = AppServer()
    thread = threading.Thread(target=app.server.serve_forever, daemon=True)
    thread.start()
    yield app
    app.server.shutdown()


@pytest.fixture(scope="module")
def app_channel(server: str, server_env: dict[str, str], app_server: AppServer) -> str:
    """A webhook channel of the first team (客服一组, agent1's and lead1's)."""
    kefu_command(server_env, "channel", "add", "webhook", "member-app", "--name", "会员 App", "--team", "客服一组",
                 "--secret", SECRET, "--outbound-url", app_server.url)
    return "member-app"


def post_message(base: str, code: str, *, external_id: str, name: str, text: str, phone: str = "") -> dict[str, Any]:
    """A customer's message as the app's server sends it: signed with the channel's secret."""
    customer = {"external_id": external_id, "name": name, **({"phone": phone} if phone else {})}
    body = json.dumps({"message_id": uuid.uuid4().hex, "customer": customer, "text": text,
                       "sent_at": time.strftime("%Y-%m-%dT%H:%M:%S+08:00")}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Kefu-Timestamp": timestamp,
               "X-Kefu-Signature": f"sha256={signature}"}
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1/inbound/{code}", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own local server
        return json.loads(answer.read())  # type: ignore[no-any-return]


SEED = """
from kefu.accounts.models import User
from kefu.conversations import services
from kefu.conversations.adapters.base import Identity, InboundMessage
from kefu.conversations.models import Channel
import json, uuid
channel = Channel.objects.get(code=%(code)r)
agent = User.objects.get(username=%(agent)r)
for name, phone, asked, replied in json.loads(%(specs)r):
    who = Identity("external", "seed-" + uuid.uuid4().hex[:8], name=name, phone=phone)
    received = services.message_receive(channel=channel, inbound=InboundMessage(
        external_id=uuid.uuid4().hex, identity=who, text=asked))
    if replied:
        services.conversation_claim(actor=agent, conversation=received.conversation)
        services.message_send(actor=agent, conversation=received.conversation, text=replied)
"""


def seed(env: dict[str, str], code: str, agent: str, specs: list[tuple[str, str, str, str]]) -> None:
    """Other customers' conversations, so that the inbox looks like a working day: (name, phone, what they asked,
    the agent's answer or "" to leave it waiting)."""
    kefu_command(env, "shell", "-c", SEED % {"code": code, "agent": agent,
                                             "specs": json.dumps(specs, ensure_ascii=False)})


DEMO_CUSTOMER = """
from kefu.customers.models import Customer
vips = Customer.objects.filter(is_vip=True, contacts__kind="phone", tickets__isnull=False).distinct()
c = vips.order_by("id").first()
print(c.name, c.contacts.filter(kind="phone").order_by("id").first().value)
"""


def demo_customer(env: dict[str, str]) -> tuple[str, str]:
    """A VIP of the demo company with orders (name, phone): the app's user is found by the phone."""
    name, phone = kefu_command(env, "shell", "-c", DEMO_CUSTOMER).strip().splitlines()[-1].split()
    return name, phone


def _live(page: Any) -> None:
    page.wait_for_function("document.body.dataset.liveState === 'open'")


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def _row(page: Any, name: str, conversation: int | None = None) -> Any:
    """The inbox row of a customer; of one conversation when given (the demo's customers may have others, from
    other tests on the same server)."""
    if conversation is not None:
        return page.locator(f'[data-testid=conv-row][data-conversation="{conversation}"]').filter(has_text=name)
    return page.get_by_test_id("conv-row").filter(has_text=name)


def test_a_conversation_from_the_app_is_picked_up_answered_transferred_and_closed(
        new_page: Any, sign_in: Any, screenshot: Any, server: str, server_env: dict[str, str], app_channel: str,
        app_server: AppServer) -> None:
    lead = new_page()
    sign_in(lead, "lead1")
    # the team lead keeps the team's canned replies
    lead.goto("/conversations/canned/")
    lead.fill("[data-testid=canned-shortcut]", "thanks")
    lead.fill("[data-testid=canned-title]", "致谢")
    lead.fill("[data-testid=canned-body]", "感谢您的耐心等待，已为您登记，我们会尽快处理。")
    lead.get_by_test_id("canned-submit").click()
    lead.get_by_test_id("canned-table").filter(has_text="/thanks").wait_for()

    agent = new_page()
    sign_in(agent, "agent1")
    agent.goto("/conversations/?view=waiting")
    _live(agent)
    customer, phone = demo_customer(server_env)
    external = f"u-{uuid.uuid4().hex[:8]}"
    answer = post_message(server, app_channel, external_id=external, name=customer, phone=phone,
                          text="你好，我的订单三天了还没发货，能帮忙查一下吗？")
    conversation_id = answer["conversation_id"]
    # live: the new conversation appears in 待接入 without a reload
    _row(agent, customer, conversation_id).wait_for()
    assert "待接入" in _row(agent, customer, conversation_id).inner_text()

    _row(agent, customer, conversation_id).locator("a[data-open]").click()
    agent.get_by_test_id("conv-pane").filter(has_text="还没发货").wait_for()
    agent.get_by_test_id("conv-claim").click()
    agent.get_by_test_id("flash").filter(has_text="已接入会话").wait_for()
    assert "李娜" in agent.get_by_test_id("pane-assignee").inner_text()

    # a canned reply: "/" opens the list filtered as one types, Enter inserts, Enter sends
    composer = agent.get_by_test_id("composer")
    composer.click()
    composer.type("/tha")
    agent.locator("[data-testid=canned-menu]:not([hidden])").wait_for()
    assert "致谢" in agent.get_by_test_id("canned-menu").inner_text()
    composer.press("Enter")
    assert composer.input_value() == "感谢您的耐心等待，已为您登记，我们会尽快处理。"
    composer.press("Enter")
    mine = agent.get_by_test_id("message").filter(has_text="感谢您的耐心等待")
    mine.wait_for()
    agent.wait_for_function("[...document.querySelectorAll('[data-testid=message]')].some(m => "
                            "m.textContent.includes('感谢您的耐心等待') && m.dataset.seq && "
                            "!m.classList.contains('pending'))")
    assert composer.input_value() == ""
    # the worker posts it to the app, and the delivery state follows
    wait_for(lambda: any(r["text"].startswith("感谢您的耐心等待") for r in app_server.received),
             "the reply posted to the app's outbound URL")
    mine.locator(".state-sent").wait_for()
    # the customer answers: it appears in the open conversation, the typing hint gone
    post_message(server, app_channel, external_id=external, name=customer, text="好的，麻烦尽快，谢谢！")
    agent.get_by_test_id("message").filter(has_text="麻烦尽快").wait_for()
    composer.fill("已联系仓库，今天下午发出，快递单号稍后短信通知您。")
    composer.press("Enter")
    agent.get_by_test_id("message").filter(has_text="快递单号").locator(".state-sent").wait_for()

    # the inbox as the agent sees it during the day
    seed(server_env, app_channel, "agent1", [
        ("陈晓梅", "13712340001", "空调遥控器失灵，可以寄一个新的吗？",
         "可以的，请提供一下收货地址，我们免费为您补寄。"),
        ("黄子轩", "13712340004", "预约的上门安装能改到周六吗？", "可以，已为您改到本周六上午 9:00–12:00。"),
        ("刘洋", "13712340002", "会员积分什么时候到账？", ""),
        ("周静", "13712340003", "发票抬头写错了，能重开吗？", ""),
    ])
    agent.goto(f"/conversations/{conversation_id}/?view=mine")
    _live(agent)
    agent.get_by_test_id("conv-side").get_by_test_id("customer-card").wait_for()
    assert agent.get_by_test_id("conv-row").count() >= 2
    _keep(screenshot(agent, "inbox-zh"), "inbox-zh")

    # transfer to the team lead, with a note
    agent.get_by_test_id("conv-transfer").click()
    agent.get_by_test_id("transfer-target").select_option(label="王芳")
    agent.get_by_test_id("transfer-note").fill("客户催发货，请组长跟进物流")
    agent.get_by_test_id("transfer-submit").click()
    agent.get_by_test_id("flash").filter(has_text="已转接给 王芳").wait_for()

    # the team lead finds it in "mine" and closes it with a reason
    lead.goto("/conversations/?view=mine")
    _live(lead)
    _row(lead, customer, conversation_id).locator("a[data-open]").click()
    lead.get_by_test_id("conv-pane").filter(has_text="感谢您的耐心等待").wait_for()
    lead.get_by_test_id("conv-close").click()
    lead.get_by_test_id("close-reason").select_option("resolved")
    lead.get_by_test_id("close-note").fill("已催仓库今日发货")
    lead.get_by_test_id("close-submit").click()
    lead.get_by_test_id("composer-closed").filter(has_text="问题已解决").wait_for()
    lead.goto("/conversations/?view=closed")
    _row(lead, customer, conversation_id).wait_for()
    link = _row(lead, customer, conversation_id).locator("a[data-open]").get_attribute("href")
    assert f"/conversations/{conversation_id}/" in str(link)
    assert not agent.js_errors
    assert not lead.js_errors


def test_the_inbox_in_english(new_page: Any, sign_in: Any, screenshot: Any, server: str,
                              server_env: dict[str, str], app_channel: str) -> None:
    seed(server_env, app_channel, "agent2", [
        ("Daniel Wu", "13712340011", "Can I change the delivery address of my order?",
         "Of course. Please send me the new address and I will update the order."),
        ("Sophie Lin", "13712340012", "Do you install on weekends?", ""),
    ])
    customer = "Emily Chen"
    answer = post_message(server, app_channel, external_id=f"u-{uuid.uuid4().hex[:8]}", name=customer,
                          phone="13800001111",
                          text="Hi, I ordered a replacement filter last week (order A1024) and it hasn't shipped yet.")
    page = new_page()
    sign_in(page, "agent2", "en")
    page.goto("/conversations/?view=waiting")
    _live(page)
    _row(page, customer).locator("a[data-open]").click()
    page.get_by_test_id("conv-claim").click()
    page.get_by_test_id("flash").wait_for()
    composer = page.get_by_test_id("composer")
    composer.fill("Sorry for the wait, Emily. Let me check with the warehouse for you right away.")
    composer.press("Enter")
    page.wait_for_function("[...document.querySelectorAll('[data-testid=message]')].some(m => "
                           "m.textContent.includes('Sorry for the wait') && m.dataset.seq)")
    page.get_by_test_id("message").filter(has_text="Sorry for the wait").locator(".state-sent").wait_for()
    page.goto(f"/conversations/{answer['conversation_id']}/?view=mine")
    _live(page)
    page.get_by_test_id("conv-side").get_by_test_id("customer-card").wait_for()
    _keep(screenshot(page, "inbox-en"), "inbox-en")
    assert not page.js_errors
