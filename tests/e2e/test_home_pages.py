"""Each person's home page in a real browser on the demo data: the agent's own work, the team lead's team, the
manager's centre, the department's queue with what is needed on site; the list opening on the view that suits
the role; the department filter (no inline handler). Screenshots in both languages go to docs/images/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
LANGUAGES = (("zh-hans", "zh"), ("en", "en"))


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


def _whole_page(page: Any, screenshot: Any, name: str) -> Path:
    """A screenshot of the whole page with the window as tall as the page (a full-page capture would draw the
    sticky header halfway down)."""
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": 1440, "height": min(max(height, 900), 2400)})
    return screenshot(page, name)  # type: ignore[no-any-return]


def _figure(page: Any, key: str) -> tuple[int, str]:
    card = page.locator(f"[data-testid=kpi-{key}]")
    return int(card.locator(".value").inner_text()), str(card.get_attribute("href"))


def _count_on_list(page: Any, url: str) -> int:
    page.goto(url)
    text = page.get_by_test_id("result-count").inner_text()
    return int(re.sub(r"\D", "", text) or 0)


def _charts_drawn(page: Any) -> None:
    page.wait_for_function("document.querySelectorAll('[data-chart]').length > 0 && "
                           "[...document.querySelectorAll('[data-chart]')].every(el => el.dataset.drawn)")


@pytest.mark.parametrize(("language", "suffix"), LANGUAGES)
def test_manager_home(new_page: Any, sign_in: Any, screenshot: Any, language: str, suffix: str) -> None:
    page = new_page()
    sign_in(page, "manager", language)
    page.goto("/")
    assert page.get_by_test_id("home-kind").get_attribute("data-home") == "centre"
    _charts_drawn(page)
    assert page.get_by_test_id("breakdown-by-team").locator("tbody tr").count() >= 3
    _keep(_whole_page(page, screenshot, f"home-manager-{suffix}"), f"home-manager-{suffix}")
    assert not page.js_errors, page.js_errors
    if language == "zh-hans":
        # the header's centre counter and the home figure agree with the lists they open
        breached, url = _figure(page, "breached")
        header = int(page.locator("[data-counter-scope=centre][data-counter=breached]").inner_text())
        assert header == breached
        assert _count_on_list(page, url) == breached
        # a bar of the team chart opens that team's list
        page.goto("/")
        _charts_drawn(page)
        # by position: the chart finds the bar under the pointer itself, and the hover shadow it draws over
        # the band would otherwise take Playwright's click on the bar's own element
        box = page.locator("[data-chart-kind=groups] path[fill='#4f7dff']").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url(re.compile(r"/tickets/\?.*team=\d+"))


@pytest.mark.parametrize(("language", "suffix"), LANGUAGES)
def test_team_lead_home(new_page: Any, sign_in: Any, screenshot: Any, language: str, suffix: str) -> None:
    page = new_page()
    sign_in(page, "lead1", language)
    page.goto("/")
    assert page.get_by_test_id("home-kind").get_attribute("data-home") == "team"
    _charts_drawn(page)
    assert page.get_by_test_id("breakdown-by-agent").locator("tbody tr").count() >= 5
    _keep(_whole_page(page, screenshot, f"home-team-lead-{suffix}"), f"home-team-lead-{suffix}")
    assert not page.js_errors, page.js_errors


@pytest.mark.parametrize(("language", "suffix"), LANGUAGES)
def test_agent_home(new_page: Any, sign_in: Any, screenshot: Any, language: str, suffix: str) -> None:
    page = new_page()
    sign_in(page, "agent2", language)
    page.goto("/")
    assert page.get_by_test_id("home-kind").get_attribute("data-home") == "agent"
    _charts_drawn(page)
    open_count, url = _figure(page, "open")
    _keep(_whole_page(page, screenshot, f"home-agent-{suffix}"), f"home-agent-{suffix}")
    assert not page.js_errors, page.js_errors
    assert _count_on_list(page, url) == open_count


@pytest.mark.parametrize(("language", "suffix"), LANGUAGES)
def test_department_home_shows_what_is_needed_on_site(new_page: Any, sign_in: Any, screenshot: Any,
                                                      language: str, suffix: str) -> None:
    page = new_page()
    sign_in(page, "repair1", language)
    page.goto("/")
    page.wait_for_url(re.compile(r"/department/"))
    rows = page.get_by_test_id("queue-row")
    assert rows.count() >= 1
    onsite = page.get_by_test_id("onsite").first
    assert "****" in onsite.get_by_test_id("onsite-phone").inner_text()
    assert onsite.get_by_test_id("onsite-address").inner_text()
    assert page.locator("[data-counter-scope^='department.'][data-counter=pending]").count() == 1
    _keep(screenshot(page, f"department-queue-{suffix}"), f"department-queue-{suffix}")
    onsite.get_by_test_id("onsite-reveal").click()
    page.wait_for_function("document.querySelector('[data-testid=onsite-phone]')?.innerText.includes('*') === false")
    assert not page.js_errors, page.js_errors


def test_the_department_filter_works(new_page: Any, sign_in: Any) -> None:
    page = new_page()
    sign_in(page, "manager")
    page.goto("/department/")
    before = page.get_by_test_id("queue-row").count()
    page.select_option("[data-testid=queue-department]", label="财务部")
    page.wait_for_url(re.compile(r"department=\d+"))
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
    after = page.get_by_test_id("queue-row").count()
    assert after < before
    for text in page.get_by_test_id("queue-row").all_inner_texts():
        assert "财务部" in text
    assert page.locator("[data-testid=queue-department] option:checked").inner_text() == "财务部"
    assert not page.js_errors, page.js_errors


@pytest.mark.parametrize(("username", "view"), [("agent1", "mine"), ("lead1", "team"), ("manager", "all")])
def test_the_list_opens_on_the_view_that_suits_the_role(new_page: Any, sign_in: Any, screenshot: Any,
                                                        username: str, view: str) -> None:
    page = new_page()
    sign_in(page, username)
    page.get_by_test_id("nav-tickets").click()
    page.wait_for_url(re.compile(rf"scope={view}&status=open"))
    assert "active" in str(page.get_by_test_id(f"scope-{view}").get_attribute("class"))
    assert page.get_by_test_id("ticket-row").count() >= 1
    if username == "manager":
        _keep(screenshot(page, "list-manager-zh"), "list-manager-zh")
        page.get_by_test_id("lang-switch").click()
        page.wait_for_function("document.querySelector('[data-testid=lang-switch]')?.innerText.trim() === '简体中文'")
        assert page.get_by_test_id("ticket-row").count() >= 1
        _keep(screenshot(page, "list-manager-en"), "list-manager-en")
    assert not page.js_errors, page.js_errors
