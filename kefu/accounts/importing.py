"""Importing staff from Excel (.xlsx) or CSV: every row checked first, every bad row reported (row numbers as
Excel shows them), nothing written unless the whole file is good. Each new account gets a temporary password,
returned once (for the administrator's download) and to be changed at first sign-in. docs/administration.md
describes the columns."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Skill, Team
from kefu.accounts.permissions import AccountRight
from kefu.accounts.staff import Created, StaffData, _clean_staff, _guard_roles, staff_create
from kefu.core.audit import audit_record
from kefu.core.errors import ApplicationError, PermissionDenied
from kefu.core.policy import has_right
from kefu.core.tabular import ImportRejected, ImportReport, RowError, cell_text, fail, header_key, read_rows

MAX_ROWS = 2000
MAX_BYTES = 5 * 1024 * 1024

COLUMNS: dict[str, tuple[str, ...]] = {
    "username": ("用户名", "登录名", "账号", "username", "login"),
    "display_name": ("姓名", "名字", "name", "displayname"),
    "employee_no": ("工号", "员工号", "employeeno", "employeenumber", "no"),
    "role": ("角色", "岗位", "role"),
    "team": ("班组", "组", "team"),
    "department": ("部门", "department"),
    "phone": ("手机", "手机号", "电话", "phone", "mobile"),
    "email": ("邮箱", "电子邮箱", "email", "mail"),
    "skills": ("技能", "skills"),
    "language": ("界面语言", "语言", "language"),
}
REQUIRED = ("username", "display_name", "role")
_ALIASES = {header_key(alias): name for name, aliases in COLUMNS.items() for alias in aliases}
_ROLE_WORDS = {**{str(label): value for value, label in Role.choices}, **{value: value for value in Role.values},
               "组长": Role.TEAM_LEAD, "班长": Role.SHIFT_LEAD, "质检": Role.QA, "经理": Role.MANAGER,
               "管理员": Role.ADMIN, "部门": Role.DEPARTMENT, "座席": Role.AGENT, "坐席": Role.AGENT}
_LANGUAGES = {"": "zh-hans", "中文": "zh-hans", "简体中文": "zh-hans", "zh": "zh-hans", "zh-hans": "zh-hans",
              "英文": "en", "english": "en", "en": "en"}


@dataclass
class StaffImport:
    report: ImportReport
    created: list[Created] = field(default_factory=list)

    def passwords_xlsx(self) -> bytes:
        """The new accounts and their temporary passwords, for the administrator to hand out (once)."""
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = _("临时密码")
        sheet.append([_("用户名"), _("姓名"), _("工号"), _("临时密码"), _("首次登录须修改密码")])
        for made in self.created:
            sheet.append([made.user.username, made.user.display_name, made.user.employee_no,
                          made.temporary_password, _("是")])
        for column in ("A", "B", "C", "D", "E"):
            sheet.column_dimensions[column].width = 18
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def template_xlsx() -> bytes:
    """An empty import file with its header and one example row."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = _("员工")
    sheet.append([_("用户名"), _("姓名"), _("工号"), _("角色"), _("班组"), _("部门"), _("手机"), _("邮箱"), _("技能")])
    sheet.append(["zhangwei", "张伟", "1024", str(Role.AGENT.label), "客服一组", "", "13800138000",
                  "zhangwei@example.com", "repair:4, complaint:3"])
    for column in "ABCDEFGHI":
        sheet.column_dimensions[column].width = 16
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _skills(text: str) -> list[tuple[str, int]]:
    """"repair:4, complaint" → [("repair", 4), ("complaint", 3)]; ValueError naming the bad part."""
    found = []
    for part in text.replace("，", ",").replace("；", ",").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        code, _sep, level = part.replace("：", ":").partition(":")
        level = level.strip() or "3"
        if not level.isdigit():
            raise ValueError(part)
        found.append((code.strip().lower(), int(level)))
    return found


