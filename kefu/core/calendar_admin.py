"""Editing business calendars: working hours per weekday, holidays and 调休 working days (one at a time or from a
CSV / Excel file, all or nothing). Each change stamps the calendar (the clock engine's cache follows it) and is
announced (`calendar.changed`): the worker then moves the due times of the clocks running on that calendar."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel

from kefu.core.audit import audit_record
from kefu.core.calendars import format_periods, parse_periods_seconds
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.events import Audience, emit, event_type
from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.core.permissions import CoreRight
from kefu.core.policy import has_right, rights
from kefu.core.tabular import ImportRejected, ImportReport, RowError, cell_text, fail, header_key, parse_date, read_rows

MAX_IMPORT_ROWS = 2000
NAME_MAX = 100


class CalendarChanged(BaseModel):
    calendar_id: int
    version: int
    changed_at: str
    what: str  # "hours", "days", "import"


CALENDAR_CHANGED = event_type(
    "calendar.changed", version=1, schema=CalendarChanged, object_type="core.businesscalendar",
    description="A business calendar's hours or days changed; clocks running on it get new due times.")


def _require(actor: Any) -> None:
    if not has_right(actor, CoreRight.CALENDAR_MANAGE):
        raise PermissionDenied(_("您没有权限管理工作日历"))


def _announce(actor: Any, calendar: BusinessCalendar, what: str) -> None:
    calendar.version += 1
    calendar.updated_at = timezone.now()
    BusinessCalendar.objects.filter(pk=calendar.pk).update(version=calendar.version, updated_at=calendar.updated_at)
    managers = {r for right in ("calendar.manage",) for r in rights().get(right, ())}
    emit(CALENDAR_CHANGED, obj=calendar, actor=actor, audience=[Audience.role(r) for r in sorted(managers)],
         payload={"calendar_id": calendar.pk, "version": calendar.version,
                  "changed_at": timezone.now().isoformat(), "what": what})


def _lock(calendar: BusinessCalendar, expected_version: int | None = None) -> BusinessCalendar:
    locked = BusinessCalendar.objects.select_for_update().filter(pk=calendar.pk).first()
    if locked is None:
        raise NotFound(_("工作日历不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("工作日历已被他人修改（当前版本 %(v)s），请刷新后重试") % {"v": locked.version},
                       code="stale_version", details={"current_version": locked.version})
    return locked


# --- the calendar and its week ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarData:
    name: str
    time_zone: str = "Asia/Shanghai"
    always_open: bool = False
    week: list[list[list[str]]] | None = None  # 7 lists (Monday first) of ["HH:MM", "HH:MM"] periods


def _clean(data: CalendarData, *, instance: BusinessCalendar | None) -> dict[str, Any]:
    name = (data.name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(_("名称不能为空，且不超过 %(n)s 个字符") % {"n": NAME_MAX}, details={"field": "name"})
    if BusinessCalendar.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None)).exists():
        raise ValidationFailed(_("已有名为“%(n)s”的日历") % {"n": name}, details={"field": "name"})
    if data.time_zone not in zoneinfo.available_timezones():
        raise ValidationFailed(_("未知的时区“%(z)s”") % {"z": data.time_zone}, details={"field": "time_zone"})
    week = data.week if data.week is not None else [[] for _day in range(7)]
    if data.always_open:
        week = [[["00:00", "24:00"]] for _day in range(7)]
    if not isinstance(week, list | tuple) or len(week) != 7:
        raise ValidationFailed(_("每周工作时间必须列出周一到周日七天"), details={"field": "week"})
    normalized = []
    for index, day in enumerate(week):
        try:
            normalized.append(format_periods(parse_periods_seconds(day)))
        except (ValueError, TypeError):
            raise ValidationFailed(_("%(day)s的工作时段有误：时间写作 HH:MM，开始早于结束，时段不能重叠")
                                   % {"day": weekday_name(index)}, details={"field": "week", "day": index}) from None
    if not any(normalized):
        raise ValidationFailed(_("一周至少要有一个工作时段（或选择 7×24 小时）"), details={"field": "week"})
    return {"name": name, "time_zone": data.time_zone, "always_open": bool(data.always_open), "week": normalized}


def weekday_name(index: int) -> str:
    return [_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")][index]


@transaction.atomic
def calendar_create(*, actor: Any, data: CalendarData) -> BusinessCalendar:
    _require(actor)
    calendar = BusinessCalendar.objects.create(**_clean(data, instance=None))
    audit_record(actor=actor, action="calendar.created", obj=calendar, summary=calendar.name,
                 data={"week": calendar.week, "time_zone": calendar.time_zone})
    return calendar


@transaction.atomic
def calendar_update(*, actor: Any, calendar: BusinessCalendar, data: CalendarData,
                    expected_version: int | None) -> BusinessCalendar:
    _require(actor)
    locked = _lock(calendar, expected_version)
    before = {"name": locked.name, "time_zone": locked.time_zone, "always_open": locked.always_open,
              "week": locked.week}
    cleaned = _clean(data, instance=locked)
    if cleaned == before:
        return locked
    for name, value in cleaned.items():
        setattr(locked, name, value)
    locked.save()
    _announce(actor, locked, "hours")
    audit_record(actor=actor, action="calendar.updated", obj=locked, summary=locked.name,
                 data={"before": before, "after": cleaned})
    return locked


# --- days ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayData:
    date: date
    kind: str  # CalendarDay.Kind
    name: str = ""
    periods: list[list[str]] | None = None  # a 调休 working day's hours; empty: the usual weekday hours


def _clean_day(data: DayData) -> dict[str, Any]:
    if data.kind not in CalendarDay.Kind.values:
        raise ValidationFailed(_("类型必须是节假日或调休上班"), details={"field": "kind"})
    if not isinstance(data.date, date) or not 2000 <= data.date.year <= 2100:
        raise ValidationFailed(_("日期必须在 2000 年到 2100 年之间"), details={"field": "date"})
    name = (data.name or "").strip()
    if len(name) > NAME_MAX:
        raise ValidationFailed(_("名称不能超过 %(n)s 个字符") % {"n": NAME_MAX}, details={"field": "name"})
    periods = data.periods or []
    if data.kind == CalendarDay.Kind.HOLIDAY and periods:
        raise ValidationFailed(_("节假日不设工作时段"), details={"field": "periods"})
    if periods:
        try:
            periods = format_periods(parse_periods_seconds(periods))
        except (ValueError, TypeError):
            raise ValidationFailed(_("工作时段有误：时间写作 HH:MM，开始早于结束，时段不能重叠"),
                                   details={"field": "periods"}) from None
    return {"date": data.date, "kind": data.kind, "name": name, "periods": periods}


@transaction.atomic
def calendar_day_set(*, actor: Any, calendar: BusinessCalendar, data: DayData) -> CalendarDay:
    """Add or replace the exception of one date (a holiday, or a 调休 working day with its hours)."""
    _require(actor)
    locked = _lock(calendar)
    cleaned = _clean_day(data)
    day, created = CalendarDay.objects.update_or_create(calendar=locked, date=cleaned["date"], defaults=cleaned)
    _announce(actor, locked, "days")
    audit_record(actor=actor, action="calendar.day_set", obj=locked, summary=f"{locked.name} {day.date}",
                 data={"date": day.date.isoformat(), "kind": day.kind, "name": day.name, "periods": day.periods,
                       "created": created})
    return day


@transaction.atomic
def calendar_day_delete(*, actor: Any, calendar: BusinessCalendar, day_date: date) -> None:
    _require(actor)
    locked = _lock(calendar)
    deleted, _rows = CalendarDay.objects.filter(calendar=locked, date=day_date).delete()
    if not deleted:
        raise NotFound(_("这一天没有设置"), details={"date": day_date.isoformat()})
    _announce(actor, locked, "days")
    audit_record(actor=actor, action="calendar.day_deleted", obj=locked, summary=f"{locked.name} {day_date}",
                 data={"date": day_date.isoformat()})


_DAY_HEADERS = {
    "date": ("日期", "date", "day"),
    "kind": ("类型", "kind", "type"),
    "name": ("名称", "节日", "name", "holiday"),
    "periods": ("工作时段", "时段", "periods", "hours"),
}
_KIND_WORDS = {"节假日": "holiday", "假日": "holiday", "休": "holiday", "休息": "holiday", "放假": "holiday",
               "holiday": "holiday", "off": "holiday", "调休上班": "workday", "调休": "workday", "上班": "workday",
               "班": "workday", "工作日": "workday", "workday": "workday", "work": "workday"}
_PERIOD = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–~至到]\s*(\d{1,2}:\d{2})\s*$")


def _parse_periods_cell(text: str) -> list[list[str]]:
    periods = []
    for part in re.split(r"[,，;；、]", text):
        if not part.strip():
            continue
        match = _PERIOD.match(part)
        if match is None:
            raise ValueError(part.strip())
        periods.append([match.group(1).zfill(5), match.group(2).zfill(5)])
    return periods


@transaction.atomic
def calendar_days_import(*, actor: Any, calendar: BusinessCalendar, data: bytes, filename: str,
                         replace_year: bool = False) -> ImportReport:
    """Holidays and 调休 days from a CSV or .xlsx file (columns 日期, 类型, 名称, 工作时段 — or date, kind, name,
    periods): every row checked first, every bad row reported, and nothing written unless all are good.
    `replace_year`: first remove the existing days of the years the file covers (next year's notice replaces
    this year's draft)."""
    _require(actor)
    locked = _lock(calendar)
    report = ImportReport()
    rows = list(read_rows(data, filename, report))
    if not rows:
        raise fail(report, _("文件是空的"))
    header, body = rows[0], rows[1:]
    columns: dict[str, int] = {}
    aliases = {header_key(a): name for name, words in _DAY_HEADERS.items() for a in words}
    for index, cell in enumerate(header[1]):
        name = aliases.get(header_key(cell))
        if name and name not in columns:
            columns[name] = index
    for needed in ("date", "kind"):
        if needed not in columns:
            raise fail(report, _("缺少“%(c)s”列（第一行是表头：日期、类型、名称、工作时段）")
                       % {"c": _DAY_HEADERS[needed][0]})
    if len(body) > MAX_IMPORT_ROWS:
        raise fail(report, _("一次最多导入 %(n)s 行") % {"n": MAX_IMPORT_ROWS})
    parsed: dict[date, dict[str, Any]] = {}
    for number, cells in body:
        if not any(cell_text(c) for c in cells):
            continue
        report.rows += 1

        def cell(name: str, cells: list[Any] = cells) -> str:
            index = columns.get(name)
            return cell_text(cells[index]) if index is not None and index < len(cells) else ""

        def err(field_name: str, message: str, value: str = "", number: int = number) -> None:
            report.errors.append(RowError(row=number, field=field_name, message=message, value=value[:100]))

        try:
            day = parse_date(cells[columns["date"]] if columns["date"] < len(cells) else "")
        except ValueError:
            err("date", _("日期格式不正确（例如 2027-01-01）"), cell("date"))
            continue
        kind = _KIND_WORDS.get(cell("kind").lower())
        if kind is None:
            err("kind", _("类型应为“节假日”或“调休上班”"), cell("kind"))
            continue
        try:
            periods = _parse_periods_cell(cell("periods")) if cell("periods") else []
        except ValueError as bad:
            err("periods", _("工作时段格式不正确（例如 09:00-12:00,13:00-18:00）"), str(bad))
            continue
        try:
            cleaned = _clean_day(DayData(date=day, kind=kind, name=cell("name"), periods=periods))
        except ValidationFailed as refused:
            err(str(refused.details.get("field", "")), refused.message, cell("date"))
            continue
        if day in parsed:
            err("date", _("日期 %(d)s 重复") % {"d": day.isoformat()}, cell("date"))
            continue
        parsed[day] = cleaned
    if report.errors:
        raise ImportRejected(_("导入失败：%(n)s 行有误，没有写入任何数据") % {"n": len(report.bad_rows)}, report)
    if not parsed:
        raise fail(report, _("文件里没有数据行"))
    if replace_year:
        CalendarDay.objects.filter(calendar=locked, date__year__in={d.year for d in parsed}).delete()
    existing = set(CalendarDay.objects.filter(calendar=locked, date__in=list(parsed)).values_list("date", flat=True))
    CalendarDay.objects.filter(calendar=locked, date__in=existing).delete()
    CalendarDay.objects.bulk_create([CalendarDay(calendar=locked, **values) for values in parsed.values()])
    report.created = len(parsed) - len(existing)
    report.updated = len(existing)
    _announce(actor, locked, "import")
    audit_record(actor=actor, action="calendar.days_imported", obj=locked, summary=locked.name,
                 data={"rows": report.rows, "created": report.created, "updated": report.updated,
                       "replace_year": replace_year, "file": filename[:100]})
    return report
