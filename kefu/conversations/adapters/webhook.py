"""The generic app / mini-program webhook (docs/conversations.md has the contract).

Inbound: `POST /api/v1/inbound/<code>` signed with the channel's secret — HMAC-SHA256 over "<timestamp>.<raw
body>", the same scheme as Kefu's own outgoing webhooks — with a JSON body turned into an InboundMessage here.
Outbound: an agent's reply is POSTed to the channel's `outbound_url`, signed the same way, retried until a 2xx.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.utils.translation import gettext as _
from pydantic import BaseModel, Field, ValidationError

from kefu.conversations.adapters.base import Identity, InboundMessage, OutboundMessage, SendResult
from kefu.conversations.adapters.registry import register
from kefu.integrations import signing
from kefu.integrations.transport import BlockedAddress, check_url, get_transport

REPLAY_WINDOW_SECONDS = 300


class InboundCustomer(BaseModel):
    external_id: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)


class InboundBody(BaseModel):
    message_id: str = Field(min_length=1, max_length=200)
    customer: InboundCustomer
    text: str = Field(min_length=1, max_length=20000)
    sent_at: datetime | None = None


class SignatureRefused(Exception):
    """A request whose signature or timestamp does not hold (answered 401)."""


def verify(*, secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> None:
    """Raise SignatureRefused unless the signature matches and the timestamp is within the replay window."""
    if not secret:
        raise SignatureRefused("the channel has no secret")
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureRefused("X-Kefu-Timestamp is not Unix seconds") from None
    if abs((time.time() if now is None else now) - sent) > REPLAY_WINDOW_SECONDS:
        raise SignatureRefused("X-Kefu-Timestamp is more than 5 minutes off")
    if not signing.verify(secret, str(sent), body, signature or "", now=float(sent)):
        raise SignatureRefused("X-Kefu-Signature does not match")


def parse(body: bytes) -> InboundMessage:
    """The JSON body as an InboundMessage; ValueError (with the field) when it is not the contract's shape."""
    try:
        data = InboundBody.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ValueError(field, first.get("msg", "invalid")) from None
    sent_at = data.sent_at
    if sent_at is not None and sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    customer = data.customer
    return InboundMessage(
        external_id=data.message_id, text=data.text, sent_at=sent_at,
        identity=Identity(kind="external", value=customer.external_id.strip(), name=(customer.name or "").strip(),
                          phone=(customer.phone or "").strip()))


def outbound_body(message: OutboundMessage) -> bytes:
    payload: dict[str, Any] = {
        "message_id": str(message.message_id), "conversation_id": message.conversation_id,
        "customer": {"external_id": message.to.value}, "text": message.text,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size}
                        for a in message.attachments],
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@register
class WebhookAdapter:
    kind: ClassVar[str] = "webhook"
    live: ClassVar[bool] = False

    def send(self, channel: Any, message: OutboundMessage) -> SendResult:
        url = str(channel.config.get("outbound_url") or "")
        if not url:
            return SendResult(False, error="the channel has no outbound URL", permanent=True)
        body = outbound_body(message)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Kefu-Timestamp": str(timestamp),
            "X-Kefu-Signature": signing.signature(channel.secret("secret"), timestamp, body),
            "X-Kefu-Message": str(message.message_id),
        }
        result = get_transport().send(url, body, headers, float(settings.KEFU_WEBHOOK_TIMEOUT_SECONDS))
        if result.ok:
            return SendResult(True, external_id=f"kefu-{message.message_id}")
        # retried until a 2xx (the contract); only an address Kefu refuses to call is given up at once
        return SendResult(False, error=result.error or f"HTTP {result.status_code}", permanent=result.permanent)

    def check_config(self, config: dict[str, Any]) -> dict[str, str]:
        url = config.get("outbound_url")
        if url in (None, ""):
            return {}
        if not isinstance(url, str):
            return {"outbound_url": _("回调地址须为网址")}
        try:
            check_url(url, resolve=False)
        except BlockedAddress as exc:
            return {"outbound_url": _("回调地址不可用：%(e)s") % {"e": exc}}
        return {}
