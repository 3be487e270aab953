"""django-admin view of the audit log: read-only for everyone, superusers included (no add, change or delete,
no bulk actions). The audit viewer in the administration (/admin/audit/) is where people read it."""

from __future__ import annotations

from django.contrib import admin

from kefu.core.admin_base import ReadOnlyModelAdmin
from kefu.core.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "actor", "action", "object_type", "object_id", "summary", "ip_address")
    list_filter = ("action",)
    search_fields = ("=object_id", "action")
    list_select_related = ("actor",)
    show_full_result_count = False
