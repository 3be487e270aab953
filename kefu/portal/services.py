"""What the portal's visitors do, turned into calls of the apps' services: an article read (its view counter), a
work order opened from the web form (the customer found by phone or e-mail, else created), and the order-status
lookup with its audit row. The portal acts as its own system actor: its visitors are anonymous."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.audit import audit_record
from kefu.knowledge.models import Article
from kefu.portal import selectors

PORTAL_ACTOR = system_actor("portal", gettext_lazy("系统：自助服务门户"))
ORDERS_READ = "customer.orders_read_by_portal"  # a successful lookup (cf. the IVR's customer.orders_read_by_ivr)
LOOKUP_REFUSED = "portal.order_lookup_refused"  # a wrong number / phone-suffix combination
WEB_ORDER = "ticket.opened_by_portal"  # the web form opened a work order


def article_viewed(*, article_id: int) -> None:
    """Count one reading of an article: one UPDATE adding 1 (no read-modify-write, so concurrent readers all
    count). Its `updated_at` is left alone: a reading is not a change of the article."""
    Article.objects.filter(pk=article_id).update(view_count=F("view_count") + 1)


@dataclass(frozen=True)
class WebOrder:
    """The web form's fields, already checked (kefu.portal.forms.ContactForm)."""

    name: str
    phone: str
    email: str
    ticket_type: str
    subject: str
    description: str
    language: str


def _customer(order: WebOrder) -> Any:
    """The customer of this phone number, else of this e-mail address (merged records followed; the most
    important first, as the screen pop does), else a new one with these contacts."""
    from kefu.customers.selectors import customer_find_by_contact
    from kefu.customers.services import ContactInput, customer_create

    for kind, value in (("phone", order.phone), ("email", order.email)):
        if value:
            found = customer_find_by_contact(PORTAL_ACTOR, value, kind=kind).first()
            if found is not None:
                return found
    contacts = [ContactInput(kind=kind, value=value) for kind, value in (("phone", order.phone),
                                                                          ("email", order.email)) if value]
    return customer_create(actor=None, name=order.name, contacts=contacts)


@transaction.atomic
def web_order_open(*, order: WebOrder, ip_address: str | None = None) -> Any:
    """Open a work order from the portal's web form (channel "web", 网页表单) for the customer found or created;
    all or nothing. The contact details as given are kept in the description, since a customer found by one of
    them may be on record with others."""
    from kefu.tickets.choices import Channel
    from kefu.tickets.services import ticket_create

    customer = _customer(order)
    given = [order.name, order.phone, order.email]
    with translation.override(settings.LANGUAGE_CODE):  # staff read it, whatever the visitor's language
        footer = _("（自助门户留言，联系人：%(who)s）") % {"who": " / ".join(v for v in given if v)}
    ticket = ticket_create(actor=PORTAL_ACTOR, subject=order.subject,
                           description=f"{order.description}\n\n{footer}", ticket_type=order.ticket_type,
                           channel=Channel.WEB, customer=customer)
    with translation.override(settings.LANGUAGE_CODE):
        summary = _("自助门户网页表单提交了工单 %(n)s") % {"n": ticket.number}
    audit_record(actor=None, action=WEB_ORDER, obj=ticket, ip_address=ip_address, summary=summary,
                 data={"customer": customer.pk, "language": order.language})
    return ticket


@transaction.atomic
def order_lookup(*, number: str, suffix: str, ip_address: str | None = None) -> selectors.PublicOrder | None:
    """The public side of the order `number` when its customer's phone ends in `suffix`, else None. Either way
    one audit row: a read names the customer and the order (like the IVR's lookup by caller number); a refusal
    keeps the number tried and whether it exists (for whoever investigates guessing), never shown to the
    visitor."""
    ticket = selectors.order_with_suffix(number, suffix)
    if ticket is None:
        with translation.override(settings.LANGUAGE_CODE):
            summary = _("自助门户工单查询未通过验证：%(n)s") % {"n": number[:30]}
        audit_record(actor=None, action=LOOKUP_REFUSED, object_type="tickets.ticket", ip_address=ip_address,
                     summary=summary, data={"number": number[:30], "exists": selectors.order_exists(number)})
        return None
    with translation.override(settings.LANGUAGE_CODE):
        summary = _("自助门户按工单号和手机尾号查询了 %(c)s 的工单 %(n)s") % {"c": ticket.customer.code,
                                                                        "n": ticket.number}
    audit_record(actor=None, action=ORDERS_READ, obj=ticket.customer, ip_address=ip_address, summary=summary,
                 data={"orders": [ticket.number], "ticket_id": ticket.pk})
    return selectors.public_order(ticket)
