"""Setting up a department from an empty database, in the browser: the administrator enters a business calendar
with a holiday and a 调休 working day, the service centre and a team, imports two staff from a file, a repair
department and a category that dispatches to it; a new agent signs in with the temporary password, is made to
change it, and lands in the workspace; her first order breaches, and she hears of it live, by e-mail (a real local
SMTP server) and through the team's 企业微信 robot (HTTP faked at the transport). Screenshots of every
administration page in both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import WAIT_SECONDS, kefu_command, kefu_env, serving, wait_for

pytestmark = pytest.mark.e2e
ADMIN_PASSWORD = "Kefu-Admin-2026!"


@pytest.fixture(scope="module")
def empty_env(tmp_path_factory: pytest.TempPathFactory, smtp_catcher: Any) -> dict[str, str]:
    return kefu_env(tmp_path_factory.mktemp("kefu-empty"), smtp_catcher)


@pytest.fixture(scope="module")
def empty_server(empty_env: dict[str, str], chromium_path: str) -> Iterator[str]:
    """A Kefu on a fresh database with nothing but its migrations and one administrator, with its worker."""
    kefu_command(empty_env, "migrate", "-v", "0")
    kefu_command(empty_env, "createadmin", "--username", "admin", "--password", ADMIN_PASSWORD)
    with serving(empty_env) as base:
        yield base


def _page(browser: Any, base: str) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", base_url=base)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    return page


def _sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_a_department_is_set_up_from_an_empty_database(browser: Any, empty_server: str, empty_env: dict[str, str],
                                                       smtp_catcher: Any, screenshot: Any, tmp_path: Path) -> None:
    page = _page(browser, empty_server)
    _sign_in(page, "admin", ADMIN_PASSWORD)
    page.get_by_test_id("nav-admin").click()
    page.get_by_test_id("admin-index").wait_for()
    screenshot(page, "admin-index-zh")

    # a business calendar, with a holiday and a 调休 working day
    page.goto("/admin/calendars/new/")
    page.fill("#id_name", "客服中心日历")  # the calendar
    page.get_by_test_id("calendar-save").click()
    page.wait_for_url(re.compile(r"/admin/calendars/\d+/$"))
    page.fill("#id_day-date", "2027-01-01")
    page.select_option("#id_day-kind", "holiday")
    page.fill("#id_day-name", "元旦")
    page.get_by_test_id("day-add").click()
    page.wait_for_url(re.compile(r"year=2027"))
    page.fill("#id_day-date", "2027-02-07")
    page.select_option("#id_day-kind", "workday")
    page.fill("#id_day-name", "春节调休上班")
    page.fill("#id_day-periods", "09:00-12:00,13:00-17:30")
    page.get_by_test_id("day-add").click()
    page.wait_for_url(re.compile(r"year=2027"))
    days = page.get_by_test_id("day-table").inner_text()
    for shown in ("2027-01-01", "2027-02-07", "元旦", "春节调休上班", "09:00–12:00"):
        assert shown in days
    screenshot(page, "admin-calendar-zh", full_page=True)

    # the service centre, a team, a department that receives dispatches
    page.goto("/admin/departments/new/")
    page.fill("#id_name", "客服中心")
    page.fill("#id_code", "service")
    page.check("#id_is_service_center")
    page.get_by_test_id("department-save").click()
    page.wait_for_url(re.compile(r"/admin/departments/$"))
    page.goto("/admin/departments/new/")
    page.fill("#id_name", "维修部")
    page.fill("#id_code", "repair")
    page.fill("#id_contact_name", "孙师傅")
    page.fill("#id_contact_phone", "020-88886666")
    page.select_option("#id_calendar", label="客服中心日历")
    page.fill("#id_default_due_hours", "16")
    page.get_by_test_id("department-save").click()
    page.wait_for_url(re.compile(r"/admin/departments/$"))
    screenshot(page, "admin-departments-zh")
    page.goto("/admin/teams/new/")
    page.fill("#id_name", "客服一组")
    page.get_by_test_id("team-save").click()
    page.wait_for_url(re.compile(r"/admin/teams/$"))
    assert "客服一组" in page.get_by_test_id("team-table").inner_text()

    # two staff from a file: a bad file first (every bad row listed, nobody imported), then the good one
    bad = tmp_path / "bad.csv"
    bad.write_text("用户名,姓名,工号,角色,班组\nwangfang,王芳,2001,客服,客服一组\nlixiao,李晓,2001,国王,客服九组\n",
                   encoding="utf-8")
    page.goto("/admin/staff/import/")
    page.set_input_files("[data-testid=import-file]", str(bad))
    page.get_by_test_id("import-submit").click()
    page.get_by_test_id("import-errors").wait_for()
    problems = page.get_by_test_id("import-errors").inner_text()
    for shown in ("国王", "客服九组", "工号与第 2 行重复", "角色"):  # all of row 3, by the file's headings
        assert shown in problems
    assert "role" not in problems
    screenshot(page, "admin-staff-import-errors-zh")
    good = tmp_path / "staff.csv"
    good.write_text("用户名,姓名,工号,角色,班组,手机,邮箱\n"
                    "wangfang,王芳,2001,客服,客服一组,13900001111,wangfang@example.com\n"
                    "lixiao,李晓,2002,客服组长,客服一组,13900002222,lixiao@example.com\n", encoding="gbk")
    page.set_input_files("[data-testid=import-file]", str(good))
    page.get_by_test_id("import-submit").click()
    page.get_by_test_id("import-done").wait_for()
    passwords = [cell.inner_text() for cell in page.get_by_test_id("imported-password").all()]
    assert len(passwords) == 2
    screenshot(page, "admin-staff-import-zh")
    page.goto("/admin/staff/")
    assert "王芳" in page.get_by_test_id("staff-table").inner_text()
    screenshot(page, "admin-staff-zh")

    # a category whose work goes to the repair department
    page.goto("/admin/categories/new/")
    page.fill("#id_name", "水电维修")
    page.select_option("#id_ticket_type", "repair")
    page.select_option("#id_default_department", label="维修部")
    page.get_by_test_id("category-save").click()
    page.wait_for_url(re.compile(r"/admin/categories/$"))
    assert "维修部" in page.get_by_test_id("category-table").inner_text()
    screenshot(page, "admin-categories-zh")
    for url, name in (("/admin/teams/", "admin-teams"), ("/admin/sla/", "admin-sla"), ("/admin/types/", "admin-types"),
                      ("/admin/skills/", "admin-skills")):
        page.goto(url)
        screenshot(page, f"{name}-zh")
    assert not page.js_errors

    # the new agent: temporary password, made to change it, then the workspace
    agent = _page(browser, empty_server)
    _sign_in(agent, "wangfang", passwords[0])
    agent.wait_for_url(re.compile(r"/account/password/$"))
    agent.get_by_test_id("password-forced").wait_for()
    agent.goto("/tickets/")
    agent.wait_for_url(re.compile(r"/account/password/$"))  # every page leads here first
    agent.fill("[data-testid=new-password]", "12345678")
    agent.fill("[data-testid=new-password-again]", "12345678")
    agent.get_by_test_id("password-save").click()
    assert agent.get_by_test_id("error-new_password").inner_text().strip()  # refused, with the reason
    screenshot(agent, "password-change-zh")
    agent.fill("[data-testid=new-password]", "Spring-Tide-2027")
    agent.fill("[data-testid=new-password-again]", "Spring-Tide-2027")
    agent.get_by_test_id("password-save").click()
    agent.wait_for_url(lambda url: "/account/" not in url)
    agent.goto("/tickets/")
    assert "/account/" not in agent.url

    # the team's 企业微信 group robot
    page.goto("/admin/notifications/robots/new/")
    page.fill("#robot-name", "客服一组群")
    page.fill("#robot-url", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=empty-db-team")
    page.select_option("#robot-team", label="客服一组")
    page.get_by_test_id("robot-save").click()
    page.get_by_test_id("robot-table").get_by_text("客服一组群").wait_for()

    # her first order breaches: she hears of it live, by e-mail and through the team's robot
    agent.goto("/tickets/new/")
    agent.fill("[data-testid=create-subject]", "首单：业主投诉电梯停运")
    agent.select_option("#id_ticket_type", "complaint")
    agent.click("[data-testid=create-submit]")
    agent.wait_for_url(re.compile(r"/tickets/\d+/$"))
    number = re.search(r"GD\d{15}", agent.content()).group(0)
    agent.wait_for_function("document.body.dataset.liveState === 'open'", timeout=WAIT_SECONDS * 1000)
    at = (datetime.now().astimezone() + timedelta(days=10)).isoformat()
    kefu_command(empty_env, "sla_sweep", "--at", at)
    toast = agent.get_by_test_id("toast").first
    toast.wait_for(timeout=WAIT_SECONDS * 1000)  # pushed: the page was not reloaded
    assert "SLA 已超时" in toast.inner_text()
    screenshot(agent, "first-breach-zh")

    def mail() -> Any:
        for envelope in list(smtp_catcher.messages):
            if envelope.rcpt_tos == ["wangfang@example.com"] and number.encode() in envelope.content:
                return envelope
        return None

    wait_for(mail, f"an e-mail to wangfang about {number}")
    robot_log = Path(empty_env["KEFU_E2E_ROBOT_LOG"])

    def robot_post() -> Any:
        lines = robot_log.read_text(encoding="utf-8").splitlines() if robot_log.exists() else []
        return next((json.loads(line) for line in lines if number in line), None)

    post = wait_for(robot_post, f"a robot post about {number}")
    assert post["url"].endswith("key=empty-db-team")
    assert not agent.js_errors


def test_the_administration_in_english(browser: Any, empty_server: str, screenshot: Any) -> None:
    page = _page(browser, empty_server)
    page.goto("/login/")
    page.get_by_role("button", name="English").click()
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    cjk = re.compile(r"[\u4e00-\u9fff]")
    data_words = {"客服中心日历", "元旦", "春节调休上班", "客服中心", "维修部", "孙师傅", "客服一组", "王芳", "李晓",
                  "水电维修", "标准工作日历", "全天候", "系统管理员", "投诉", "报修", "在线客服", "咨询", "默认"}
    for url, name in (("/admin/", "admin-index"), ("/admin/staff/", "admin-staff"), ("/admin/calendars/", None),
                      ("/admin/departments/", "admin-departments"), ("/admin/teams/", "admin-teams"),
                      ("/admin/categories/", "admin-categories"), ("/admin/types/", "admin-types"),
                      ("/admin/sla/", "admin-sla"), ("/admin/skills/", "admin-skills"),
                      ("/admin/staff/import/", None), ("/admin/departments/new/", None)):
        page.goto(url)
        text = page.locator("main").inner_text()
        for word in sorted(data_words, key=len, reverse=True):
            text = text.replace(word, "")
        leaks = [line for line in text.splitlines() if cjk.search(line)]
        assert not leaks, f"{url}: {leaks[:5]}"
        if name:
            screenshot(page, f"{name}-en")
    page.goto("/admin/calendars/")
    # the calendar every database starts with: this test may run on another worker than the one that set up more
    page.get_by_role("link", name="标准工作日历").click()
    screenshot(page, "admin-calendar-en", full_page=True)
    assert not page.js_errors
