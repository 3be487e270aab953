"""The inbox and a routed chat channel: a conversation waiting in a routed queue says so in the waiting list and
in its pane (routing will offer it to a free agent; picking it up now takes it), and its pick-up stays atomic."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.tests.factories import UserFactory
from kefu.conversations import services
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.routing.models import Queue, RoutedContact

pytestmark = pytest.mark.django_db
PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conv-pane"}


@pytest.fixture
def routed(team: Any) -> Any:
    line = Queue.objects.create(code="webchat", name="网页咨询", kind="chat", routed=True, team=team)
    return ChannelFactory(chat=True, code="web", name="网页在线客服", team=team, queue=line)


def test_a_conversation_in_line_is_marked_in_the_list_and_the_pane(login: Any, agent: Any, routed: Any,
                                                                  team: Any) -> None:
    plain = ChannelFactory(code="app", name="会员 App", team=team)
    in_line = services.message_receive(channel=routed, inbound=inbound("r1", external_id="r")).conversation
    inbox_only = services.message_receive(channel=plain, inbound=inbound("p1", external_id="p")).conversation
    client = login(agent)
    response = client.get("/conversations/?view=waiting")
    rows = {row["id"]: row for row in response.context["rows"]}
    assert (rows[in_line.pk]["in_line"], rows[inbox_only.pk]["in_line"]) == ("网页咨询", "")
    assert response.content.decode().count('data-testid="conv-in-line"') == 1
    pane = client.get(f"/conversations/{in_line.pk}/", **PANE).content.decode()
    assert 'data-testid="pane-status" title="在“网页咨询”排队，系统将分配给空闲客服">排队中<' in pane
    assert "该会话正在“网页咨询”排队" in pane
    assert 'data-testid="conv-claim"' in pane  # an agent may still pick it up: routing's offer is withdrawn


def test_two_agents_picking_up_a_chat_in_line_one_gets_it(login: Any, agent: Any, routed: Any, team: Any) -> None:
    conversation = services.message_receive(channel=routed, inbound=inbound("r1", external_id="r")).conversation
    colleague = UserFactory(role="agent", team=team)
    assert login(agent).post(f"/conversations/{conversation.pk}/claim/", **PANE).status_code == 200
    refused = login(colleague).post(f"/conversations/{conversation.pk}/claim/", **PANE)
    assert refused.status_code == 409
    contact = RoutedContact.objects.get(ref=f"conversation:{conversation.pk}")
    assert (contact.state, contact.agent) == ("assigned", agent)
    pane = login(agent).get(f"/conversations/{conversation.pk}/", **PANE).content.decode()
    assert "排队中" not in pane
