"""The caller's region (归属地) from the number: the area code of a fixed line (the table in numbering/area_codes.csv),
the carrier of a mobile by its first three digits, its province and city from the number segments an operator
imported (`kefu region import`), and the country of a foreign number by its calling code. Lookups never raise:
a number that tells nothing gives an empty region."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from kefu.core.audit import audit_record
from kefu.core.tabular import ImportRejected, ImportReport, RowError, cell_text, fail, header_key, read_rows
from kefu.telephony.models import NumberSegment

REGION_MAX = 60  # Call.region's length
MAX_SEGMENT_ROWS = 1_000_000  # the public segment tables hold about half a million
MAX_REPORTED_ERRORS = 200
_SEPARATORS = re.compile(r"[\s\-().（）]")
_NUMBER = re.compile(r"^\+?\d{3,30}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_SEGMENT = re.compile(r"^1[3-9]\d{5}$")
_SERVICE = ("400", "800", "95", "96")  # nationwide service numbers: no area code


@dataclass(frozen=True)
class Region:
    kind: str = ""  # "mobile", "fixed", "service" (400/800/95…), "foreign", or "" (nothing known)
    country: str = ""
    province: str = ""
    city: str = ""
    carrier: str = ""

    @property
    def label(self) -> str:
        """What an agent reads beside the number: "广东 深圳 中国移动", "北京", "美国/加拿大"."""
        if self.kind == "foreign":
            return self.country
        place = [self.province] if self.province and not self.city.startswith(self.province) else []
        parts = [*place, self.city, self.carrier]
        return " ".join(p for p in parts if p)[:REGION_MAX]


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("kefu.telephony.numbering").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def area_codes() -> dict[str, tuple[str, str]]:
    """Area code ("0755") → (province, city)."""
    return {r["code"]: (r["province"], r["city"]) for r in _rows("area_codes.csv")}


@cache
def mobile_carriers() -> dict[str, str]:
    """The first three digits of a mainland mobile → its carrier."""
    return {r["prefix"]: r["carrier"] for r in _rows("mobile_prefixes.csv")}


@cache
def country_codes() -> dict[str, str]:
    """International calling code ("852") → country or region."""
    return {r["code"]: r["country"] for r in _rows("country_codes.csv")}


def _national(number: str) -> tuple[str, str]:
    """("cn", national digits) for a mainland number in any writing (+86, 0086, 86 before a mobile), else
    ("intl", digits after the international prefix), or ("", "") when it is not a number."""
    text = _SEPARATORS.sub("", str(number or ""))
    if not _NUMBER.match(text):
        return "", ""
    digits = text.lstrip("+")
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international:
        if digits.startswith("86"):
            rest = digits[2:]
            home = rest.startswith(("0", "1", *_SERVICE))
            return "cn", rest if home else "0" + rest  # +86 20 … is 020 … at home; 400 … stays 400 …
        return "intl", digits
    if digits.startswith("86") and _MOBILE.match(digits[2:]):
        return "cn", digits[2:]
    return "cn", digits


def dial_digits(number: str) -> str:
    """A number as Kefu compares it (IVR numbers, the blacklist): mainland numbers in their national digits
    (+86 and 0086 dropped), foreign ones as 00 + calling code + number; "" when it is not a number."""
    where, digits = _national(number)
    return "00" + digits if where == "intl" else digits


def region_of(number: str) -> Region:
    """The region of a calling number (one query, for a mobile, when segments were imported)."""
    where, digits = _national(number)
    if where == "intl":
        for length in (3, 2, 1):
            country = country_codes().get(digits[:length])
            if country:
                return Region(kind="foreign", country=country)
        return Region(kind="foreign")
    if not digits:
        return Region()
    if len(digits) == 12 and digits.startswith("0") and _MOBILE.match(digits[1:]):
        digits = digits[1:]  # a PBX dials a mobile of another city with a leading 0
    if _MOBILE.match(digits):
        segment = NumberSegment.objects.filter(prefix=digits[:7]).only("province", "city", "carrier").first()
        carrier = mobile_carriers().get(digits[:3], "")
        if segment is None:
            return Region(kind="mobile", country="中国", carrier=carrier)
        return Region(kind="mobile", country="中国", province=segment.province, city=segment.city,
                      carrier=segment.carrier or carrier)
    if digits.startswith((*_SERVICE, "1")):
        return Region(kind="service", country="中国")
    if digits.startswith("0"):
        code = digits[:3] if digits[1] in "12" else digits[:4]
        found = area_codes().get(code)
        if found and len(digits) >= len(code) + 7:
            return Region(kind="fixed", country="中国", province=found[0], city=found[1])
    return Region()


def region_label(number: str) -> str:
    """The label to keep on a call ("" when the number tells nothing)."""
    return region_of(number).label if number else ""


# --- importing number segments ---------------------------------------------------------------------------------

# the column's name in messages, in the reader's language (the file itself may use any of the aliases below)
_SEGMENT_LABELS = {"prefix": pgettext_lazy("号段文件的列", "号段"), "province": pgettext_lazy("号段文件的列", "省份")}
_SEGMENT_HEADERS = {
    "prefix": ("号段", "手机号段", "号码段", "前七位", "prefix", "segment", "phone", "mobile"),
    "province": ("省份", "省", "province"),
    "city": ("城市", "市", "地市", "city"),
    "carrier": ("运营商", "卡类型", "carrier", "isp", "operator"),
}


@transaction.atomic
def region_segments_import(*, actor: Any, data: bytes, filename: str) -> ImportReport:
    """Replace the mobile number segments with a CSV or .xlsx file (columns 号段, 省份, 城市, 运营商 — or prefix,
    province, city, carrier; a segment is a mobile's first seven digits). Every row is checked first; a bad row
    is reported with its number and nothing is written."""
    report = ImportReport()
    rows = read_rows(data, filename, report)
    header = next(rows, None)
    if header is None:
        raise fail(report, _("文件是空的"))
    aliases = {header_key(a): name for name, words in _SEGMENT_HEADERS.items() for a in words}
    columns: dict[str, int] = {}
    for index, cell in enumerate(header[1]):
        name = aliases.get(header_key(cell))
        if name and name not in columns:
            columns[name] = index
    for needed in ("prefix", "province"):
        if needed not in columns:
            raise fail(report, _("缺少“%(c)s”列（第一行是表头：号段、省份、城市、运营商）")
                       % {"c": _SEGMENT_LABELS[needed]})
    segments: dict[str, NumberSegment] = {}
    for number, cells in rows:
        if not any(cell_text(c) for c in cells):
            continue
        report.rows += 1
        if report.rows > MAX_SEGMENT_ROWS:
            raise fail(report, _("一次最多导入 %(n)s 行") % {"n": MAX_SEGMENT_ROWS})

        def cell(name: str, cells: list[Any] = cells) -> str:
            index = columns.get(name)
            return cell_text(cells[index]) if index is not None and index < len(cells) else ""

        def err(field: str, message: str, value: str, number: int = number) -> None:
            if len(report.errors) < MAX_REPORTED_ERRORS:
                report.errors.append(RowError(row=number, field=field, message=message, value=value[:40]))
            else:
                report.errors.append(RowError(row=number, field=field, message=""))

        prefix, province, city, carrier = cell("prefix"), cell("province"), cell("city"), cell("carrier")
        if not _SEGMENT.match(prefix):
            err("prefix", _("号段应为手机号码的前 7 位数字（例如 1380013）"), prefix)
        elif prefix in segments:
            err("prefix", _("号段 %(p)s 重复") % {"p": prefix}, prefix)
        elif not province or len(province) > 20:
            err("province", _("省份不能为空，且不超过 20 个字"), province)
        elif len(city) > 30:
            err("city", _("城市不超过 30 个字"), city)
        elif len(carrier) > 20:
            err("carrier", _("运营商不超过 20 个字"), carrier)
        else:
            segments[prefix] = NumberSegment(prefix=prefix, province=province, city=city, carrier=carrier)
    if report.errors:
        bad = len(report.errors)  # one error per row at most
        shown = [e for e in report.errors if e.message]
        if len(shown) < bad:
            more = _("另有 %(n)s 行有误，未一一列出") % {"n": bad - len(shown)}
            shown.append(RowError(row=0, field="", message=more))
        report.errors = shown
        raise ImportRejected(_("导入失败：%(n)s 行有误，没有写入任何数据") % {"n": bad}, report)
    if not segments:
        raise fail(report, _("文件里没有数据行"))
    existing = NumberSegment.objects.count()
    NumberSegment.objects.all().delete()
    NumberSegment.objects.bulk_create(segments.values(), batch_size=5000)
    report.created = len(segments)
    audit_record(actor=actor, action="region.segments_imported", object_type="telephony.numbersegment",
                 summary=filename[:100], data={"rows": report.rows, "segments": len(segments),
                                               "replaced": existing, "file": filename[:100]})
    return report