def staff_import(*, actor: Any, data: bytes, filename: str) -> StaffImport:
    """Check the whole file, then create every account in one transaction (or none: ImportRejected)."""
    if not has_right(actor, AccountRight.STAFF_MANAGE):
        raise PermissionDenied(_("您没有权限导入员工"))
    report = ImportReport()
    if len(data) > MAX_BYTES:
        raise fail(report, _("文件超过 %(mb)s MB") % {"mb": MAX_BYTES // (1024 * 1024)})
    rows = list(read_rows(data, filename, report))
    if not rows:
        raise fail(report, _("文件是空的"))
    header, body = rows[0], rows[1:]
    columns: dict[str, int] = {}
    for index, cell in enumerate(header[1]):
        name = _ALIASES.get(header_key(cell))
        if name is None:
            if cell_text(cell):
                report.ignored_columns.append(cell_text(cell))
            continue
        columns.setdefault(name, index)
    missing = [COLUMNS[name][0] for name in REQUIRED if name not in columns]
    if missing:
        raise fail(report, _("缺少必填列：%(c)s") % {"c": "、".join(missing)})
    if len(body) > MAX_ROWS:
        raise fail(report, _("一次最多导入 %(n)s 行") % {"n": MAX_ROWS})
    teams = {t.name: t for t in Team.objects.filter(is_active=True)}
    departments = {d.name: d for d in Department.objects.filter(is_active=True)}
    departments.update({d.code: d for d in departments.values()})
    skills = {s.code: s for s in Skill.objects.filter(is_active=True)}
    heading = {name: cell_text(header[1][index]) for name, index in columns.items()}
    wanted: list[tuple[int, StaffData]] = []
    seen_usernames: dict[str, int] = {}
    seen_numbers: dict[str, int] = {}
    for number, cells in body:
        if not any(cell_text(c) for c in cells):
            continue
        report.rows += 1
        problems: list[RowError] = []

        def cell(name: str, cells: list[Any] = cells) -> str:
            index = columns.get(name)
            return cell_text(cells[index]) if index is not None and index < len(cells) else ""

        def err(field_name: str, message: str, value: str = "", number: int = number,
                problems: list[RowError] = problems) -> None:
            problems.append(RowError(row=number, field=field_name, message=message, value=value[:100],
                                     column=heading.get(field_name, "")))

        role = _ROLE_WORDS.get(cell("role"), _ROLE_WORDS.get(cell("role").lower()))
        if role is None:
            err("role", _("未知的角色（可填：%(r)s）") % {"r": "、".join(str(label) for _v, label in Role.choices)},
                cell("role"))
        team = teams.get(cell("team")) if cell("team") else None
        if cell("team") and team is None:
            err("team", _("没有名为“%(t)s”的在用班组") % {"t": cell("team")}, cell("team"))
        department = departments.get(cell("department")) if cell("department") else None
        if cell("department") and department is None:
            err("department", _("没有名为“%(d)s”的在用部门") % {"d": cell("department")}, cell("department"))
        skill_levels: list[tuple[str, int]] = []
        try:
            skill_levels = _skills(cell("skills"))
        except ValueError as bad:
            err("skills", _("技能写作“代码:熟练度”，多个用逗号分隔，例如 repair:4"), str(bad))
        unknown = [code for code, _level in skill_levels if code not in skills]
        if unknown:
            err("skills", _("没有这些技能代码：%(s)s") % {"s": "、".join(unknown)}, cell("skills"))
        language = _LANGUAGES.get(cell("language").lower())
        if language is None:
            err("language", _("界面语言填“中文”或“英文”"), cell("language"))
        key = cell("username").lower()
        if key and key in seen_usernames:
            err("username", _("用户名与第 %(r)s 行重复") % {"r": seen_usernames[key]}, cell("username"))
        elif key:
            seen_usernames[key] = number
        employee_no = cell("employee_no")
        if employee_no and employee_no in seen_numbers:
            err("employee_no", _("工号与第 %(r)s 行重复") % {"r": seen_numbers[employee_no]}, employee_no)
        elif employee_no:
            seen_numbers[employee_no] = number
        staff = StaffData(username=cell("username"), display_name=cell("display_name"), role=role or Role.AGENT,
                          employee_no=employee_no, phone=cell("phone"), email=cell("email"), team=team,
                          department=department,
                          skills=[(skills[c], lv) for c, lv in skill_levels if c in skills],
                          language=language or "zh-hans")
        try:
            _clean_staff(staff, instance=None)
            if role is not None:
                _guard_roles(actor, old_role=None, new_role=role, user=None)
        except ApplicationError as refused:
            field_name = str(refused.details.get("field", ""))
            err(field_name, refused.message, cell(field_name))
        if problems:
            report.errors.extend(problems)
        else:
            wanted.append((number, staff))
    if report.errors:
        raise ImportRejected(_("导入失败：%(n)s 行有误，没有写入任何数据") % {"n": len(report.bad_rows)}, report)
    if not wanted:
        raise fail(report, _("文件里没有数据行"))
    result = StaffImport(report=report)
    with transaction.atomic():
        for _number, staff in wanted:
            result.created.append(staff_create(actor=actor, data=staff))
        audit_record(actor=actor, action="staff.imported", object_type="accounts.user", object_id="import",
                     summary=_("导入 %(n)s 名员工") % {"n": len(wanted)},
                     data={"rows": report.rows, "usernames": [c.user.username for c in result.created],
                           "file": filename[:100]})
    report.created = len(result.created)
    return result

