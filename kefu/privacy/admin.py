"""Read-only views of erasure requests and retention rules in django-admin: changes go through the pages and
services (a second person's approval, audit rows)."""

from __future__ import annotations

from django.contrib import admin

from kefu.core.admin_base import ReadOnlyModelAdmin
from kefu.privacy.models import ErasureRequest, RetentionRule


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "customer", "asked_by", "status", "requested_by", "decided_by", "created_at")
    list_filter = ("status", "asked_by")


@admin.register(RetentionRule)
class RetentionRuleAdmin(ReadOnlyModelAdmin):
    list_display = ("kind", "enabled", "keep_days", "updated_by", "updated_at", "last_run_at", "last_run_count")
