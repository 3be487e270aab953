"""Rights on notifications: everyone manages their own; administrators configure the group robots."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db.models import QuerySet

from kefu.accounts.choices import Role
from kefu.core.policy import register_rights, register_scope


class NotificationRight(StrEnum):
    OWN = "notification.own"  # read, mark read, preferences: one's own
    CHANNELS_MANAGE = "notification.channels_manage"  # 企业微信 robots


def own_notifications(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.filter(recipient_id=user.pk)


def register() -> None:
    from kefu.notifications.models import Notification

    register_rights({NotificationRight.OWN: set(Role), NotificationRight.CHANNELS_MANAGE: {Role.ADMIN}})
    register_scope(Notification, visible_to=own_notifications)
