"""The chat widget in a real browser: a customer on a host site (another origin, another site: localhost against
Kefu's 127.0.0.1) that embeds the widget with one script tag, and an agent signed in to Kefu in another browser
context, working through /api/v1/conversations with the session (the inbox page is another part of issue #9).

Widget → pre-chat form → the agent picks up → messages both ways, an image from the customer → a reload resumes the
history → the agent closes → the customer's rating is stored. Also: leave-a-message when nobody can answer (a work
order at once), and a site the channel does not allow cannot frame the chat. Screenshots of the widget at desktop
and phone width in both languages go to docs/images/chat-widget-*.png."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import shutil
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import _free_port, kefu_command, wait_for

pytestmark = pytest.mark.e2e

HOST_PAGES = Path(__file__).resolve().parent / "widget_host"  # index.html (Chinese), index.en.html
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"

# What the people say, in each language (the screenshots show a plausible conversation).
SCRIPT = {
    "zh-hans": {
        "name": "王女士", "question": "你好，我家厨房水管漏水了，能安排师傅上门吗？",
        "reply": "您好王女士，我是客服李娜。请问您的房号是多少？方便的话发张漏水处的照片给我。",
        "answer": "3 栋 1202 室\n下午 3 点后家里有人。", "photo": "漏水照片.png",
        "confirm": "收到照片，已为您安排维修师傅今天下午 3 点半上门，请保持电话畅通。",
        "comment": "回复很快，安排得很周到！", "leave": "周末家里停电了，麻烦尽快联系我。",
    },
    "en": {
        "name": "Ms Wang", "question": "Hello, the pipe under my kitchen sink is leaking. Could you send someone?",
        "reply": "Hello Ms Wang, this is Li Na. What is your flat number? A photo of the leak would help.",
        "answer": "Block 3, flat 1202\nSomeone is home after 3 pm.", "photo": "leak.png",
        "confirm": "Thanks for the photo. A plumber will come at 3:30 pm today; please keep your phone at hand.",
        "comment": "Quick and friendly, thank you!", "leave": "The power is out in my flat this weekend.",
    },
}


class HostSite:
    """A web site of the customer's company on its own origin, embedding the widget: GET /?code=…&lang=…"""

    def __init__(self, kefu: str) -> None:
        self.kefu = kefu
        templates = {lang: (HOST_PAGES / name).read_text(encoding="utf-8")
                     for lang, name in (("zh-hans", "index.html"), ("en", "index.en.html"))}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                code = (query.get("code") or ["web"])[0]
                lang = (query.get("lang") or [""])[0]
                attrs = f'data-lang="{lang}"' if lang else ""
                template = templates["en" if lang == "en" else "zh-hans"]
                body = template.replace("__KEFU__", kefu).replace("__CODE__", code).replace("__ATTRS__", attrs)
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = _free_port()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, code: str, lang: str = "", host: str = "localhost") -> str:
        return f"http://{host}:{self.port}/?code={code}&lang={lang}"


@pytest.fixture(scope="module")
def host_site(server: str) -> Iterator[HostSite]:
    site = HostSite(server)
    site.thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture(scope="module")
def channels(server: str, server_env: dict[str, str], host_site: HostSite) -> dict[str, str]:
    """Chat channels of 客服一组 (no calendar: always open) allowing the host site only — one named for a Chinese
    site, one for an English one — and one of a team with no members (nobody can answer)."""
    origin = f"http://localhost:{host_site.port}"
    kefu_command(server_env, "channel", "add", "chat", "e2e-web", "--team", "客服一组", "--name", "在线客服",
                 "--origin", origin)
    kefu_command(server_env, "channel", "add", "chat", "e2e-web-en", "--team", "客服一组", "--name",
                 "Customer service", "--origin", origin)
    # a team of its own with nobody in it: whatever other browser tests sign in, nobody can answer this channel
    kefu_command(server_env, "shell", "-c",
                 "from kefu.accounts.models import Department, Team\n"
                 "Team.objects.get_or_create(name='E2E 无人值守组', defaults={'department': "
                 "Department.objects.filter(is_service_center=True).first()})")
    kefu_command(server_env, "channel", "add", "chat", "e2e-vip", "--team", "E2E 无人值守组", "--name", "VIP 在线客服",
                 "--origin", origin)
    return {"zh-hans": "e2e-web", "en": "e2e-web-en", "vip": "e2e-vip"}


