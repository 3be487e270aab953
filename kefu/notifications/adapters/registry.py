"""The notification channels outside the app, by code. A new channel: a module with an adapter class, one
line here, its code in choices.Channel (docs/notifications.md, "Adding a channel")."""

from __future__ import annotations

from kefu.notifications.adapters.base import ChannelAdapter
from kefu.notifications.adapters.email import EmailAdapter
from kefu.notifications.adapters.sms import SmsAdapter
from kefu.notifications.adapters.wecom import WecomRobotAdapter

ADAPTERS: dict[str, ChannelAdapter] = {a.code: a for a in (EmailAdapter(), SmsAdapter(), WecomRobotAdapter())}


def adapter(code: str) -> ChannelAdapter:
    return ADAPTERS[code]


def configured_channels() -> list[str]:
    return [code for code, a in ADAPTERS.items() if a.is_configured()]
