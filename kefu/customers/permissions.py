"""Rights on customer records, and which records each person may see (registered with the policy)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db.models import QuerySet

from kefu.accounts.choices import FRONT_LINE, LEADS, SERVICE_STAFF, Role
from kefu.core.policy import has_right, register_rights, register_scope


class CustomerRight(StrEnum):
    VIEW = "customer.view"
    VIEW_PHONE = "customer.view_phone"
    # What a department needs to go on site for a dispatched order: the customer's name, phone and address.
    VIEW_ONSITE = "customer.view_onsite"
    VIEW_ID_NUMBER = "customer.view_id_number"
    EDIT = "customer.edit"
    MERGE = "customer.merge"
    IMPORT = "customer.import"
    EXPORT = "customer.export"
    # Record a customer's consent or refusal per contact channel (联系许可): whoever talks to the customer.
    EDIT_CONSENT = "customer.edit_consent"
    # PIPL: everything held about one customer, complete and unmasked, as a deliberate and audited act of the
    # people answerable for customer data (the service manager, the administrator).
    EXPORT_PERSONAL_DATA = "customer.export_personal_data"


def visible_customers(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Customer records are visible to service staff; department staff see none directly (they see what a
    dispatched order tells them)."""
    return queryset if has_right(user, CustomerRight.VIEW) else queryset.none()


def register() -> None:
    """Called when the app is ready."""
    from kefu.customers.models import Customer

    register_rights({
        CustomerRight.VIEW: SERVICE_STAFF,
        CustomerRight.VIEW_PHONE: FRONT_LINE,
        CustomerRight.VIEW_ONSITE: FRONT_LINE | {Role.DEPARTMENT},
        CustomerRight.VIEW_ID_NUMBER: {Role.MANAGER, Role.ADMIN},
        CustomerRight.EDIT: FRONT_LINE,
        CustomerRight.MERGE: LEADS,
        CustomerRight.IMPORT: {Role.MANAGER, Role.ADMIN},
        CustomerRight.EXPORT: {Role.MANAGER, Role.ADMIN},
        CustomerRight.EDIT_CONSENT: FRONT_LINE,
        CustomerRight.EXPORT_PERSONAL_DATA: {Role.MANAGER, Role.ADMIN},
    })
    # Visibility is the role's alone: no query to decide a right on one record.
    register_scope(Customer, visible_to=visible_customers, allows=lambda user, right, customer: True,
                   sees=lambda user, customer: has_right(user, CustomerRight.VIEW))
