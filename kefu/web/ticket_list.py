"""The rows of the work-order list, flattened for the template.

The list is the page agents keep open all day, so each row is a plain dict of display strings: the template
then reads keys (the cheapest lookup Django's templates do) instead of calling model methods, choice
displays, filters and `{% url %}` fifty times per page. Labels are translated once per request, not per row.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone

from kefu.tickets.choices import Status
from kefu.tickets.models import Ticket
from kefu.web.templatetags.kefu_ui import remaining

# The columns the list shows: `ticket_page` loads only these.
LIST_FIELDS = (
    "id",
    "created_at",
    "number",
    "subject",
    "channel",
    "escalation_level",
    "status",
    "priority",
    "ticket_type",
    "sla_due_at",
    "sla_standing",
    "customer__name",
    "customer__is_vip",
    "assignee__display_name",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
)
_CLOSED = (Status.RESOLVED, Status.CLOSED)
_ID_MARK = 987654321


def _labels(field: str) -> dict[Any, str]:
    return {value: str(label) for value, label in Ticket._meta.get_field(field).flatchoices}


def ticket_rows(tickets: list[Ticket]) -> list[dict[str, Any]]:
    status, priority = _labels("status"), _labels("priority")
    kind, channel = _labels("ticket_type"), _labels("channel")
    detail_url = reverse("web:ticket_detail", kwargs={"ticket_id": _ID_MARK}).replace(str(_ID_MARK), "{}")
    zone = timezone.get_current_timezone()
    rows = []
    for t in tickets:
        customer, assignee = t.customer, t.assignee
        sla_text = remaining(t.sla_due_at) if t.sla_due_at and t.status not in _CLOSED else ""
        rows.append(
            {
                "url": detail_url.format(t.pk),
                "number": t.number,
                "subject": t.subject,
                "channel": channel.get(t.channel, t.channel),
                "escalated": bool(t.escalation_level),
                "status": t.status,
                "status_label": status.get(t.status, t.status),
                "priority": t.priority,
                "priority_label": priority.get(t.priority, t.priority),
                "type": t.ticket_type,
                "type_label": kind.get(t.ticket_type, t.ticket_type),
                "customer": customer.name if customer else "",
                "vip": bool(customer and customer.is_vip),
                "assignee": str(assignee) if assignee else "",
                "sla_standing": t.sla_standing,
                "sla_text": sla_text,
                "created": t.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
            }
        )
    return rows