def _customer(browser: Any, lang: str, *, phone: bool = False, storage_state: Any = None) -> Any:
    """A customer's browser at desktop width, or a phone's (390 × 844 CSS pixels, 2 device pixels each)."""
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 800}
    # reduced motion: no smooth scrolling or fading, so a screenshot shows where things end up
    context = browser.new_context(viewport=size, device_scale_factor=2 if phone else 1, reduced_motion="reduce",
                                  locale="zh-CN" if lang == "zh-hans" else "en-GB", timezone_id="Asia/Shanghai",
                                  storage_state=storage_state)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.on("console", lambda m: page.js_errors.append(m.text) if m.type == "error" else None)
    return page


class Agent:
    """The agent's side through the API with the browser session (CSRF header from the cookie)."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        self.headers = {"X-CSRFToken": csrf, "Referer": base + "/", "Content-Type": "application/json"}

    def get(self, path: str) -> Any:
        response = self.page.request.get(self.base + "/api/v1" + path)
        assert response.ok, response.text()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.page.request.post(self.base + "/api/v1" + path, headers=self.headers,
                                          data=json.dumps(body or {}))
        assert response.ok, response.text()
        return response.json()


def _photo(browser: Any) -> bytes:
    """A photo of a leaking pipe (drawn: the tests use no network and no files from outside)."""
    context = browser.new_context(viewport={"width": 480, "height": 360})
    page = context.new_page()
    page.set_content("""<body style="margin:0"><svg xmlns="http://www.w3.org/2000/svg" width="480" height="360">
      <defs><linearGradient id="w" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#eef1f4"/>
      <stop offset="1" stop-color="#d9dee4"/></linearGradient><linearGradient id="p" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#c9ced6"/><stop offset=".5" stop-color="#f7f8fa"/>
      <stop offset="1" stop-color="#9aa3ae"/></linearGradient></defs><rect width="480" height="360" fill="url(#w)"/>
      <g stroke="#cfd5dc" stroke-width="2">""" + "".join(
        f'<line x1="0" y1="{y}" x2="480" y2="{y}"/>' for y in range(60, 360, 60)) + "".join(
        f'<line x1="{x}" y1="0" x2="{x}" y2="360"/>' for x in range(80, 480, 80)) + """</g>
      <rect x="0" y="120" width="480" height="44" fill="url(#p)"/><rect x="214" y="108" width="52" height="68" rx="8"
      fill="url(#p)" stroke="#8b949e" stroke-width="2"/><path d="M240 180 q-14 26 0 40 q14-14 0-40z" fill="#5aa9f0"/>
      <path d="M258 226 q-9 17 0 26 q9-9 0-26z" fill="#7cbcf5"/><ellipse cx="244" cy="318" rx="120" ry="18"
      fill="#9cc9f3" opacity=".7"/></svg></body>""")
    image = page.locator("svg").screenshot(type="png")
    context.close()
    return bytes(image)


def _shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def _open_widget(page: Any, code: str) -> Any:
    launcher = page.locator(f"#kefu-chat-{code} button.launcher")
    launcher.click()
    assert launcher.get_attribute("aria-expanded") == "true"
    return page.frame_locator(f"#kefu-chat-{code} iframe")


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_a_customer_chats_with_an_agent_through_the_widget(browser: Any, new_page: Any, sign_in: Any, server: str,
                                                           host_site: HostSite, channels: dict[str, str],
                                                           lang: str) -> None:
    words, short, code = SCRIPT[lang], "zh" if lang == "zh-hans" else "en", channels[lang]
    agent_page = new_page()
    sign_in(agent_page, "agent1", lang)  # a signed-in agent of the channel's team: the widget says "online"
    agent = Agent(agent_page, server)

    customer = _customer(browser, lang)
    customer.goto(host_site.url(code, lang))
    frame = _open_widget(customer, code)
    frame.get_by_test_id("chat-prechat").wait_for()
    frame.locator(".kw-status[data-state=online]").wait_for()
    _shoot(customer, f"chat-widget-prechat-{short}")
    frame.locator("#kw-pc-name").fill(words["name"])
    frame.locator("#kw-pc-question").fill(words["question"])
    frame.get_by_test_id("chat-prechat-submit").click()
    frame.locator(".kw-msg[data-side=me][data-state=received]").first.wait_for()  # acknowledged: stored

    waiting = wait_for(lambda: agent.get(f"/conversations?channel={code}&view=waiting")["items"],
                       "the conversation in the team's inbox")
    conversation = waiting[0]
    assert conversation["customer_name"] == words["name"]
    agent.post(f"/conversations/{conversation['id']}/claim")
    agent.post(f"/conversations/{conversation['id']}/messages", {"text": words["reply"], "client_id": "r1"})
    frame.locator(".kw-msg[data-side=agent]", has_text=words["reply"][:12]).wait_for()

    composer = frame.get_by_test_id("chat-input")
    first, second = words["answer"].split("\n")
    composer.fill(first)
    composer.press("Shift+Enter")  # a new line, not sent
    composer.press_sequentially(second)
    composer.press("Enter")
    frame.locator(".kw-msg[data-side=me][data-state=received]", has_text=second).wait_for()
    frame.get_by_test_id("chat-file").set_input_files(
        files=[{"name": words["photo"], "mimeType": "image/png", "buffer": _photo(browser)}])
    frame.locator(".kw-msg[data-side=me] .kw-image img").wait_for()
    agent.post(f"/conversations/{conversation['id']}/messages", {"text": words["confirm"], "client_id": "r2"})
    frame.locator(".kw-msg[data-side=agent]", has_text=words["confirm"][:12]).wait_for()

    messages = agent.get(f"/conversations/{conversation['id']}/messages")
    bodies = [m["body"] for m in messages]
    assert bodies[:2] == [words["question"], words["reply"]]
    assert words["answer"] in bodies  # the new line kept
    photo = next(m for m in messages if m["attachments"])
    assert photo["attachments"][0]["filename"] == words["photo"]
    assert photo["attachments"][0]["content_type"] == "image/png"
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))  # each message stored once

    _shoot(customer, f"chat-widget-desktop-{short}")

    # The same visit on a phone (the host page keeps it in its own storage): the chat fills the screen, and the
    # whole history comes back as after a reload.
    desktop = customer
    customer = _customer(browser, lang, phone=True, storage_state=desktop.context.storage_state())
    desktop.context.close()
    customer.goto(host_site.url(code, lang))
    frame = _open_widget(customer, code)
    frame.locator(".kw-msg[data-side=agent]", has_text=words["confirm"][:12]).wait_for()
    assert frame.locator(".kw-msg[data-side=me] .kw-image img").count() == 1
    assert frame.locator(".kw-msg[data-id]").count() == len(messages)
    frame.locator(".kw-msg[data-side=me] .kw-image img").evaluate("img => img.decode()")
    _shoot(customer, f"chat-widget-phone-{short}")

    agent.post(f"/conversations/{conversation['id']}/close", {"reason": "resolved"})
    rating = frame.get_by_test_id("chat-rating")
    rating.wait_for()
    # by keyboard, as on a phone's keyboard or a screen reader: the first star has the focus, arrows choose
    first_star = frame.locator("#kw-star-1")
    first_star.focus()
    for _ in range(4):
        first_star.page.keyboard.press("ArrowRight")
    assert frame.locator("#kw-star-5").is_checked()
    assert frame.locator("#kw-star-caption").inner_text() == ("非常满意" if lang == "zh-hans" else "Very satisfied")
    frame.locator("#kw-comment").fill(words["comment"])
    _shoot(customer, f"chat-widget-rating-{short}")
    frame.get_by_test_id("chat-rate-submit").press("Enter")
    frame.get_by_test_id("chat-thanks").wait_for()
    stored = wait_for(lambda: agent.get(f"/conversations/{conversation['id']}")["csat_score"],
                      "the rating stored")
    assert stored == 5
    assert not customer.js_errors
    assert not agent_page.js_errors
    customer.context.close()


def _enter_inbox(page: Any, sign_in: Any, username: str) -> None:
    """Sign in (in Chinese) and open the inbox's waiting list."""
    sign_in(page, username)
    page.goto("/conversations/?view=waiting")
    page.wait_for_function("document.body.dataset.liveState === 'open'")


