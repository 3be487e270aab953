"""Work-order history rows and the after-commit announcements (webhooks, websocket push) of a change."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kefu.tickets.models import Ticket, TicketEvent


def ticket_event_record(*, ticket: Ticket, kind: str, actor: Any = None, from_status: str = "",
                        to_status: str = "", data: dict[str, Any] | None = None) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
    )


def publish_ticket_change(ticket: Ticket, event_name: str, extra: dict[str, Any] | None = None) -> None:
    """After commit: queue webhook deliveries and tell open workspaces. Nothing is sent for a rollback."""
    ticket_id = ticket.pk
    payload_extra = dict(extra or {})

    def _send() -> None:
        from kefu.integrations.services import webhook_emit_ticket_event

        webhook_emit_ticket_event(ticket_id=ticket_id, event=event_name, extra=payload_extra)
        _push_workspace(ticket_id)

    transaction.on_commit(_send)


def live_key(ticket_id: int) -> str:
    """What the workspace push says about a changed order: a keyed hash of its id, not the id. Every signed-in
    staff member hears every push; only a page already showing the order (which renders the same key) can
    tell which order it was."""
    from django.utils.crypto import salted_hmac

    return salted_hmac("kefu.tickets.live", str(ticket_id)).hexdigest()[:20]


def _push_workspace(ticket_id: int) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)("workspace", {"type": "workspace.changed", "ticket": live_key(ticket_id)})
    except Exception:
        import logging

        logging.getLogger(__name__).warning("workspace push failed for ticket %s", ticket_id, exc_info=True)
