"""How conversations react to events: a reply written on a work order goes out through the order's conversation
(an outbox consumer, so a crash never loses or doubles it), and conversations are subjects of clocks (the
first-response target)."""

from __future__ import annotations

from kefu.clocks.services import SubjectKind, register_subject
from kefu.core.models import OutboxEvent
from kefu.core.relay import Consumer, register_consumer


def _audience(conversation: object) -> list:
    from kefu.conversations.events import clock_audience

    return clock_audience(conversation)  # type: ignore[arg-type]


def register() -> None:
    from kefu.conversations.models import Conversation

    register_subject(SubjectKind(model=Conversation, audience=_audience))
    register_consumer(Consumer(
        name="conversations.ticket_replies", handle=handle, types=frozenset({"ticket.replied"}),
        description="Replies written on a work order are sent through the order's conversation"))
    register_consumer(Consumer(
        name="conversations.bot", handle=_bot, types=frozenset({"conversation.message_received"}),
        description="The answer bot answers customers' messages of the conversations it holds, or hands over"))


def _bot(batch: list[OutboxEvent]) -> None:
    from kefu.conversations.services.bot import handle as bot_handle

    bot_handle(batch)


def handle(batch: list[OutboxEvent]) -> None:
    from kefu.conversations.services import ticket_reply_relay

    for event in batch:
        ticket_reply_relay(ticket_id=int(event.object_id), ticket_message_id=int(event.payload["data"]["message_id"]),
                           author_id=event.actor_id)
