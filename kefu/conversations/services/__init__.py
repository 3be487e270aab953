"""Every write of conversations: channels, inbound messages (customer and conversation found or made), replies and
their delivery, pick-up, assignment, transfer, closing, rating and the link to work orders.

Adapters hand in normalised messages (kefu.conversations.adapters); these services decide what they mean. Each
service is one transaction that writes its events into the outbox; sending waits for the commit.

One module per part: channels, identities, inbound, outbound, handling, orders, canned, phone, bot (the answer bot
answering first, and its handoff to a person) (and _common for what they share); everything public is imported
from here."""

from __future__ import annotations

from kefu.conversations.adapters.base import Identity, InboundMessage
from kefu.conversations.services._common import (
    BACKOFF_SECONDS,
    BODY_MAX,
    CHANNEL_ACTOR,
    CODE_RE,
    FIRST_RESPONSE,
    MAX_ATTEMPTS,
    SEND_LEASE,
    SUBJECT_MAX,
    TICKET_CHANNEL,
    AttachmentIn,
    Received,
    first_response_target,
    sanitize_html,
)
from kefu.conversations.services.bot import bot_attend, conversation_hand_over, customer_asks_for_person
from kefu.conversations.services.canned import (
    SHORTCUT_RE,
    canned_reply_create,
    canned_reply_delete,
    canned_reply_update,
)
from kefu.conversations.services.channels import ChannelChanges, channel_create, channel_update, new_secret
from kefu.conversations.services.handling import (
    conversation_assign,
    conversation_claim,
    conversation_close,
    conversation_rate,
    conversation_transfer,
)
from kefu.conversations.services.identities import customer_for_identity
from kefu.conversations.services.inbound import automated_reason, message_receive, open_conversation_of
from kefu.conversations.services.orders import conversation_create_ticket
from kefu.conversations.services.outbound import (
    backoff_seconds,
    message_deliver,
    message_delivery_update,
    message_send,
    messages_mark_read,
    messages_retry_due,
    outbound_for,
    participant_read,
    system_message,
    ticket_reply_relay,
)
from kefu.conversations.services.phone import CallOutcome, PhoneCall, phone_channel, phone_conversation_sync

__all__ = [
    "BACKOFF_SECONDS",
    "BODY_MAX",
    "CHANNEL_ACTOR",
    "CODE_RE",
    "FIRST_RESPONSE",
    "MAX_ATTEMPTS",
    "SEND_LEASE",
    "SHORTCUT_RE",
    "SUBJECT_MAX",
    "TICKET_CHANNEL",
    "AttachmentIn",
    "CallOutcome",
    "ChannelChanges",
    "Identity",
    "InboundMessage",
    "PhoneCall",
    "Received",
    "automated_reason",
    "backoff_seconds",
    "bot_attend",
    "canned_reply_create",
    "canned_reply_delete",
    "canned_reply_update",
    "channel_create",
    "channel_update",
    "conversation_assign",
    "conversation_claim",
    "conversation_close",
    "conversation_create_ticket",
    "conversation_hand_over",
    "conversation_rate",
    "conversation_transfer",
    "customer_asks_for_person",
    "customer_for_identity",
    "first_response_target",
    "message_deliver",
    "message_delivery_update",
    "message_receive",
    "message_send",
    "messages_mark_read",
    "messages_retry_due",
    "new_secret",
    "open_conversation_of",
    "outbound_for",
    "participant_read",
    "phone_channel",
    "phone_conversation_sync",
    "sanitize_html",
    "system_message",
    "ticket_reply_relay",
]