def test_an_agent_answers_a_widget_customer_in_the_inbox(browser: Any, new_page: Any, sign_in: Any,
                                                         host_site: HostSite, channels: dict[str, str]) -> None:
    """The agent's side in the inbox page: the chat arrives live, typing shows both ways, the customer sees 已读
    once the agent has read, and files go both ways (the customer's photo, the agent's PDF)."""
    code = channels["zh-hans"]
    agent = new_page()
    _enter_inbox(agent, sign_in, "agent1")

    customer = _customer(browser, "zh-hans")
    customer.goto(host_site.url(code, "zh-hans"))
    frame = _open_widget(customer, code)
    frame.get_by_test_id("chat-prechat").wait_for()
    frame.locator("#kw-pc-name").fill("赵先生")
    frame.locator("#kw-pc-question").fill("车库门禁卡失效了，怎么补办？")
    frame.get_by_test_id("chat-prechat-submit").click()
    frame.locator(".kw-msg[data-side=me][data-state=received]").first.wait_for()

    row = agent.get_by_test_id("conv-row").filter(has_text="赵先生")
    row.wait_for()  # live, without a reload
    row.locator("a[data-open]").click()
    agent.get_by_test_id("conv-pane").filter(has_text="车库门禁卡").wait_for()
    agent.locator("[data-testid=customer-online]:not([hidden])").wait_for()  # the widget is open
    agent.get_by_test_id("conv-claim").click()
    agent.get_by_test_id("flash").wait_for()
    frame.locator(".kw-note", has_text="客服已接入").wait_for()
    frame.locator(".kw-msg[data-side=me] .kw-state[data-state=read]").first.wait_for()  # the agent has read it

    composer = agent.get_by_test_id("composer")
    composer.click()
    composer.press_sequentially("您好，请提供房号")
    frame.locator("#kw-typing:not([hidden])").wait_for()  # the agent is typing
    composer.press("Enter")
    frame.locator(".kw-msg[data-side=agent]", has_text="请提供房号").wait_for()
    assert frame.locator("#kw-typing").is_hidden()

    widget_input = frame.get_by_test_id("chat-input")
    widget_input.press_sequentially("5 栋")
    agent.locator("[data-testid=customer-typing]:not([hidden])").wait_for()  # the customer is typing
    widget_input.press_sequentially(" 801")
    widget_input.press("Enter")
    agent.get_by_test_id("message").filter(has_text="5 栋 801").wait_for()
    frame.locator(".kw-msg[data-side=me]", has_text="5 栋 801").locator(".kw-state[data-state=read]").wait_for()

    frame.get_by_test_id("chat-file").set_input_files(
        files=[{"name": "门禁卡.png", "mimeType": "image/png", "buffer": _photo(browser)}])
    agent.locator("[data-testid=message] .bubble-image img").wait_for()
    agent.get_by_test_id("composer-files").set_input_files(
        files=[{"name": "补办须知.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n% Kefu\n"}])
    composer.fill("补办须知请查收，带身份证到物业前台即可。")
    agent.get_by_test_id("composer-send").click()
    document = frame.locator(".kw-msg[data-side=agent] .kw-file", has_text="补办须知.pdf")
    document.wait_for()
    href = document.get_attribute("href")
    response = customer.context.request.get(f"{host_site.kefu}{href}")  # the customer's own file: theirs to open
    assert (response.status, response.body()) == (200, b"%PDF-1.4\n% Kefu\n")
    assert not customer.js_errors
    assert not agent.js_errors
    customer.context.close()


