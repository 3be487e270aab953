"""The public self-service portal (/help/) in a real browser, as an anonymous customer: a search finds an article
and "helpful" is recorded; the web form opens a work order; the order lookup refuses a wrong phone suffix and is
rate-limited (the issue's own done-when item). Screenshots of the home page and an article at desktop and phone
width, in both languages, go to docs/images/portal-*.png."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SCREENSHOTS, kefu_command, wait_for

pytestmark = pytest.mark.e2e

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1440, "height": 900}

# The articles the tests read, added to the demo's knowledge base (in its own categories when it has them, found
# by a word of their names): (language, category: slug, name, name_en, word), title, body, example questions.
ACCOUNT = ("account", "账户与登录", "Account and sign-in", "账户")
ARTICLES = [
    ("zh-hans", ACCOUNT, "如何修改登录密码",
     "登录后点右上角头像，进入“账户设置 - 安全 - 修改密码”。\n输入当前密码和新密码（至少 8 位，含字母和数字），"
     "点“保存”即可。\n\n忘记密码时，在登录页点“忘记密码”，用注册手机号收到的验证码重新设置。",
     ["怎么修改密码", "密码忘了怎么办", "怎么改登录密码"]),
    ("en", ACCOUNT, "How do I change my password?",
     "Sign in, tap your picture at the top right and open Account settings > Security > Change password.\n"
     "Enter your current password and a new one (at least 8 characters, letters and digits), then Save.\n\n"
     "Forgot it? Tap \"Forgot password\" on the sign-in page and reset it with the code sent to your phone.",
     ["change password", "forgot my password", "reset password"]),
]

SEED = """
import json
from kefu.accounts.models import User
from kefu.core.policy import can
from kefu.knowledge.models import Article, Category
from kefu.knowledge.tests.factories import make_article
articles = json.loads({data!r})
actor = next(u for u in User.objects.filter(is_active=True).order_by("id") if can(u, "kb.publish"))
ids = {{}}
for language, (slug, name, name_en, word), title, body, questions in articles:
    category = (Category.objects.filter(is_public=True, name__contains=word).order_by("position", "id").first()
                or Category.objects.get_or_create(slug=slug, defaults={{"name": name, "name_en": name_en}})[0])
    found = Article.objects.filter(title=title, language=language).first()
    if found is None:
        found = make_article(actor=actor, title=title, body=body, questions=questions, language=language,
                             category=category)
    ids[title] = found.pk
