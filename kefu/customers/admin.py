"""django-admin views of customer records, read-only (services write and audit them)."""

from __future__ import annotations

from django.contrib import admin

from kefu.core.admin_base import ReadOnlyInline, ReadOnlyModelAdmin
from kefu.customers.models import ContactPoint, Customer, Site, Tag


class ContactPointInline(ReadOnlyInline):
    model = ContactPoint
    fields = ("kind", "value", "label", "is_primary")


class SiteInline(ReadOnlyInline):
    model = Site
    fields = ("label", "province", "city", "address")


@admin.register(Customer)
class CustomerAdmin(ReadOnlyModelAdmin):
    list_display = ("code", "name", "company", "tier", "is_vip", "dedicated_agent", "merged_into",
                    "updated_at")
    list_filter = ("tier", "is_vip", "kind")
    search_fields = ("code", "name", "company", "contacts__normalized")
    list_select_related = ("dedicated_agent", "merged_into")
    inlines = (ContactPointInline, SiteInline)
    show_full_result_count = False  # COUNT(*) over 200,000 customers on every page is wasted work


@admin.register(Tag)
class TagAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)