def test_outside_staffed_hours_the_customer_leaves_a_message_that_becomes_an_order(browser: Any, server: str,
                                                                                   host_site: HostSite,
                                                                                   channels: dict[str, str]) -> None:
    words = SCRIPT["zh-hans"]
    customer = _customer(browser, "zh-hans")
    customer.goto(host_site.url(channels["vip"]))  # no data-lang: the browser's language (zh-CN)
    customer.locator("#kefu-chat-e2e-vip button.launcher").click()
    frame = customer.frame_locator("#kefu-chat-e2e-vip iframe")
    form = frame.get_by_test_id("chat-leave")
    form.wait_for()
    frame.locator("#kw-lv-text").fill(words["leave"])
    frame.get_by_test_id("chat-leave-submit").click()
    assert frame.locator("#kw-lv-phone").get_attribute("aria-invalid") == "true"  # a way to answer is needed
    frame.locator("#kw-lv-name").fill(words["name"])
    frame.locator("#kw-lv-phone").fill("13812345678")
    _shoot(customer, "chat-widget-leave-zh")
    frame.get_by_test_id("chat-leave-submit").click()
    number = frame.get_by_test_id("chat-left-number")
    number.wait_for()
    assert re.search(r"工单号：\S+", number.inner_text())
    assert not customer.js_errors
    customer.context.close()


