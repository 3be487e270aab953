"""Reading tables people keep in Excel: .xlsx and CSV (UTF-8 with or without BOM, GB18030/GBK, UTF-16), with a
report that names every bad row the way Excel numbers it (the header is row 1). Imports validate every row
first and write only a fully valid file (customers, staff, calendar days)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _

from kefu.core.dates import EARLIEST_DAY, LATEST_DAY
from kefu.core.errors import ValidationFailed

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
# Export prefixes risky cells with an apostrophe; importing that file again must give the original text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    """One problem: `row` as the user sees it in Excel (header = 1; 0 for the whole file)."""

    row: int
    field: str
    message: str
    value: str = ""
    column: str = ""  # the column's heading as the file spells it (for people; `field` is for programs)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated,
                "errors": [asdict(e) for e in self.errors], "warnings": self.warnings,
                "ignored_columns": self.ignored_columns, "dry_run": self.dry_run}


class ImportRejected(ValidationFailed):
    """The file was not imported (nothing written). `report` lists every bad row; `details` carries it too."""

    code = "import_rejected"

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message, details=report.as_dict())
        self.report = report



def fail(report: ImportReport, message: str) -> ImportRejected:
    report.errors.append(RowError(row=0, field="", message=message))
    return ImportRejected(message, report)


def header_key(text: Any) -> str:
    key = str(text or "").strip().lower()
    key = re.sub(r"[（(\[【].*?[)）\]】]", "", key)  # "手机（必填）", "phone (mobile)"
    return re.sub(r"[\s_\-*:：]", "", key)


def decode_csv(data: bytes, report: ImportReport) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is a superset of GBK and GB2312: what Chinese Excel writes for "CSV".
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise fail(report, _("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV，或 .xlsx 文件")) from None


def _csv_rows(data: bytes, report: ImportReport) -> Iterator[tuple[int, list[Any]]]:
    text = decode_csv(data, report)
    # The header line tells the separator: "," usually, tab for Excel's "Unicode text", ";" in some locales.
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    # Record numbers, not line numbers: a quoted cell with a line break is still one Excel row.
    yield from enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)


def _xlsx_rows(data: bytes, report: ImportReport) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        message = _("无法读取 Excel 文件（%(e)s），请确认是 .xlsx 格式") % {"e": type(exc).__name__}
        raise fail(report, message) from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        workbook.close()


def read_rows(data: bytes, filename: str, report: ImportReport) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of the first sheet / the CSV records; raises ImportRejected for a file that
    is neither .xlsx nor CSV."""
    name = filename.lower()
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data, report)
    if data.startswith(b"\xd0\xcf\x11\xe0") or name.endswith(".xls"):
        raise fail(report, _("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV"))
    if name.endswith(".xlsx"):
        raise fail(report, _("文件扩展名是 .xlsx，但内容不是 Excel 文件"))
    if b"\x00" in data[:1024] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise fail(report, _("不是文本文件，请上传 .xlsx 或 CSV 文件"))
    return _csv_rows(data, report)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps phone numbers typed without a leading ' as numbers
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_START:
        text = text[1:]
    return text


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time zone
        except ValueError:
            continue
        if not EARLIEST_DAY <= day <= LATEST_DAY:  # the range every date input keeps (kefu.core.dates)
            raise ValueError(text)
        return day
    raise ValueError(text)


