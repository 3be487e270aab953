"""Phone: conversations made from calls (kefu.telephony tells kefu.conversations.services.phone what each call
became). The voice goes through the PBX; nothing goes out through this channel, and no message comes in through it.

Settings (config): `number` — the called number (the hotline, digits) whose calls this channel holds; empty for
calls without one."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.utils.translation import gettext as _

from kefu.conversations.adapters.base import OutboundMessage, SendResult
from kefu.conversations.adapters.registry import register

NUMBER_RE = re.compile(r"^[0-9*#+]{0,34}$")


@register
class PhoneAdapter:
    kind: ClassVar[str] = "phone"
    live: ClassVar[bool] = False

    def send(self, channel: Any, message: OutboundMessage) -> SendResult:
        # never reached: the services refuse replies on phone conversations before storing them
        return SendResult(False, error=_("电话渠道不能发送消息"), permanent=True)

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        number = config.get("number", "")
        if not isinstance(number, str) or not NUMBER_RE.match(number):
            return {"number": _("号码只能包含数字、*、# 和 +，最多 34 位")}
        return {}
