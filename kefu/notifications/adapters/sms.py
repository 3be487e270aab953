"""SMS through a gateway backend chosen by KEFU_SMS_BACKEND: "console" writes each message to the log (for
trying Kefu out and for tests); a provider's backend is a class with `send(phone, text) -> SendResult`, named by
its dotted path. Off when KEFU_SMS_BACKEND is empty."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from kefu.notifications.adapters.base import Rendered, SendResult

log = logging.getLogger("kefu.sms")
SMS_MAX = 300


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> SendResult: ...


class ConsoleBackend:
    """Logs instead of sending, and keeps the last messages (a test or a demo can read them)."""

    sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> SendResult:
        log.info("SMS to %s: %s", phone, text)
        ConsoleBackend.sent = [*ConsoleBackend.sent[-99:], (phone, text)]
        return SendResult(True)


def backend() -> SmsBackend:
    name = settings.KEFU_SMS_BACKEND
    if name == "console":
        return ConsoleBackend()
    return import_string(name)()  # type: ignore[no-any-return]


class SmsAdapter:
    code = "sms"

    def is_configured(self) -> bool:
        return bool(settings.KEFU_SMS_BACKEND)

    def address_for(self, user: Any) -> str:
        return (user.phone or "").strip()

    def send(self, *, address: str, user: Any, rendered: Rendered) -> SendResult:
        text = f"{rendered.subject} {rendered.link}".strip()[:SMS_MAX]
        return backend().send(address, text)
