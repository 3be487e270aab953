"""The reply box of a work order promises only what happens: through the order's conversation, or recorded only."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations import services
from kefu.conversations.tests.factories import ChannelFactory, inbound
from kefu.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


def test_an_order_without_a_conversation_says_the_reply_is_only_recorded(agent: Any, login: Any,
                                                                         client: Any) -> None:
    ticket = ticket_create(actor=agent, subject="电话咨询", assignee=agent)
    login(agent)
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "客户收不到" in page
    assert "记录回复" in page
    assert "客户可以看到回复" not in page


def test_an_order_from_a_conversation_names_the_channel(agent: Any, team: Any, login: Any, client: Any) -> None:
    channel = ChannelFactory(code="shop", name="商城 App", team=team)
    conversation = services.message_receive(channel=channel, inbound=inbound("m1", text="退货")).conversation
    ticket = services.conversation_create_ticket(actor=agent, conversation=conversation)
    login(agent)
    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    assert "回复将通过「商城 App」发给客户" in page
    assert "发送回复" in page
