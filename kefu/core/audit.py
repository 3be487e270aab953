"""Writing audit rows. Called inside the service (same transaction) that makes the change or reveals data."""

from __future__ import annotations

from typing import Any

from kefu.core.models import AuditLog


def audit_record(*, actor: Any, action: str, obj: Any = None, object_type: str = "", object_id: Any = "",
                 summary: str = "", data: dict[str, Any] | None = None, ip_address: str | None = None) -> AuditLog:
    """Append one audit row. `obj` (a model instance) supplies type and id when given."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary[:300],
        data=data or {},
        ip_address=ip_address,
    )
