"""Django admin for customer records: read-only (services write and audit them); tags are editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kefu.customers.models import ContactPoint, Customer, Site, Tag


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ContactPointInline(_ReadOnlyInline):
    model = ContactPoint
    fields = ("kind", "value", "label", "is_primary")


class SiteInline(_ReadOnlyInline):
    model = Site
    fields = ("label", "province", "city", "address")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "company", "tier", "is_vip", "dedicated_agent", "merged_into",
                    "updated_at")
    list_filter = ("tier", "is_vip", "kind")
    search_fields = ("code", "name", "company", "contacts__normalized")
    list_select_related = ("dedicated_agent", "merged_into")
    inlines = (ContactPointInline, SiteInline)
    show_full_result_count = False  # COUNT(*) over 200,000 customers on every page is wasted work

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)
