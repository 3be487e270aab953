"""Read-only views of erasure requests and retention rules in django-admin: changes go through the pages and
services (a second person's approval, audit rows)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from kefu.privacy.models import ErasureRequest, RetentionRule


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ErasureRequest)
class ErasureRequestAdmin(_ReadOnly):
    list_display = ("id", "customer", "asked_by", "status", "requested_by", "decided_by", "created_at")
    list_filter = ("status", "asked_by")


@admin.register(RetentionRule)
class RetentionRuleAdmin(_ReadOnly):
    list_display = ("kind", "enabled", "keep_days", "updated_by", "updated_at", "last_run_at", "last_run_count")
