"""Exporting customers to Excel (.xlsx) or CSV in the columns the importer reads back.

Cells that a spreadsheet would run as a formula (= + - @ at the start) are prefixed with an apostrophe.
Contacts and ID numbers are masked unless the exporter's role may see them; each export is audited.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record
from kefu.core.errors import PermissionDenied, ValidationFailed
from kefu.core.masking import mask_contact, mask_id_number
from kefu.core.policy import has_right
from kefu.customers.choices import ContactKind, CustomerKind
from kefu.customers.models import Customer
from kefu.customers.permissions import CustomerRight
from kefu.customers.selectors import CustomerFilters, customer_filter, customer_list

# (field, Chinese header, English header) — the importer accepts both headers.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("code", "客户编号", "code"),
    ("name", "姓名", "name"),
    ("kind", "客户类型", "kind"),
    ("phone", "手机", "phone"),
    ("email", "邮箱", "email"),
    ("wechat", "微信", "wechat"),
    ("company", "公司", "company"),
    ("tier", "等级", "tier"),
    ("vip", "VIP", "vip"),
    ("dedicated_agent", "专属客服", "dedicated_agent"),
    ("birthday", "生日", "birthday"),
    ("id_number", "证件号码", "id_number"),
    ("tags", "标签", "tags"),
    ("province", "省", "province"),
    ("city", "市", "city"),
    ("address", "地址", "address"),
    ("notes", "备注", "notes"),
    # consent per purpose: 是 when every contact the purpose uses agreed, 否 when every one refused, else blank
    ("consent_marketing_call", "同意营销电话", "consent_marketing_call"),
    ("consent_marketing_sms", "同意营销短信", "consent_marketing_sms"),
    ("consent_marketing_message", "同意营销邮件微信", "consent_marketing_message"),
    ("consent_greeting", "同意生日节日问候", "consent_greeting"),
    ("consent_survey", "同意回访调查", "consent_survey"),
)
CONSENT_COLUMNS = {name: name.removeprefix("consent_") for name, _zh, _en in COLUMNS if name.startswith("consent_")}
FORMATS = ("xlsx", "csv")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_KIND_WORD = {CustomerKind.PERSON: "个人", CustomerKind.COMPANY: "企业"}


@dataclass(frozen=True)
class ExportResult:
    rows: int
    content_type: str
    filename: str


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formula injection: text starting with = + - @ (or tab / CR) gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _rows(customers: Iterator[Customer], *, show_contacts: bool, show_id: bool) -> Iterator[list[Any]]:
    for c in customers:
        contacts = list(c.contacts.all())

        def joined(kind: str, contacts: list[Any] = contacts) -> str:
            return "/".join(p.value if show_contacts else mask_contact(p.kind, p.value)
                            for p in contacts if p.kind == kind)

        site = next(iter(c.sites.all()), None)
        agent = c.dedicated_agent
        yield [
            c.code, c.name, _KIND_WORD.get(CustomerKind(c.kind), c.kind),
            joined(ContactKind.PHONE), joined(ContactKind.EMAIL), joined(ContactKind.WECHAT),
            c.company, c.tier, "是" if c.is_vip else "否",
            (agent.employee_no or agent.username) if agent else "",
            c.birthday,
            c.id_number if show_id else mask_id_number(c.id_number),
            ",".join(t.name for t in c.tags.all()),
            site.province if site else "", site.city if site else "", site.address if site else "",
            c.notes,
            *(_consent_cell(contacts, purpose) for purpose in CONSENT_COLUMNS.values()),
        ]


def _consent_cell(contacts: list[Any], purpose_key: str) -> str:
    """是 / 否 when every contact the purpose uses has that answer recorded; blank when mixed or not recorded
    (an import of the blank leaves the answers as they are)."""
    from kefu.customers.consent import purpose_of

    purpose = purpose_of(purpose_key)
    answers = {next((c.granted for c in p.consents.all() if c.purpose == purpose_key), None)
               for p in contacts if p.kind in purpose.kinds}
    if answers == {True}:
        return "是"
    if answers == {False}:
        return "否"
    return ""


def customer_export(*, actor: Any, out: IO[bytes], fmt: str, filters: CustomerFilters | None = None,
                    english_headers: bool = False, encoding: str = "utf-8-sig",
                    ip: str | None = None) -> ExportResult:
    """Write the customers matching `filters` (merged records excluded) to `out` as .xlsx or CSV.

    CSV is UTF-8 with a BOM by default (Excel opens it correctly); `encoding="gb18030"` for old tools.
    actor=None is the system (CLI): everything unmasked. Otherwise the role needs CUSTOMER_EXPORT; contacts
    and ID numbers are unmasked only with CUSTOMER_VIEW_PHONE / CUSTOMER_VIEW_ID_NUMBER. One audit row
    "customer.exported". Memory stays flat: customers are read in chunks of 1,000.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(_("导出格式必须是 xlsx 或 csv"), details={"field": "format", "value": fmt})
    if encoding not in ("utf-8-sig", "utf-8", "gb18030"):
        raise ValidationFailed(_("不支持的编码"), details={"field": "encoding", "value": encoding})
    if actor is not None and not has_right(actor, CustomerRight.EXPORT):
        raise PermissionDenied(_("你没有导出客户的权限"))
    show_contacts = actor is None or has_right(actor, CustomerRight.VIEW_PHONE)
    show_id = actor is None or has_right(actor, CustomerRight.VIEW_ID_NUMBER)
    if actor is None:
        queryset = customer_filter(Customer.objects.filter(merged_into__isnull=True), filters, viewer=None)
    else:
        queryset = customer_list(actor, filters)
    queryset = queryset.select_related("dedicated_agent").prefetch_related("contacts__consents", "tags", "sites")
    customers = queryset.order_by("code").iterator(chunk_size=1000)
    header = [en if english_headers else zh for _f, zh, en in COLUMNS]
    rows = _rows(customers, show_contacts=show_contacts, show_id=show_id)
    count = _write_xlsx(out, header, rows) if fmt == "xlsx" else _write_csv(out, header, rows, encoding)
    unmasked = [name for name, shown in (("contacts", show_contacts), ("id_number", show_id)) if shown]
    audit_record(actor=actor, action="customer.exported", object_type="customers.export",
                 summary=_("导出客户 %(n)s 条（%(fmt)s）") % {"n": count, "fmt": fmt}, ip_address=ip,
                 data={"rows": count, "format": fmt, "unmasked": unmasked,
                       "filters": _filters_data(filters)})
    stamp = timezone.localdate().strftime("%Y%m%d")
    content_type = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
                    else "text/csv; charset=" + encoding.removesuffix("-sig"))
    return ExportResult(rows=count, filename=f"customers-{stamp}.{fmt}", content_type=content_type)


def _filters_data(filters: CustomerFilters | None) -> dict[str, Any]:
    if filters is None:
        return {}
    return {k: v for k, v in vars(filters).items() if v not in ("", None)}


def _write_csv(out: IO[bytes], header: list[str], rows: Iterator[list[Any]], encoding: str) -> int:
    stream = io.TextIOWrapper(out, encoding=encoding, errors="replace", newline="", write_through=True)
    writer = csv.writer(stream)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(v.isoformat() if isinstance(v, date) else ("" if v is None else v))
                         for v in row])
        count += 1
    stream.flush()
    stream.detach()  # leave `out` open for the caller
    return count


def _date_cell(sheet: Any, value: date) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "yyyy-mm-dd"
    return cell


def _write_xlsx(out: IO[bytes], header: list[str], rows: Iterator[list[Any]]) -> int:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(_("客户"))
    sheet.append(header)
    count = 0
    for row in rows:
        # Plain values are several times faster than styled cells; safe_cell already keeps every text that
        # openpyxl would take for a formula (a leading "=") prefixed. Dates get a readable format.
        sheet.append([_date_cell(sheet, v) if isinstance(v, date) else safe_cell(v) for v in row])
        count += 1
    workbook.save(out)
    return count
