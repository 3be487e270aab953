"""Factories of conversations' tests (shared by every channel's test folder)."""

from __future__ import annotations

import factory

from kefu.conversations.adapters.base import Identity, InboundMessage
from kefu.conversations.models import CannedReply, Channel


class ChannelFactory(factory.django.DjangoModelFactory):
    """A channel; default an app webhook with secret "s3cret". Traits: chat, email."""

    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"app-{n}")
    kind = "webhook"
    name = factory.Sequence(lambda n: f"App 渠道 {n}")
    team = None
    config = factory.LazyFunction(dict)
    secrets = factory.LazyFunction(lambda: {"secret": "s3cret"})

    class Params:
        chat = factory.Trait(kind="chat", code=factory.Sequence(lambda n: f"chat-{n}"), name="网页在线客服",
                             config=factory.LazyFunction(lambda: {"allowed_origins": ["*"]}))
        email = factory.Trait(kind="email", code=factory.Sequence(lambda n: f"mail-{n}"), name="客服邮箱",
                              creates_tickets=True)


class CannedReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedReply

    shortcut = factory.Sequence(lambda n: f"hi{n}")
    title = "问候"
    body = "您好，请问有什么可以帮您？"


def inbound(message_id: str = "m1", *, external_id: str = "u1", text: str = "你好", name: str = "小王",
            kind: str = "external", **extra: object) -> InboundMessage:
    """An inbound message from a customer known to the channel as `external_id`."""
    return InboundMessage(external_id=message_id, identity=Identity(kind=kind, value=external_id, name=name),
                          text=text, **extra)  # type: ignore[arg-type]
