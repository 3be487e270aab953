"""django-admin views of customer records, read-only (services write and audit them). Contacts and ID numbers
are masked here and matched only whole: the one way to see them unmasked is the audited "show" of Kefu's own
customer page."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from kefu.core.admin_base import ReadOnlyInline, ReadOnlyModelAdmin
from kefu.core.masking import mask_contact
from kefu.customers.models import Customer, Site, Tag


class SiteInline(ReadOnlyInline):
    model = Site
    fields = ("label", "province", "city", "address")


@admin.register(Customer)
class CustomerAdmin(ReadOnlyModelAdmin):
    list_display = ("code", "name", "company", "tier", "is_vip", "dedicated_agent", "merged_into",
                    "updated_at")
    list_filter = ("tier", "is_vip", "kind")
    search_fields = ("code", "name", "company", "=contacts__normalized")  # a contact only as a whole value
    exclude = ("id_number",)
    list_select_related = ("dedicated_agent", "merged_into")
    inlines = (SiteInline,)
    readonly_fields = ("masked_contacts",)

    @admin.display(description=_("联系方式"))
    def masked_contacts(self, customer: Customer) -> str:
        return "；".join(f"{point.get_kind_display()} {mask_contact(point.kind, point.value)}"
                        for point in customer.contacts.order_by("-is_primary", "id"))
    show_full_result_count = False  # COUNT(*) over 200,000 customers on every page is wasted work


@admin.register(Tag)
class TagAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)
