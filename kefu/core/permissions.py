"""The core's own rights: the audit log and business calendars. Roles are named by their stored values:
the core imports no app."""

from __future__ import annotations

from enum import StrEnum

from kefu.core.policy import register_rights


class CoreRight(StrEnum):
    AUDIT_VIEW = "audit.view"
    CALENDAR_MANAGE = "calendar.manage"


def register() -> None:
    """Called when the app is ready."""
    register_rights({
        CoreRight.AUDIT_VIEW: {"manager", "admin"},
        CoreRight.CALENDAR_MANAGE: {"manager", "admin"},
    })
