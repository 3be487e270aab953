"""A channel's conversations through routing, in the browser: a manager gives a channel a routed chat queue on its
settings page; a customer's message on it then waits in that queue's line, and the agent's waiting list says so
(排队中). Screenshots: docs/images/admin-channel-queue-zh.png and the inbox (tests/e2e/screenshots)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, SCREENSHOTS, kefu_command

pytestmark = pytest.mark.e2e

RECEIVE = """
from django.utils import timezone
from kefu.accounts.models import User
from kefu.routing.services import ROUTING, StateChange, agent_state_set
agent_state_set(actor=ROUTING, user=User.objects.get(username="agent1"),
                change=StateChange(state="available", source="system", at=timezone.now()))
from kefu.conversations import services
from kefu.conversations.adapters.base import Identity, InboundMessage
from kefu.conversations.models import Channel
from kefu.routing.models import RoutedContact
channel = Channel.objects.get(code="routed-app")
received = services.message_receive(channel=channel, inbound=InboundMessage(
    external_id="routed-e2e-1", identity=Identity("external", "routed-e2e", name="陈静怡"),
    text="我的冰箱什么时候送到？"))
contact = RoutedContact.objects.get(ref=f"conversation:{received.conversation.pk}")
offer = contact.offer_set.filter(outcome="").select_related("agent").first()
print(received.conversation.pk, contact.queue.code, contact.state, offer.agent.username if offer else "-")
"""

CLOSE = """
from kefu.conversations import services
from kefu.conversations.models import Conversation
conversation = Conversation.objects.get(pk=%(pk)d)
services.conversation_close(actor=conversation.assignee, conversation=conversation, reason="resolved")
"""


def test_a_routed_channel_puts_its_chats_in_line(server: str, server_env: dict[str, str], new_page: Any,
                                                  sign_in: Any, screenshot: Any) -> None:
    kefu_command(server_env, "queue", "add", "web-line", "--name", "商城咨询排队", "--kind", "chat",
                 "--team", "客服一组", "--routed", "--offer-seconds", "300")
    kefu_command(server_env, "channel", "add", "webhook", "routed-app", "--name", "商城 App", "--team", "客服一组")

    page = new_page()
    sign_in(page, "manager")
    page.goto("/admin/channels/")
    assert page.get_by_test_id("channel-row-routed-app").is_visible()
    page.get_by_test_id("channel-row-routed-app").get_by_role("link", name="routed-app").click()
    page.wait_for_url("**/admin/channels/*/")
    page.select_option("#id_queue", label="商城咨询排队")
    page.get_by_test_id("channel-save").click()
    page.wait_for_url("**/admin/channels/*/")
    assert page.locator("#id_queue option:checked").inner_text() == "商城咨询排队"
    path = screenshot(page, "admin-channel-queue-zh")
    shutil.copy(path, Path(ROOT) / "docs" / "images" / "admin-channel-queue-zh.png")

    answer = kefu_command(server_env, "shell", "-c", RECEIVE).strip().splitlines()[-1].split()
    conversation_id, queue, state, offered_to = answer
    # dispatched right after the message's commit: agent1 is free, so the chat is offered to a free agent of the team
    assert (queue, state) == ("web-line", "offered")

    agent = new_page()
    sign_in(agent, offered_to)
    agent.goto("/conversations/?view=waiting")
    row = agent.locator(f'[data-conversation="{conversation_id}"]')
    row.get_by_test_id("conv-in-line").wait_for()
    assert row.get_by_test_id("conv-in-line").inner_text() == "排队中"
    row.locator("a[data-open]").click()
    agent.get_by_test_id("pane-status").wait_for()
    assert agent.get_by_test_id("pane-status").inner_text() == "排队中"
    assert "商城咨询排队" in agent.get_by_test_id("composer-in-line").inner_text()
    screenshot(agent, "inbox-routed-chat-zh")
    assert SCREENSHOTS.exists()

    agent.get_by_test_id("offer-accept").click()  # the offer on the agent's desk: the chat becomes theirs
    agent.get_by_test_id("offer-card").wait_for(state="detached")
    agent.goto(f"/conversations/{conversation_id}/")
    agent.get_by_test_id("pane-assignee").wait_for()
    assert agent.get_by_test_id("pane-status").count() == 0  # no longer in line
    kefu_command(server_env, "shell", "-c", CLOSE % {"pk": int(conversation_id)})  # the agent's chat is free again
