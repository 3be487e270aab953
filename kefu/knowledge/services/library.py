"""The monthly consultation library (咨询库) as an Excel workbook: the month's totals, the articles most asked
for, the questions left unanswered, and the month per department and channel (the figures of
kefu.knowledge.selectors.library_report, which the page shows)."""

from __future__ import annotations

import io
from typing import Any

from django.utils.translation import gettext as _

from kefu.knowledge.choices import AskChannel
from kefu.knowledge.selectors import LibraryReport


def _share(value: float | None) -> Any:
    return round(value, 4) if value is not None else ""


def _safe(text: Any) -> Any:
    """A cell that a spreadsheet would read as a formula is written as text."""
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text


def library_workbook(report: LibraryReport, *, department_name: str = "") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    bold = Font(bold=True)
    summary = book.active
    summary.title = _("概览")
    summary.append([_("月份"), report.month.strftime("%Y-%m")])
    summary.append([_("部门"), department_name or _("全部部门")])
    summary.append([_("咨询次数"), report.total])
    summary.append([_("机器人已回答"), report.answered])
    summary.append([_("回答率"), _share(report.answered_share)])
    summary.append([_("有帮助率"), _share(report.helpful_rate)])

    def sheet(title: str, head: list[str], rows: list[list[Any]]) -> None:
        ws = book.create_sheet(title)
        ws.append(head)
        for cell in ws[1]:
            cell.font = bold
        for row in rows:
            ws.append([_safe(v) for v in row])
        ws.column_dimensions["A"].width = 48

    sheet(_("热门文章"), [_("文章"), _("负责部门"), _("匹配次数"), _("回答率"), _("有帮助率")],
          [[r["title"], r["department"], r["times"], _share(r["answered_share"]), _share(r["helpful_rate"])]
           for r in report.top_articles])
    sheet(_("未回答的问题"), [_("问题"), _("次数")], [[r["question"], r["times"]] for r in report.unanswered])
    sheet(_("各部门"), [_("部门"), _("咨询次数"), _("回答率")],
          [[r["name"] or _("未指定部门"), r["times"], _share(r["answered_share"])] for r in report.departments])
    labels = dict(AskChannel.choices)
    sheet(_("各渠道"), [_("渠道"), _("咨询次数")], [[str(labels.get(r["channel"], r["channel"])), r["times"]]
                                                for r in report.channels])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
