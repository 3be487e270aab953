"""The web and app chat widget: messages reach the visitor over Kefu's own websocket, so nothing is sent by the
worker (`live`). The widget's consumer turns a visitor's frames into InboundMessages.

Settings (config): `allowed_origins` — the sites that may embed the widget ("*": any); `prechat` — the pre-chat
form's fields in order, each a name (`name`, `phone`, `email`, `question`) or `{"name": …, "required": bool}`
(default: name, then the question, which is required). Secret: `identity_secret`, with which host sites sign the
identity of their signed-in users."""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext as _

from kefu.conversations.adapters.base import OutboundMessage, SendResult
from kefu.conversations.adapters.registry import register

PRECHAT_FIELDS = ("name", "phone", "email", "question")
DEFAULT_PRECHAT: tuple[tuple[str, bool], ...] = (("name", False), ("question", True))


def prechat_config(config: dict[str, Any]) -> list[tuple[str, bool]]:
    """(field, required) pairs of the pre-chat form from a channel's config (unknown entries left out)."""
    raw = config.get("prechat")
    if raw is None:
        return list(DEFAULT_PRECHAT)
    fields: list[tuple[str, bool]] = []
    for item in raw if isinstance(raw, list) else []:
        name, required = (item, item == "question") if isinstance(item, str) else (
            (item.get("name"), bool(item.get("required", False))) if isinstance(item, dict) else (None, False))
        if name in PRECHAT_FIELDS and name not in [f for f, _r in fields]:
            fields.append((name, required))
    return fields


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
        prechat = config.get("prechat")
        if prechat is not None:
            names = [i if isinstance(i, str) else i.get("name") if isinstance(i, dict) else None
                     for i in prechat] if isinstance(prechat, list) else [None]
            if any(n not in PRECHAT_FIELDS for n in names) or len(set(names)) != len(names):
                problems["prechat"] = _("咨询前表单的字段只能是 name、phone、email、question，且不能重复")
        return problems
