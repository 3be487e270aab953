"""The web and app chat widget: messages reach the visitor over Kefu's own websocket, so nothing is sent by the
worker (`live`). The widget's consumer turns a visitor's frames into InboundMessages."""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext as _

from kefu.conversations.adapters.base import OutboundMessage, SendResult
from kefu.conversations.adapters.registry import register


@register
class ChatAdapter:
    kind: ClassVar[str] = "chat"
    live: ClassVar[bool] = True

    def send(self, channel: Any, message: OutboundMessage) -> SendResult:
        return SendResult(True)  # pushed to the visitor's socket after commit; nothing to put on a wire

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        problems: dict[str, str] = {}
        origins = config.get("allowed_origins", [])
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            problems["allowed_origins"] = _("允许嵌入的网站须为网址列表")
        elif any(not (o == "*" or o.startswith(("http://", "https://"))) for o in origins):
            problems["allowed_origins"] = _("网址须以 http:// 或 https:// 开头")
        return problems
