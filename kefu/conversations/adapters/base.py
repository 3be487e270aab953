"""What every channel adapter deals in: a normalised inbound message (transport data turned into Kefu's terms),
an outbound message (a stored reply to put on the wire) and the result of sending it.

Adapters only translate and move bytes; `kefu.conversations.services` decides what a message means (which
customer, which conversation, whether an order is opened). An adapter never writes to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from kefu.conversations.models import Channel


@dataclass(frozen=True)
class Identity:
    """Who the customer is on the channel. `kind` is an IdentityKind code; `value` is the address on it
    (an e-mail address, a phone number, an openid, the app's user id, a widget visitor id). `name`, `phone` and
    `email` are what the channel also told about the person (used when a customer record is created)."""

    kind: str
    value: str
    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""  # an inline image's Content-ID (e-mail), without <>


@dataclass(frozen=True)
class InboundMessage:
    """One message from a customer, normalised.

    `external_id` is the channel's own id of the message (Message-ID, MsgId, the app's message_id): the same
    id again is a duplicate and changes nothing. `thread_refs` are ids of earlier messages this one answers
    (In-Reply-To / References): the conversation holding one of them is continued. `ticket_number` is an order
    number found in the message (an e-mail subject's [GD…]). `automated` (an Automated code) marks bounces,
    auto-replies and loops: stored, never answered, never opening an order.
    """

    external_id: str
    identity: Identity
    text: str
    html: str = ""  # raw HTML as received; sanitised by the service before anybody sees it
    subject: str = ""
    sent_at: datetime | None = None
    thread_refs: tuple[str, ...] = ()
    ticket_number: str = ""
    attachments: tuple[InboundAttachment, ...] = ()
    kind: str = "text"  # text, image, voice, file, event
    event: str = ""  # for kind "event": subscribe, unsubscribe, enter_session, …
    automated: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # transport details kept with the message


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    path: str  # a path in the storage (read by the adapter when sending)
    size: int = 0


@dataclass(frozen=True)
class OutboundMessage:
    """A stored outbound message to put on the wire. `to` is the customer's identity on the channel;
    `in_reply_to` / `references` are the external ids of the conversation's messages (e-mail threading);
    `subject` the conversation's subject; `context` what the channel needs to answer in the same session
    (WeCom's open_kfid, a passive-reply window…), as the inbound messages' meta left it."""

    message_id: int
    conversation_id: int
    text: str
    to: Identity
    html: str = ""
    subject: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    attachments: tuple[OutboundAttachment, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What sending did. `external_id` is the channel's id of the sent message (threading, delivery reports).
    `permanent`: retrying cannot help (refused address, blocked user). `retry_after`: seconds the provider asked
    to wait."""

    ok: bool
    external_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None


class Adapter(Protocol):
    """One kind of channel. `kind` is a ChannelKind code. `live`: the adapter's messages reach the customer
    over Kefu's own websocket (the chat widget), so nothing is sent by the worker."""

    kind: ClassVar[str]
    live: ClassVar[bool]

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Put one outbound message on the wire (called by the worker, retried on failure)."""
        ...

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        """Problems with a channel's settings, by field name ({} when fine)."""
        ...
