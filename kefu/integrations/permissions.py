"""Rights on integrations: outgoing webhooks and their delivery log."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import Role
from kefu.core.policy import register_rights


class IntegrationRight(StrEnum):
    WEBHOOK_MANAGE = "webhook.manage"


def register() -> None:
    """Called when the app is ready."""
    register_rights({IntegrationRight.WEBHOOK_MANAGE: {Role.ADMIN}})