def test_a_site_the_channel_does_not_allow_cannot_frame_the_chat(browser: Any, host_site: HostSite,
                                                                 channels: dict[str, str]) -> None:
    customer = _customer(browser, "zh-hans")
    refusals: list[str] = []
    customer.on("console", lambda m: refusals.append(m.text) if "frame-ancestors" in m.text else None)
    with customer.expect_console_message(lambda m: "frame-ancestors" in m.text):
        customer.goto(host_site.url(channels["zh-hans"], host="127.0.0.1"))  # another origin than the allowed one
    assert refusals
    customer.context.close()


def test_the_launcher_is_keyboard_usable(browser: Any, host_site: HostSite, channels: dict[str, str],
                                         new_page: Any, sign_in: Any) -> None:
    customer = _customer(browser, "en")
    customer.goto(host_site.url(channels["en"], "en"))
    launcher = customer.get_by_role("button", name=re.compile("chat", re.IGNORECASE))
    launcher.focus()
    customer.keyboard.press("Enter")
    assert launcher.get_attribute("aria-expanded") == "true"
    frame = customer.frame_locator("#kefu-chat-e2e-web-en iframe")
    frame.locator("#kw").wait_for()
    customer.keyboard.press("Escape")  # the frame asks the host page to close it: a message, not at once
    customer.wait_for_function("(el) => el.getAttribute('aria-expanded') === 'false'",
                               arg=launcher.element_handle())
    with contextlib.suppress(Exception):
        customer.context.close()



def test_a_message_whose_push_was_lost_is_fetched_when_the_next_one_arrives(
        browser: Any, new_page: Any, sign_in: Any, server: str, host_site: HostSite, channels: dict[str, str]) -> None:
    """A live frame lost on the way (a server's subscription reconnecting, say) while the socket stays open: the
    widget sees the next message's seq beyond the one it expected, asks for what follows the last message it has
    in full, and shows the lost one in its place — once."""
    code = channels["zh-hans"]
    agent_page = new_page()
    sign_in(agent_page, "agent1", "zh-hans")
    agent = Agent(agent_page, server)

    customer = _customer(browser, "zh-hans")
    dropped: list[str] = []

    def relay(ws: Any) -> None:  # the widget's socket, through a relay that loses the push of one message
        kefu = ws.connect_to_server()

        def from_kefu(message: Any) -> None:
            if isinstance(message, str) and "第一条答复" in message and not dropped:
                dropped.append(message)
                return
            ws.send(message)

        kefu.on_message(from_kefu)
        ws.on_message(lambda message: kefu.send(message))

    customer.context.route_web_socket(re.compile(r".*/ws/chat/.*"), relay)
    customer.goto(host_site.url(code, "zh-hans"))
    frame = _open_widget(customer, code)
    frame.get_by_test_id("chat-prechat").wait_for()
    frame.locator("#kw-pc-name").fill("孙女士")
    frame.locator("#kw-pc-question").fill("电梯一直停在 8 楼不动。")
    frame.get_by_test_id("chat-prechat-submit").click()
    frame.locator(".kw-msg[data-side=me][data-state=received]").first.wait_for()
    conversation = wait_for(lambda: [c for c in agent.get(f"/conversations?channel={code}&view=waiting")["items"]
                                     if c["customer_name"] == "孙女士"], "the conversation in the inbox")[0]
    agent.post(f"/conversations/{conversation['id']}/claim")
    messages = f"/conversations/{conversation['id']}/messages"
    agent.post(messages, {"text": "第一条答复：已通知电梯维保。", "client_id": "g1"})
    for _ in range(600):  # the route's handlers run while Playwright is called: poll through it
        if dropped:
            break
        customer.wait_for_timeout(100)
    assert dropped, "the first reply's push never came to be dropped"
    replies = frame.locator(".kw-msg[data-side=agent]", has_text="条答复")
    assert replies.count() == 0  # lost on the way: not shown
    agent.post(messages, {"text": "第二条答复：师傅 10 分钟到。", "client_id": "g2"})
    replies.filter(has_text="第二条答复").wait_for()
    replies.filter(has_text="第一条答复").wait_for()  # fetched after the gap
    texts = [frame.locator(".kw-msg[data-side=agent] .kw-bubble").nth(i).inner_text()
             for i in range(frame.locator(".kw-msg[data-side=agent]").count())]
    assert [t[:5] for t in texts if "条答复" in t] == ["第一条答复", "第二条答复"]  # in order, once each
    assert not customer.js_errors
    customer.context.close()
