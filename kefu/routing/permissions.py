"""Rights on queues."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import Role
from kefu.core.policy import register_rights


class RoutingRight(StrEnum):
    QUEUE_MANAGE = "queue.manage"  # set up queues and their service-level targets


def register() -> None:
    register_rights({RoutingRight.QUEUE_MANAGE: {Role.MANAGER, Role.ADMIN}})
