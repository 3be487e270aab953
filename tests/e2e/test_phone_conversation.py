"""A call in the customer's history, in a real browser: the PBX reports a call through the CTI API (queued,
answered by agent1), agent1 opens its phone conversation, and the rest of the call arrives while the page is open
(held, resumed, ended, its recording): the call card and the call's lines follow live, without reloading the page;
then a work order in one step. Screenshots in both languages go to docs/images/phone-conversation-{zh,en}.png."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import kefu_command
from tests.e2e.test_screen_pop import DEMO_CUSTOMER, _keep, pbx_token  # noqa: F401  (pbx_token: a fixture)

CONVERSATION_OF = """
from kefu.telephony.models import Call
print(Call.objects.get(call_id="{call_id}").conversation_id)
"""


def _report(server: str, token: str, call_id: str, phone: str, start: datetime,
            course: list[tuple[str, int, dict[str, str]]]) -> None:
    import json
    import urllib.request

    for event, seconds, extra in course:
        body = json.dumps({"call_id": call_id, "event": event, "at": (start + timedelta(seconds=seconds)).isoformat(),
                           "caller": phone, "called": "4008001234", "queue": "hotline", **extra}).encode()
        request = urllib.request.Request(  # noqa: S310 - our own local server
            f"{server}/api/v1/cti/events", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own local server
            pass


def _lines(page: Any) -> list[str]:
    return [line.inner_text() for line in page.get_by_test_id("call-line").all()]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_call_becomes_a_phone_conversation_with_its_recording(new_page: Any, sign_in: Any, screenshot: Any,
                                                                server: str, server_env: dict[str, str],
                                                                pbx_token: str, language: str) -> None:  # noqa: F811
    name, phone = kefu_command(server_env, "shell", "-c", DEMO_CUSTOMER).strip().splitlines()[-1].split()
    call_id = f"e2e-{uuid.uuid4().hex[:8]}"
    start = datetime.now(tz=UTC) - timedelta(minutes=8)
    recording = f"https://pbx.example.cn/recordings/{call_id}.wav"
    _report(server, pbx_token, call_id, phone, start, [
        ("offered", 0, {}), ("queued", 4, {}), ("ringing", 14, {"agent": "agent1"}),
        ("answered", 18, {"agent": "agent1"})])
    conversation_id = kefu_command(server_env, "shell", "-c",
                                   CONVERSATION_OF.format(call_id=call_id)).strip().splitlines()[-1]
    page = new_page()
    sign_in(page, "agent1", language)
    page.goto(f"/conversations/{conversation_id}/")
    pane = page.get_by_test_id("conv-pane")
    pane.wait_for()
    assert page.locator("html").get_attribute("lang") == ("en" if language == "en" else "zh-CN")
    assert page.get_by_test_id("pane-customer").inner_text() == name
    assert len(_lines(page)) == 3  # 来电, 进入队列, 接听
    page.wait_for_function("document.body.dataset.liveState === 'open'")
    # the rest of the call comes while the page is open: held and resumed change only the call, not the
    # conversation, so only the call's own events can bring their lines (the pane itself is not reloaded)
    page.evaluate("document.querySelector('[data-pane]').dataset.kept = '1'")
    _report(server, pbx_token, call_id, phone, start, [("held", 95, {}), ("resumed", 127, {})])
    page.wait_for_function("document.querySelectorAll('[data-testid=call-line]').length === 5")
    assert page.evaluate("document.querySelector('[data-pane]').dataset.kept") == "1"
    # the hold figure comes with the card; a render may read the call's row just before the resumed event
    # commits and its events just after (each statement sees the latest commit), so the card can show the
    # held state for one refresh: the resumed event's own refresh, queued behind it, brings the figure
    page.wait_for_function("(document.querySelector('[data-testid=call-card]') || {innerText: ''})"
                           ".innerText.includes('32')")
    card = page.get_by_test_id("call-card")
    assert "32" in card.inner_text()
    _report(server, pbx_token, call_id, phone, start, [("ended", 262, {}),
                                                       ("recording", 266, {"recording_url": recording})])
    page.wait_for_function(f"!!document.querySelector('[data-testid=call-card] audio[src=\"{recording}\"]')")
    page.wait_for_function("document.querySelectorAll('[data-testid=call-line]').length === 6")
    lines = _lines(page)
    if language == "zh-hans":
        assert any("接听（等待 14秒）" in line for line in lines), lines
        assert any("恢复通话（保持 32秒）" in line for line in lines), lines
        assert any("通话结束（通话 3分32秒，保持 32秒）" in line for line in lines), lines
    page.wait_for_function("!document.querySelector('[data-testid=conv-side] .side-loading')")
    suffix = "zh" if language == "zh-hans" else "en"
    _keep(screenshot(page, f"phone-conversation-{suffix}"), f"phone-conversation-{suffix}")
    assert not page.js_errors
    if language == "zh-hans":
        page.get_by_test_id("conv-ticket").click()
        page.get_by_test_id("pane-ticket").wait_for(timeout=15_000)  # the order, linked to the call's conversation
