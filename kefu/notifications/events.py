"""The event a new notification announces: its recipient's pages update the bell without a request."""

from __future__ import annotations

from pydantic import BaseModel

from kefu.core.events import event_type


class NotificationPayload(BaseModel):
    id: int
    kind: str
    title: str  # in the recipient's language
    link: str
    unread: int  # the recipient's unread count after this one


NOTIFICATION_CREATED = event_type(
    "notification.created", version=1, schema=NotificationPayload, object_type="notifications.notification",
    description="A person was notified (to their own pages only; never sent to webhooks).")
