"""Exporting a list of work orders to Excel (.xlsx) or CSV, with the list's own filter ("export what I am
looking at"). The customer's phone is masked unless the exporter may see phones; each export is audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, Any

from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.masking import mask_contact
from kefu.core.policy import has_right
from kefu.customers.choices import ContactKind
from kefu.customers.models import ContactPoint
from kefu.customers.permissions import CustomerRight
from kefu.tickets.models import Ticket
from kefu.tickets.permissions import TicketRight
from kefu.tickets.selectors import TicketFilter, filter_tickets, list_queryset

FORMATS = ("xlsx", "csv")
MAX_ROWS = 100_000  # past this, narrow the filter (a spreadsheet of a million rows helps nobody)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class TicketExport:
    rows: int
    content_type: str
    filename: str


def _safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (= + - @ at the start) gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _headers() -> list[str]:
    return [_("工单号"), _("标题"), _("类型"), _("优先级"), _("来源渠道"), _("状态"), _("客户编号"), _("客户"),
            _("客户电话"), _("班组"), _("处理人"), _("SLA 状态"), _("最近到期"), _("创建时间"), _("解决时间")]


def _labels(field: str) -> dict[Any, str]:
    return {value: str(label) for value, label in Ticket._meta.get_field(field).flatchoices}


def _local(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _rows(tickets: Iterator[Ticket], *, show_phone: bool) -> Iterator[list[Any]]:
    kind, priority, channel = _labels("ticket_type"), _labels("priority"), _labels("channel")
    status, standing = _labels("status"), _labels("sla_standing")
    batch: list[Ticket] = []

    def flush(batch: list[Ticket]) -> Iterator[list[Any]]:
        phones: dict[int, str] = {}
        ids = {t.customer_id for t in batch if t.customer_id}
        for point in (ContactPoint.objects.filter(customer_id__in=ids, kind=ContactKind.PHONE)
                      .order_by("customer_id", "-is_primary", "id")):
            phones.setdefault(point.customer_id, point.value if show_phone else mask_contact(point.kind, point.value))
        for t in batch:
            c = t.customer
            yield [t.number or "", t.subject, kind.get(t.ticket_type, t.ticket_type),
                   priority.get(t.priority, t.priority), channel.get(t.channel, t.channel),
                   status.get(t.status, t.status), c.code if c else "", c.name if c else "",
                   phones.get(t.customer_id or 0, ""), t.team.name if t.team else "",
                   str(t.assignee) if t.assignee else "", standing.get(t.sla_standing, t.sla_standing),
                   _local(t.sla_due_at), _local(t.created_at), _local(t.resolved_at)]

    for ticket in tickets:
        batch.append(ticket)
        if len(batch) == 1000:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)


def ticket_export(*, actor: Any, out: IO[bytes], fmt: str, ticket_filter: TicketFilter,
                  ip: str | None = None) -> TicketExport:
    """Write the work orders `actor` sees under `ticket_filter` (newest first) to `out` as .xlsx or CSV (UTF-8
    with a BOM, which Excel opens). Needs TicketRight.EXPORT; customers' phones are unmasked only with
    CustomerRight.VIEW_PHONE. One audit row "ticket.exported" with the filter, the count and what was unmasked.
    At most MAX_ROWS rows: a larger list is refused with the count to narrow it."""
    if fmt not in FORMATS:
        raise ValidationFailed(_("导出格式必须是 xlsx 或 csv"), details={"field": "format", "value": fmt})
    if not has_right(actor, TicketRight.EXPORT):
        raise PermissionDenied(_("你没有导出工单的权限"))
    queryset = filter_tickets(actor, ticket_filter)
    total = queryset.order_by().values("pk")[: MAX_ROWS + 1].count()
    if total > MAX_ROWS:
        raise ValidationFailed(_("要导出的工单超过 %(n)s 条，请缩小筛选范围") % {"n": f"{MAX_ROWS:,}"},
                               details={"field": "filter", "rows": total})
    show_phone = has_right(actor, CustomerRight.VIEW_PHONE)
    tickets = list_queryset(queryset).order_by("-created_at", "-id").iterator(chunk_size=1000)
    rows = _rows(tickets, show_phone=show_phone)
    count = _write_xlsx(out, _headers(), rows) if fmt == "xlsx" else _write_csv(out, _headers(), rows)
    filter_data = {k: (v.isoformat() if isinstance(v, datetime) else v)
                   for k, v in asdict(ticket_filter).items() if v not in ("", None, ())}
    audit_record(actor=actor, action="ticket.exported", object_type="tickets.export",
                 summary=_("导出工单 %(n)s 条（%(fmt)s）") % {"n": count, "fmt": fmt}, ip_address=ip,
                 data={"rows": count, "format": fmt, "unmasked": ["phone"] if show_phone else [],
                       "filter": filter_data})
    stamp = timezone.localdate().strftime("%Y%m%d")
    content_type = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
                    else "text/csv; charset=utf-8")
    return TicketExport(rows=count, filename=f"tickets-{stamp}.{fmt}", content_type=content_type)


def _write_csv(out: IO[bytes], header: list[str], rows: Iterator[list[Any]]) -> int:
    stream = io.TextIOWrapper(out, encoding="utf-8-sig", errors="replace", newline="", write_through=True)
    writer = csv.writer(stream)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([_safe(v) for v in row])
        count += 1
    stream.flush()
    stream.detach()
    return count


def _write_xlsx(out: IO[bytes], header: list[str], rows: Iterator[list[Any]]) -> int:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(_("工单"))
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append([_safe(v) for v in row])
        count += 1
    workbook.save(out)
    return count
