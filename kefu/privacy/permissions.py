"""Rights on personal-data protection (PIPL): erasure requests and their approval, retention rules."""

from __future__ import annotations

from enum import StrEnum

from kefu.accounts.choices import Role
from kefu.core.policy import register_rights


class PrivacyRight(StrEnum):
    # File an erasure request, and approve or reject another person's: the approver is never the requester.
    ERASURE = "privacy.erasure"
    # How long each kind of data is kept.
    RETENTION_MANAGE = "privacy.retention_manage"


def register() -> None:
    """Called when the app is ready."""
    register_rights({
        PrivacyRight.ERASURE: {Role.MANAGER, Role.ADMIN},
        PrivacyRight.RETENTION_MANAGE: {Role.ADMIN},
    })
