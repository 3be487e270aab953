"""The rows of the work-order list: `ticket_list_item` (the one plain dict of an order) with display strings.

The list is the page agents keep open all day, so each row is a plain dict: the template then reads keys (the
cheapest lookup Django's templates do) instead of calling model methods, choice displays, filters and
`{% url %}` fifty times per page. Labels are translated once per request, not per row.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.tickets.choices import SlaStanding, Status
from kefu.tickets.models import Ticket
from kefu.tickets.selectors import ticket_list_item
from kefu.web.templatetags.kefu_ui import remaining

_CLOSED = (Status.RESOLVED, Status.CLOSED)
_ID_MARK = 987654321


def _labels(field: str) -> dict[Any, str]:
    return {value: str(label) for value, label in Ticket._meta.get_field(field).flatchoices}


def ticket_rows(tickets: list[Ticket]) -> list[dict[str, Any]]:
    status, priority = _labels("status"), _labels("priority")
    kind, channel = _labels("ticket_type"), _labels("channel")
    detail_url = reverse("web:ticket_detail", kwargs={"ticket_id": _ID_MARK}).replace(str(_ID_MARK), "{}")
    zone = timezone.get_current_timezone()
    now = timezone.now()
    # an order whose first response was late stays breached while its resolution still has time: say both
    breached_yet_due = _("已超时 · %(left)s")
    rows = []
    for t in tickets:
        item = ticket_list_item(t)
        customer = item["customer"]
        due = t.sla_due_at
        sla_text = remaining(due) if due and item["status"] not in _CLOSED else ""
        if sla_text and t.sla_standing == SlaStanding.BREACHED and due > now:
            sla_text = breached_yet_due % {"left": sla_text}
        item.update(
            {
                "url": detail_url.format(item["id"]),
                "channel_label": channel.get(item["channel"], item["channel"]),
                "escalated": bool(item["escalation_level"]),
                "status_label": status.get(item["status"], item["status"]),
                "priority_label": priority.get(item["priority"], item["priority"]),
                "type_label": kind.get(item["type"], item["type"]),
                "customer_name": customer["name"] if customer else "",
                "vip": bool(customer and customer["is_vip"]),
                "assignee": item["assignee_name"] or "",
                "sla_text": sla_text,
                "created": t.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
            }
        )
        rows.append(item)
    return rows
