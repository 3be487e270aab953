"""django-admin views of work orders and their configuration, read-only: Kefu's administration pages change
them through the services (kefu/core/admin_base.py)."""

from __future__ import annotations

from django.contrib import admin

from kefu.core.admin_base import ReadOnlyInline, ReadOnlyModelAdmin
from kefu.tickets.models import Category, Dispatch, SlaPolicy, Ticket


@admin.register(Category)
class CategoryAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "name_en", "ticket_type", "parent", "default_department", "is_active", "sort_order")
    list_filter = ("ticket_type", "is_active")
    search_fields = ("name", "name_en")


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "ticket_type", "priority", "customer_tier", "channel", "vip_only",
                    "first_response_seconds", "onsite_seconds", "resolution_seconds", "calendar", "is_active")
    list_filter = ("is_active", "ticket_type", "calendar")


class DispatchInline(ReadOnlyInline):
    model = Dispatch
    extra = 0
    can_delete = False
    readonly_fields = ("department", "status", "dispatched_by", "dispatched_at", "due_at", "acknowledged_by",
                       "acknowledged_at", "completed_by", "completed_at", "result")
    fields = readonly_fields


@admin.register(Ticket)
class TicketAdmin(ReadOnlyModelAdmin):
    """Read-only: work orders change only through the services (history, SLA, webhooks)."""

    list_display = ("number", "subject", "ticket_type", "priority", "status", "assignee", "sla_standing",
                    "created_at")
    list_filter = ("status", "ticket_type", "priority", "channel", "sla_standing")
    search_fields = ("number", "subject")
    inlines = [DispatchInline]
    list_select_related = ("assignee",)
    show_full_result_count = False