print(json.dumps(ids))
"""

FEEDBACK = """
from kefu.knowledge.models import Feedback
print(Feedback.objects.filter(article_id={article}, channel="portal", helpful=True).count())
"""

ORDER = """
from kefu.tickets.models import Ticket
t = Ticket.objects.select_related("customer").get(number={number!r})
print(t.channel, t.ticket_type, t.customer.name)
"""


@pytest.fixture(scope="module")
def portal_articles(server: str, server_env: dict[str, str]) -> dict[str, int]:
    script = SEED.format(data=json.dumps(ARTICLES, ensure_ascii=False))
    return json.loads(kefu_command(server_env, "shell", "-c", script).strip().splitlines()[-1])


def _context(browser: Any, server: str, *, viewport: dict[str, int], locale: str) -> Any:
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="Asia/Shanghai", base_url=server,
                                  device_scale_factor=2 if viewport["width"] < 600 else 1,
                                  is_mobile=viewport["width"] < 600, has_touch=viewport["width"] < 600)
    context.set_default_timeout(30_000)
    return context


def _errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Content Security Policy" in m.text
            else None)
    return errors


def _shot(page: Any, name: str, *, docs: bool = False) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path))
    if docs:
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def test_search_finds_an_article_and_helpful_is_recorded(browser: Any, server: str, server_env: dict[str, str],
                                                          portal_articles: dict[str, int]) -> None:
    context = _context(browser, server, viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    errors = _errors(page)
    page.goto("/help/", wait_until="domcontentloaded")
    page.wait_for_url(re.compile(r"/help/zh/$"))
    page.get_by_test_id("portal-search").fill("密码忘了怎么办")
    page.get_by_test_id("portal-search").press("Enter")
    results = page.get_by_test_id("portal-results")
    results.get_by_role("link", name="如何修改登录密码").click()
    page.wait_for_url(re.compile(rf"/help/zh/a/{portal_articles['如何修改登录密码']}/$"))
    assert "账户设置 - 安全 - 修改密码" in page.get_by_test_id("portal-answer").inner_text()
    page.get_by_test_id("portal-helpful-yes").click()
    page.get_by_text("感谢您的反馈！").wait_for()
    assert page.url.endswith(f"/a/{portal_articles['如何修改登录密码']}/")  # swapped in place by HTMX
    count = wait_for(lambda: int(kefu_command(server_env, "shell", "-c", FEEDBACK.format(
        article=portal_articles["如何修改登录密码"])).strip().splitlines()[-1]), "the feedback stored")
    assert count >= 1
    assert not errors, errors
    context.close()


def test_the_web_form_opens_an_order_and_the_lookup_refuses_a_wrong_suffix(browser: Any, server: str,
                                                                           server_env: dict[str, str]) -> None:
    context = _context(browser, server, viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    errors = _errors(page)
    page.goto("/help/zh/contact")
    page.get_by_test_id("portal-contact-submit").click()  # empty: every required field is named
    problem = page.get_by_test_id("portal-problem").inner_text()
    assert "您的称呼" in problem
    assert "问题类型" in problem
    assert "标题" in problem
    assert "问题描述" in problem
    page.get_by_label("您的称呼").fill("陈先生")
    page.get_by_label("手机号码").fill("13766554321")
    page.get_by_label("问题类型").select_option("repair")
    page.get_by_label("标题").fill("客厅空调不制冷")
    page.get_by_label("问题描述").fill("客厅挂机开了两小时还是不凉，室外机不转。\n家里工作日晚上 7 点后有人。")
    page.get_by_test_id("portal-contact-submit").click()
    number = page.get_by_test_id("portal-order-number").inner_text().strip()
    assert re.fullmatch(r"GD\d{15}", number), number
    channel, ticket_type, name = kefu_command(
        server_env, "shell", "-c", ORDER.format(number=number)).strip().splitlines()[-1].split()
    assert (channel, ticket_type, name) == ("web", "repair", "陈先生")

    def look_up(suffix: str) -> None:
        page.goto("/help/zh/order")
        page.get_by_label("工单号").fill(number)
        page.get_by_label("手机号后四位").fill(suffix)
        page.get_by_test_id("portal-lookup-submit").click()

    look_up("1234")  # wrong
    assert page.get_by_test_id("portal-problem").inner_text().strip() == "工单号或手机号后四位不正确，请核对后再试。"
    assert page.get_by_test_id("portal-order").count() == 0
    look_up("4321")  # right
    assert page.get_by_test_id("portal-order-status").inner_text().strip() in ("新建", "已分配")
    assert "客厅空调不制冷" in page.get_by_test_id("portal-order").inner_text()
    for _ in range(3):  # 5 tries per order number in 15 minutes: two made above
        look_up("0000")
        assert "不正确" in page.get_by_test_id("portal-problem").inner_text()
    look_up("4321")  # even the right suffix, now
    message = page.get_by_test_id("portal-problem").inner_text()
    assert re.search(r"尝试次数过多，请 \d+ 分钟后再试", message), message
    assert page.get_by_test_id("portal-order").count() == 0
    assert not errors, errors
    context.close()


@pytest.mark.parametrize(("lang", "locale"), [("zh", "zh-CN"), ("en", "en-US")])
def test_screenshots(browser: Any, server: str, portal_articles: dict[str, int], lang: str, locale: str) -> None:
    article = portal_articles["如何修改登录密码" if lang == "zh" else "How do I change my password?"]
    suffix = "zh" if lang == "zh" else "en"
    for viewport, prefix in ((DESKTOP, "portal"), (PHONE, "portal-phone")):
        context = _context(browser, server, viewport=viewport, locale=locale)
        page = context.new_page()
        errors = _errors(page)
        page.goto(f"/help/{lang}/")
        assert page.locator("h1").count() == 1
        page.evaluate("document.fonts && document.fonts.ready")
        _shot(page, f"{prefix}-{suffix}", docs=True)
        page.goto(f"/help/{lang}/a/{article}/")
        _shot(page, f"{prefix}-article-{suffix}")
        if viewport is PHONE:  # nothing wider than the phone
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert not errors, errors
        context.close()
