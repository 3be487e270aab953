"""What a chat visitor's browser hears of its conversation: committed conversation events turned into frames that
hold only what the customer may see (never notes on a transfer, ids of staff or teams). The live relay
(kefu.web.live) delivers them to the group `visitor.<conversation id>` that the widget's socket joins.

Typing and presence are not events: they pass through the channel layer group `chat.<conversation id>` only
(`typing_group`), and are lost with the socket, as they should be."""

from __future__ import annotations

from typing import Any

PREVIEW = 2000  # an event carries at most this much of a message; a longer one is fetched whole over the socket


def visitor_group(conversation_id: int | str) -> str:
    return f"visitor.{conversation_id}"


def typing_group(conversation_id: int | str) -> str:
    return f"chat.{conversation_id}"


def visitor_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the visitor sees it (from an event's `message`, or from kefu.conversations.events.message_info)."""
    body = message.get("body", "")
    return {
        "id": message["id"], "seq": message["seq"], "direction": message["direction"],
        "author": message.get("author_kind", ""), "name": message.get("author_name", ""),
        "body": body, "truncated": len(body) >= PREVIEW, "kind": message.get("kind", "text"),
        "client_id": message.get("client_id", ""), "attachments": message.get("attachments", 0),
        "state": message.get("delivery_state", ""), "at": message.get("created_at"),
        **({"bot": message["bot"]} if message.get("bot") else {}),
    }


def visitor_frames(event_type: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames a conversation event gives its visitor (none for events the visitor does not see)."""
    message = payload.get("message")
    if event_type in ("conversation.message_sent", "conversation.message_received") and message:
        return [{"type": "message", "message": visitor_message(message)}]
    if event_type == "conversation.message_delivery_changed" and message:
        return [{"type": "receipt", "id": message["id"], "seq": message["seq"],
                 "state": message.get("delivery_state", "")}]
    if event_type == "conversation.closed":
        return [{"type": "closed", "reason": (payload.get("data") or {}).get("reason", "")}]
    if event_type == "conversation.bot_handed_over":
        return [{"type": "bot_handed_over"}]
    if event_type == "conversation.assigned" and (payload.get("conversation") or {}).get("assignee_id"):
        return [{"type": "agent_joined"}]
    return []
