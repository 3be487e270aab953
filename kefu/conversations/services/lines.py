"""Conversations in a routed queue: a channel naming a queue Kefu routes puts its new (and reopened) conversations
in line, and every later change of hands tells routing (kefu.routing.services), inside the same transaction.

The contact is known to routing as "conversation:<id>". Lock order: a change that may touch routing locks the
conversation's contact first, then the conversation, as routing's accept does (contact, offer, agent, then the
conversation through the handler below) — so a pick-up and an accept of the same chat never deadlock."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction

from kefu.conversations.choices import ConversationStatus
from kefu.conversations.models import Conversation
from kefu.routing.services import ROUTING, ContactIn, contact_end, contact_enqueue, contact_taken, register_kind

log = logging.getLogger("kefu.conversations.services")

CHAT_KIND = "chat"  # the routing kind of conversations (QueueKind.CHAT)


def contact_ref(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def _conversation_id(ref: str) -> int | None:
    prefix, _sep, rest = ref.partition(":")
    return int(rest) if prefix == "conversation" and rest.isdigit() else None


def _usable(queue: Any) -> bool:
    return queue is not None and queue.routed and queue.is_active and queue.kind == CHAT_KIND


def routed_queue_of(conversation: Conversation, team_id: int | None = None) -> Any:
    """The routed chat queue the conversation waits in: `team_id`'s own routed chat queue when the conversation
    is sent to another team, else its channel's queue (when that queue serves the team, or any team). None: it
    waits in the team's inbox as before."""
    from kefu.routing.selectors import routed_chat_queues

    if conversation.channel.kind == "phone":
        return None  # a call's conversation: the call itself is what routing knows (kefu.telephony)
    channel_queue = conversation.channel.queue if conversation.channel.queue_id else None
    if team_id is not None and team_id != conversation.channel.team_id:
        own = routed_chat_queues().filter(team_id=team_id).first()
        if own is not None:
            return own
        if _usable(channel_queue) and channel_queue.team_id not in (None, team_id):
            return None  # the channel's queue is another team's: the conversation waits in its new team's inbox
    return channel_queue if _usable(channel_queue) else None


def lock_contact(conversation_id: int) -> bool:
    """Take the lock of the conversation's open contact, if it has one (the first lock of a change). → whether it
    has one. The routing services called later read it again: a message that put the conversation in line while
    this change waited for the conversation's lock is seen then."""
    from kefu.routing.choices import OPEN_CONTACT_STATES
    from kefu.routing.models import RoutedContact

    return bool(list(RoutedContact.objects.select_for_update().filter(
        ref=contact_ref(conversation_id), state__in=list(OPEN_CONTACT_STATES)).values_list("pk", flat=True)))


def line_enter(conversation: Conversation, at: datetime) -> None:
    """A conversation opened or reopened on a channel with a routed queue (or waiting in the inbox of a team
    that has one) takes its place in line; the same conversation again keeps its one place. A reopened
    conversation that still has its agent goes straight back to them, and counts against their chats."""
    queue = routed_queue_of(conversation, conversation.team_id)
    if queue is None:
        return
    contact_enqueue(data=ContactIn(ref=contact_ref(conversation.pk), queue=queue, customer=conversation.customer,
                                   at=at))
    if conversation.assignee_id:
        contact_taken(ref=contact_ref(conversation.pk), agent=conversation.assignee, at=at)


def line_taken(conversation: Conversation, agent: Any, at: datetime) -> None:
    """A person took the conversation outside routing (picked up, assigned, transferred to them): it leaves the
    line and an open offer of it is withdrawn; a chat of another agent moves to this one."""
    contact_taken(ref=contact_ref(conversation.pk), agent=agent, at=at)


def line_back(conversation: Conversation, at: datetime) -> None:
    """The conversation went back to a team's inbox (a transfer to a team, an assignment to nobody): back in
    line when that team is served by a routed queue; its agent has one chat fewer."""
    from kefu.routing.selectors import contact_in_line

    ref = contact_ref(conversation.pk)
    queue = routed_queue_of(conversation, conversation.team_id)
    current = contact_in_line(ref)
    if current is not None:
        if current.state != "assigned" and queue is not None and current.queue_id == queue.pk:
            return  # still waiting in the right line: it keeps its place
        contact_end(ref=ref, at=at)
    if queue is not None:
        contact_enqueue(data=ContactIn(ref=ref, queue=queue, customer=conversation.customer, at=at))


def line_end(conversation: Conversation, at: datetime) -> None:
    """The conversation is closed: its contact ends (abandoned when no agent had it, finished otherwise, freeing
    a place in the agent's chats)."""
    contact_end(ref=contact_ref(conversation.pk), at=at)


class ChatHandler:
    """Routing gave a conversation to an agent (they accepted the offer): it is assigned to them by the
    conversations' own service, as the routing system actor ("系统：路由" in its history)."""

    def assigned(self, contact: Any, agent: Any) -> None:
        from kefu.conversations.services.handling import conversation_assign

        pk = _conversation_id(contact.ref)
        if pk is None:
            log.warning("routed chat contact %s names no conversation", contact.ref)
            return
        conversation = Conversation.objects.select_related("channel").filter(pk=pk).first()
        if conversation is None or conversation.status == ConversationStatus.CLOSED:
            # gone (erased) or closed by a path that did not end its contact: nothing to give; once the accept
            # has committed, the contact ends and the agent's place is free again
            log.warning("routed contact %s: its conversation is gone or closed; ending it", contact.ref)
            ref = contact.ref
            transaction.on_commit(lambda: contact_end(ref=ref), robust=True)
            return
        conversation_assign(actor=ROUTING, conversation=conversation, assignee=agent, at=contact.assigned_at)


def register() -> None:
    register_kind(CHAT_KIND, ChatHandler())
