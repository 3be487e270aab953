"""Customers by their channel identity: the identity known to the channel, else an e-mail address or phone number among
a customer's contacts (merged records followed), else a new customer."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext as _

from kefu.conversations.adapters.base import Identity
from kefu.conversations.choices import (
    IdentityKind,
)
from kefu.conversations.models import (
    Channel,
    ChannelIdentity,
)
from kefu.core.errors import ValidationFailed

log = logging.getLogger("kefu.conversations.services")


def _followed(customer: Any) -> Any:
    seen = set()
    while customer.merged_into_id is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = customer.merged_into
    return customer


def _contact_customer(kind: str, value: str) -> Any:
    from kefu.customers.models import ContactPoint
    from kefu.customers.normalize import clean_contact

    try:
        normalized = clean_contact(kind, value)[1]
    except ValidationFailed:
        return None
    point = (ContactPoint.objects.filter(kind=kind, normalized=normalized, customer__anonymised_at__isnull=True)
             .select_related("customer").order_by("customer__merged_into_id", "-customer_id").first())
    return _followed(point.customer) if point else None


def _identity_contacts(identity: Identity) -> list[Any]:
    from kefu.customers.normalize import clean_contact
    from kefu.customers.services import ContactInput

    wanted = []
    if identity.kind == IdentityKind.EMAIL:
        wanted.append(("email", identity.value))
    elif identity.kind == IdentityKind.PHONE:
        wanted.append(("phone", identity.value))
    if identity.email and identity.kind != IdentityKind.EMAIL:
        wanted.append(("email", identity.email))
    if identity.phone and identity.kind != IdentityKind.PHONE:
        wanted.append(("phone", identity.phone))
    contacts, seen = [], set()
    for kind, value in wanted:
        try:
            normalized = clean_contact(kind, value)[1]
        except ValidationFailed:
            continue
        if (kind, normalized) not in seen:
            seen.add((kind, normalized))
            contacts.append(ContactInput(kind=kind, value=value))
    return contacts


def _identity_name(identity: Identity, channel: Channel) -> str:
    name = (identity.name or "").strip()[:200]
    if name:
        return name
    if identity.kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        return identity.value[:200]
    return _("%(channel)s访客 %(id)s") % {"channel": channel.name, "id": identity.value[-6:]}


def customer_for_identity(*, channel: Channel, identity: Identity) -> tuple[Any, ChannelIdentity]:
    """The customer a channel identity belongs to, found (the identity seen before, or the e-mail address or
    phone number among a customer's contacts; merged records followed) or created. Locks the identity row, so
    concurrent messages of one person are taken one at a time. Inside the caller's transaction."""
    from kefu.customers.services import customer_create

    kind, value = identity.kind, (identity.value or "").strip()[:200]
    if kind not in IdentityKind.values or not value:
        raise ValidationFailed(_("消息缺少客户身份"), details={"field": "identity"})
    if kind == IdentityKind.EMAIL:
        value = value.lower()
    row = (ChannelIdentity.objects.select_for_update().select_related("customer")
           .filter(channel=channel, kind=kind, value=value).first())
    if row is not None:
        customer = _followed(row.customer)
        if customer.pk != row.customer_id:
            row.customer = customer
            row.save(update_fields=["customer"])
        return customer, row
    customer = None
    if kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        customer = _contact_customer(kind, value)
    for extra_kind, extra in (("phone", identity.phone), ("email", identity.email)):
        if customer is None and extra:
            customer = _contact_customer(extra_kind, extra)
    if customer is None:
        customer = customer_create(actor=None, name=_identity_name(identity, channel),
                                   contacts=_identity_contacts(identity))
    row = ChannelIdentity.objects.create(channel=channel, kind=kind, value=value, customer=customer,
                                         display_name=(identity.name or "")[:200])
    return customer, row
