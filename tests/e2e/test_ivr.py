"""The IVR in a real browser: a manager opens the hotline's voice menus from the administration, adds a digit to a
menu, tries a caller's path in the editor, and puts a number on the blacklist; the PBX then asks the next-step API
and is told to play the menus, send the caller on, or reject the blacklisted number. Screenshots in both languages
go to docs/images."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import kefu_command

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
NUMBER = "4008001234"

# The hotline's menus (made once per server, through the services the editor calls): a main menu and an
# after-sales menu, on the demo's first business calendar.
HOTLINE_FLOW = """
from kefu.accounts.models import User
from kefu.core.models import BusinessCalendar
from kefu.telephony import ivr_services as ivr
from kefu.telephony.models import IvrFlow

admin = User.objects.get(username="admin")
flow = IvrFlow.objects.filter(number="4008001234").first()
if flow is None:
    flow = ivr.flow_create(actor=admin, data=ivr.FlowData(name="服务热线导航", number="4008001234"))
    calendar = BusinessCalendar.objects.order_by("id").first()
    flow = ivr.flow_update(actor=admin, flow=flow, expected_version=None, data=ivr.FlowData(
        name=flow.name, number=flow.number, calendar_id=calendar.pk if calendar else None, entry="main",
        out_of_hours_prompt="您好，现在是非工作时间。我们的服务时间是每天八点到二十二点。",
        holiday_prompt="节日快乐！节假日期间人工服务暂停。", closed_action="voicemail"))
    ivr.node_update(actor=admin, node=flow.entry, expected_version=None, data=ivr.NodeData(
        key="main", name="主菜单", prompt="您好，欢迎致电客服热线。查询工单进度请按1，人工服务请按2，"
        "留言请按3，售后维修请按4，重听请按0。", audio="kefu/welcome",
        fallback=ivr.TargetData(action="queue", queue="hotline")))
    ivr.node_create(actor=admin, flow=flow, expected_version=None, data=ivr.NodeData(
        key="after-sales", name="售后维修", prompt="上门报修请按1，返回上一级请按星号。", timeout_seconds=6,
        retries=1, fallback=ivr.TargetData(action="voicemail")))
    for node, digit, target, label in [
        ("main", "1", ivr.TargetData(action="order_status"), "工单进度"),
        ("main", "2", ivr.TargetData(action="queue", queue="hotline"), "人工服务"),
        ("main", "3", ivr.TargetData(action="voicemail"), "留言"),
        ("main", "4", ivr.TargetData(action="menu", node="after-sales"), "售后维修"),
        ("main", "0", ivr.TargetData(action="repeat"), "重听"),
        ("after-sales", "1", ivr.TargetData(action="transfer", number="020-8888 6666"), "报修专线"),
    ]:
        ivr.choice_set(actor=admin, node=flow.nodes.get(key=node), expected_version=None,
                       data=ivr.ChoiceData(digit=digit, target=target, label=label))
    flow.refresh_from_db()
    ivr.flow_update(actor=admin, flow=flow, expected_version=None, data=ivr.FlowData(
        name=flow.name, number=flow.number, calendar_id=flow.calendar_id, entry="main",
        out_of_hours_prompt=flow.out_of_hours_prompt, holiday_prompt=flow.holiday_prompt,
        closed_action=flow.closed_action, is_active=True))
print(flow.pk)
"""

PBX_TOKEN = """
from kefu.accounts.models import User
from kefu.accounts.services import api_token_create
print(api_token_create(actor=User.objects.get(username="admin"), name="PBX IVR", scopes=["telephony"]).key)
"""


@pytest.fixture(scope="module")
def flow_id(server: str, server_env: dict[str, str]) -> int:
    return int(kefu_command(server_env, "shell", "-c", HOTLINE_FLOW).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pbx_token(server: str, server_env: dict[str, str]) -> str:
    return kefu_command(server_env, "shell", "-c", PBX_TOKEN).strip().splitlines()[-1]


def next_step(base: str, token: str, **body: Any) -> tuple[int, dict[str, Any]]:
    data = json.dumps({"call_id": "e2e-ivr-1", "called": NUMBER, **body}).encode()
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1/ivr/next", data=data, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own local server
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _keep(path: Path, name: str) -> None:
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_manager_edits_and_tries_the_menus(new_page: Any, sign_in: Any, screenshot: Any, flow_id: int,
                                             language: str) -> None:
    page = new_page()
    sign_in(page, "manager", language)
    page.goto("/admin/")
    page.locator("a[href='/admin/ivr/']").click()
    page.get_by_test_id("ivr-table").get_by_role("link").first.click()
    page.wait_for_url(f"**/admin/ivr/{flow_id}/")
    after = page.locator("[data-testid=ivr-node][data-node=after-sales]")
    if not after.locator("tr[data-digit='*']").count():
        after.get_by_test_id("ivr-choice-open").click()
        form = after.get_by_test_id("ivr-choice-form")
        form.locator("select[name=digit]").select_option("*")
        form.locator("input[name=label]").fill("返回" if language == "zh-hans" else "Back")
        form.locator("select[name=action]").select_option("menu")
        form.locator("select[name=node]").select_option("main")
        form.get_by_test_id("ivr-choice-save").click()
        page.get_by_text("已设置菜单" if language == "zh-hans" else "of menu").first.wait_for()
        page.goto(f"/admin/ivr/{flow_id}/")  # without the notice, like the other language's picture
    after = page.locator("[data-testid=ivr-node][data-node=after-sales]")
    assert after.locator("tr[data-digit='*']").count() == 1
    assert page.get_by_test_id("ivr-ok").count() == 1  # the tree has no problem
    page.get_by_test_id("ivr-try-keys").fill("4 1")
    page.get_by_test_id("ivr-try-run").click()
    steps = page.get_by_test_id("ivr-try-steps")
    steps.wait_for()
    assert steps.locator("li").count() == 3
    assert "02088886666" in steps.inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    assert not page.js_errors, page.js_errors
    suffix = "zh" if language == "zh-hans" else "en"
    _keep(screenshot(page, f"ivr-{suffix}"), f"ivr-{suffix}")


def test_the_pbx_walks_the_menus_and_the_blacklist_rejects(new_page: Any, sign_in: Any, server: str,
                                                            flow_id: int, pbx_token: str) -> None:
    status, start = next_step(server, pbx_token, caller="13912345678")
    assert status == 200, start
    assert start["action"] in ("play", "voicemail")  # voicemail out of the demo calendar's hours
    status, sub = next_step(server, pbx_token, caller="13912345678", node="main", digits="4")
    assert (status, sub["action"], sub["node"]) == (200, "play", "after-sales")
    _status, onward = next_step(server, pbx_token, caller="13912345678", node="after-sales", digits="1")
    assert (onward["action"], onward["number"]) == ("transfer", "02088886666")

    page = new_page()
    sign_in(page, "manager")
    page.goto("/admin/blacklist/")
    form = page.get_by_test_id("blacklist-form")
    form.locator("input[name=number]").fill("139 1234 5678")
    form.locator("input[name=reason]").fill("反复骚扰热线")
    page.get_by_test_id("blacklist-add").click()
    page.wait_for_url("**/admin/blacklist/")
    assert "13912345678" in page.get_by_test_id("blacklist-table").inner_text()
    _status, rejected = next_step(server, pbx_token, caller="+86 139-1234-5678")
    assert (rejected["action"], rejected["reason"]) == ("reject", "blacklisted")
    page.get_by_role("button", name="移出黑名单 13912345678").click()  # leave the demo as it was
    page.wait_for_url("**/admin/blacklist/")
    assert not page.js_errors, page.js_errors
