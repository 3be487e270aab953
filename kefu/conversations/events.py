"""Conversation events announced through the outbox, with their audiences.

Payloads carry the conversation after the change (`ConversationInfo`) and, for message events, the message
(`MessageInfo`): enough for the inbox, the widget and a webhook receiver to act without asking again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.cache import cache
from pydantic import BaseModel

from kefu.conversations.models import Activity, Conversation, Message
from kefu.core.actors import person
from kefu.core.events import Audience, emit, emit_many, event_type
from kefu.core.policy import rights
from kefu.core.versions import DIRECTORY, current


class ConversationInfo(BaseModel):
    id: int
    channel: str  # the channel's code
    channel_kind: str
    status: str
    customer_id: int
    team_id: int | None
    assignee_id: int | None
    ticket_id: int | None
    subject: str
    last_seq: int
    last_message_at: datetime | None
    version: int
    bot_state: str = ""  # "", active (the bot is answering), handed_over


class MessageInfo(BaseModel):
    id: int
    seq: int
    direction: str
    author_kind: str
    author_id: int | None
    author_name: str
    body: str  # plain text, at most PREVIEW characters in events (the API has the whole message)
    kind: str
    client_id: str
    delivery_state: str
    attachments: int
    automated: str
    created_at: datetime
    # the bot's message: its name and what the customer may do with it (`kind` answer, suggestions or handoff;
    # `article_id`, `consultation_id`, `suggestions` [{article_id, title}]); absent on other messages
    bot: dict[str, Any] | None = None


class MessageEvent(BaseModel):
    conversation: ConversationInfo
    message: MessageInfo


class FailedMessageEvent(MessageEvent):
    error: str  # why the channel did not take it (the last attempt's answer)


class ConversationEvent(BaseModel):
    conversation: ConversationInfo
    data: dict[str, Any] = {}


LEADS_SECONDS = 600  # the team → lead map is also rebuilt this often (a change made outside the services)
PREVIEW = 2000

CONVERSATION_OPENED = event_type(
    "conversation.opened", version=1, schema=ConversationEvent, object_type="conversations.conversation",
    description="A customer started a conversation on a channel (it waits in its team's inbox).")
MESSAGE_RECEIVED = event_type(
    "conversation.message_received", version=1, schema=MessageEvent, object_type="conversations.conversation",
    description="A customer's message was stored.")
MESSAGE_SENT = event_type(
    "conversation.message_sent", version=1, schema=MessageEvent, object_type="conversations.conversation",
    description="An agent's (or the system's) message to the customer was stored and is on its way.")
MESSAGE_DELIVERY = event_type(
    "conversation.message_delivery_changed", version=1, schema=MessageEvent,
    object_type="conversations.conversation",
    description="A message to the customer was delivered, read, or given up (`failed`); on the chat widget also a "
                "customer's message read by the agent (`read`, shown to the visitor as 已读).")
MESSAGE_FAILED = event_type(
    "conversation.message_failed", version=1, schema=FailedMessageEvent, object_type="conversations.conversation",
    description="A message to the customer was given up: refused for good, or still refused after its last retry; "
                "`error` says why. Its author and the conversation's agent are notified.")
CONVERSATION_ASSIGNED = event_type(
    "conversation.assigned", version=1, schema=ConversationEvent, object_type="conversations.conversation",
    description="Picked up, assigned or transferred; `data`: `from_id`, `to_id`, `from_team_id`, `how` "
                "(`claimed`, `assigned`, `transferred`, `answered`: the agent who answered a phone conversation's "
                "call).")
CONVERSATION_CLOSED = event_type(
    "conversation.closed", version=1, schema=ConversationEvent, object_type="conversations.conversation",
    description="The conversation ended; `data`: `reason`, `by_id` (none: the customer or the system).")
CONVERSATION_LINKED = event_type(
    "conversation.ticket_linked", version=1, schema=ConversationEvent, object_type="conversations.conversation",
    description="The conversation became (or was linked to) a work order; `data`: `ticket_id`, `number`.")
CONVERSATION_BOT_HANDED_OVER = event_type(
    "conversation.bot_handed_over", version=1, schema=ConversationEvent, object_type="conversations.conversation",
    description="The answer bot handed the conversation over to a person: it now waits in its team's inbox (or "
                "routing queue) like any new conversation; `data`: `reason` (`asked`: the customer asked for a "
                "person, `unsure`: the bot could not answer, `attachment`, `disabled`).")
CONVERSATION_RATED = event_type(
    "conversation.rated", version=1, schema=ConversationEvent, object_type="conversations.conversation",
    description="The customer rated the conversation; `data`: `score` (1–5).")


def conversation_info(conversation: Conversation) -> dict[str, Any]:
    channel = conversation.channel
    return {
        "id": conversation.pk, "channel": channel.code, "channel_kind": channel.kind, "status": conversation.status,
        "customer_id": conversation.customer_id, "team_id": conversation.team_id,
        "assignee_id": conversation.assignee_id, "ticket_id": conversation.ticket_id,
        "subject": conversation.subject, "last_seq": conversation.last_seq,
        "last_message_at": conversation.last_message_at, "version": conversation.version,
        "bot_state": conversation.bot_state,
    }


def message_info(message: Message, *, attachments: int | None = None) -> dict[str, Any]:
    author = message.author
    info = {
        "id": message.pk, "seq": message.seq, "direction": message.direction, "author_kind": message.author_kind,
        "author_id": message.author_id, "author_name": str(author) if author else "",
        "body": message.body[:PREVIEW], "kind": message.kind, "client_id": message.client_id,
        "delivery_state": message.delivery_state,
        "attachments": attachments if attachments is not None else message.attachments.count(),
        "automated": message.automated, "created_at": message.created_at,
    }
    if message.author_kind == "bot":
        bot = dict((message.meta or {}).get("bot") or {})
        info["author_name"] = str(bot.get("name") or "")
        info["bot"] = bot
    return info


def conversation_audience(conversation: Conversation, *extra_users: int) -> list[Audience]:
    """Its agent, its team's inbox, the people it involves, and the roles that watch every conversation."""
    from kefu.conversations.permissions import ConversationRight

    audience = [Audience.role(role) for role in rights().get(ConversationRight.VIEW_ALL, ())]
    if conversation.team_id and not bot_holds(conversation):
        audience.append(Audience.team(conversation.team_id))
    if conversation.assignee_id:
        audience.append(Audience.user(conversation.assignee_id))
    audience += [Audience.user(u) for u in extra_users if u]
    return audience


