"""Administration of work-order configuration. SLA policies are saved through the SLA services so that
open orders are re-targeted and the change is audited; orders themselves are read-only here."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from kefu.core.errors import ApplicationError
from kefu.tickets import sla
from kefu.tickets.models import Category, Dispatch, SlaPolicy, Ticket


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "name_en", "ticket_type", "parent", "default_department", "is_active", "sort_order")
    list_filter = ("ticket_type", "is_active")
    search_fields = ("name", "name_en")


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "ticket_type", "priority", "customer_tier", "channel", "vip_only",
                    "first_response_seconds", "onsite_seconds", "resolution_seconds", "calendar", "is_active")
    list_filter = ("is_active", "ticket_type", "calendar")
    readonly_fields = ("version",)

    def save_model(self, request: HttpRequest, obj: SlaPolicy, form: Any, change: bool) -> None:
        data = sla.SlaPolicyData(**{f.name: getattr(obj, f.name) for f in fields(sla.SlaPolicyData)})
        try:
            if change:
                saved = sla.sla_policy_update(actor=request.user, policy=obj, data=data,
                                              expected_version=obj.version)
            else:
                saved = sla.sla_policy_create(actor=request.user, data=data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = saved.pk
        obj.version = saved.version

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: past orders keep pointing at the policy they were measured by


class DispatchInline(admin.TabularInline):
    model = Dispatch
    extra = 0
    can_delete = False
    readonly_fields = ("department", "status", "dispatched_by", "dispatched_at", "due_at", "acknowledged_by",
                       "acknowledged_at", "completed_by", "completed_at", "result")
    fields = readonly_fields


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Read-only: work orders change only through the services (history, SLA, webhooks)."""

    list_display = ("number", "subject", "ticket_type", "priority", "status", "assignee", "sla_standing",
                    "created_at")
    list_filter = ("status", "ticket_type", "priority", "channel", "sla_standing")
    search_fields = ("number", "subject")
    inlines = [DispatchInline]
    list_select_related = ("assignee",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