KEPT = frozenset({"conversation.assigned", "conversation.closed", "conversation.ticket_linked",
                  "conversation.bot_handed_over"})


def announce(event: Any, conversation: Conversation, *, actor: Any = None, data: dict[str, Any] | None = None,
             extra_users: tuple[int, ...] = ()) -> None:
    """Announce a change of the conversation; the changes people make to it (pick-up, assignment, transfer,
    close, an order made of it) are also kept in its history (Activity), written here in the same transaction
    so the two never disagree."""
    row = emit(event, obj=conversation, actor=actor,
               payload={"conversation": conversation_info(conversation), "data": data or {}},
               audience=conversation_audience(conversation, *extra_users))
    if event.name in KEPT:
        Activity.objects.create(conversation=conversation, created_at=row.created_at, kind=event.name,
                                actor=person(actor), team_id=conversation.team_id, data=data or {})


def team_lead_of(team_id: int | None) -> int | None:
    """A team's lead (a user id), from a map of every team's lead kept in the cache until the directory changes
    (creating or editing a team bumps its version): a message's audience costs no query."""
    if not team_id:
        return None
    from kefu.accounts.models import Team

    key = f"kefu:team-leads:{current(DIRECTORY)}"
    leads = cache.get(key)
    if leads is None:
        leads = dict(Team.objects.exclude(lead=None).values_list("pk", "lead_id"))
        cache.set(key, leads, LEADS_SECONDS)
    return leads.get(team_id)


def message_audience(conversation: Conversation) -> list[Audience]:
    """A message concerns its conversation's agent and the team's lead, or, while nobody has it, the team's inbox
    (and the roles that watch every conversation): the rest of a team is not told of each line of a colleague's
    chat."""
    from kefu.conversations.permissions import ConversationRight

    audience = [Audience.role(role) for role in rights().get(ConversationRight.VIEW_ALL, ())]
    if conversation.assignee_id:
        audience.append(Audience.user(conversation.assignee_id))
        lead = team_lead_of(conversation.team_id)
        if lead and lead != conversation.assignee_id:
            audience.append(Audience.user(lead))
    elif conversation.team_id and not bot_holds(conversation):
        audience.append(Audience.team(conversation.team_id))
    return audience


def bot_holds(conversation: Conversation) -> bool:
    """The bot is answering it: its team's inbox does not hear of it until it is handed over (those who watch
    every conversation do)."""
    return conversation.bot_state == "active" and conversation.assignee_id is None


def clock_audience(conversation: Conversation) -> list[Audience]:
    """Who hears that a conversation's first-response target is near or missed: whoever must answer it (its
    agent, or its team's inbox while nobody has it), the team's lead, and the roles that watch every
    conversation. Not the whole team once an agent has it: with hundreds of chats a minute, a warning to twenty
    colleagues about each of them is noise (and load)."""
    return message_audience(conversation)


def announce_messages(event: Any, conversation: Conversation, messages: list[Message], *, actor: Any = None) -> None:
    """One event per message (one insert), e.g. the delivery changes of a read receipt covering several."""
    from django.db.models import Count

    from kefu.conversations.models import MessageAttachment

    counts = dict(MessageAttachment.objects.filter(message_id__in=[m.pk for m in messages])
                  .values("message_id").annotate(n=Count("id")).values_list("message_id", "n"))
    info, audience = conversation_info(conversation), message_audience(conversation)
    emit_many(event, [({"conversation": info, "message": message_info(m, attachments=counts.get(m.pk, 0))},
                       audience, conversation) for m in messages], actor=actor)


def announce_failure(conversation: Conversation, message: Message, *, actor: Any = None) -> None:
    """A reply given up: its author hears of it too, wherever the conversation now is."""
    audience = message_audience(conversation)
    if message.author_id and Audience.user(message.author_id) not in audience:
        audience.append(Audience.user(message.author_id))
    emit(MESSAGE_FAILED, obj=conversation, actor=actor,
         payload={"conversation": conversation_info(conversation), "message": message_info(message),
                  "error": message.last_error[:500]},
         audience=audience)


def announce_message(event: Any, conversation: Conversation, message: Message, *, actor: Any = None,
                     attachments: int | None = None) -> None:
    emit(event, obj=conversation, actor=actor,
         payload={"conversation": conversation_info(conversation),
                  "message": message_info(message, attachments=attachments)},
         audience=message_audience(conversation))
