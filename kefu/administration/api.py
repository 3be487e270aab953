"""REST API of the administration (/api/v1/admin/…): what the administration pages do, for scripts and for
an HR or directory system that keeps the staff list in step.

Every write goes through the same services as the pages (kefu.accounts.staff, kefu.core.calendar_admin,
kefu.tickets.catalog, kefu.tickets.sla), so the checks, the audit log and the events are the same. Bodies are
full replacements; updates carry the `version` read (a stale one gets 409 with `details.current_version`).
Objects are referred to by id (`team_id`, `department_id`…); an unknown or retired id is a 400 naming the field.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from ninja import Path as PathParam

from kefu.accounts import staff as staff_services
from kefu.accounts.choices import Role
from kefu.accounts.importing import MAX_BYTES, staff_import
from kefu.accounts.models import AgentSkill, Department, Skill, Team, User
from kefu.accounts.permissions import AccountRight
from kefu.apiutils.auth import requires
from kefu.apiutils.idempotency import idempotent_create
from kefu.apiutils.pagination import cursor_page, number_page
from kefu.apiutils.schemas import MAX_VERSION, Day, Id, InSchema, PathId
from kefu.core import audit_log, calendar_admin
from kefu.core.errors import ApplicationError, NotFound, ValidationFailed
from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.core.permissions import CoreRight
from kefu.tickets import catalog
from kefu.tickets.choices import TicketType
from kefu.tickets.models import Category, SlaPolicy, TicketTypeSetting
from kefu.tickets.permissions import TicketRight
from kefu.tickets.sla import SlaPolicyData, sla_policy_create, sla_policy_update

router = Router()
Version = Annotated[int, Field(ge=1, le=MAX_VERSION, description="The version you read; a stale one gets 409")]


class AdminPageQuery(InSchema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


def _page_of(qs: Any, paging: AdminPageQuery, out: Any) -> Any:
    return number_page(qs, page=paging.page, page_size=paging.page_size, serialize=lambda rows: [out(r) for r in rows])


@contextlib.contextmanager
def _api_fields(**names: str) -> Iterator[None]:
    """Services name the fields of their forms ("team"); the API's bodies name ids ("team_id")."""
    try:
        yield
    except ApplicationError as error:
        field_name = error.details.get("field") if isinstance(error.details, dict) else None
        if field_name in names:
            error.details["field"] = names[field_name]
        raise


def _get(model: Any, pk: int | None, field_name: str, *, active: bool = False, **filters: Any) -> Any:
    """The object an id in a body names (None for None), or a 400 naming the field."""
    if pk is None:
        return None
    qs = model.objects.filter(pk=pk, **filters)
    if active:
        qs = qs.filter(is_active=True)
    found = qs.first()
    if found is None:
        raise ValidationFailed(_("%(field)s：没有编号为 %(id)s 的可用对象") % {"field": field_name, "id": pk},
                               details={"field": field_name, "id": pk})
    return found


def _one(model: Any, pk: int, message: str) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(message, details={"id": pk})
    return found


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# --- staff ------------------------------------------------------------------------------------------------


class SkillLevel(Schema):
    skill_id: Id
    proficiency: int = Field(3, ge=1, le=5, description="1 (beginner) to 5 (expert)")


class StaffOut(Schema):
    id: int
    username: str
    display_name: str
    employee_no: str
    role: str
    team_id: int | None
    department_id: int | None
    phone: str
    email: str
    extension: str = Field(description="The phone extension on the PBX (click-to-dial rings it first)")
    language: str
    skills: list[SkillLevel]
    is_active: bool
    must_change_password: bool = Field(description="A temporary password is in use: it must be changed at sign-in")
    last_login: datetime | None
    version: int


class StaffCreated(StaffOut):
    temporary_password: str | None = Field(
        description="Shown once (not in an idempotent replay): the person must change it at first sign-in")


class StaffIn(InSchema):
    username: str = Field(min_length=1, max_length=150)
    display_name: str = Field(min_length=1, max_length=100)
    role: Role
    employee_no: str = Field("", max_length=20)
    team_id: Id | None = None
    department_id: Id | None = Field(None, description="Required for department staff; else the team's")
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=254)
    extension: str = Field("", max_length=20, description="The phone extension on the PBX: digits, * # +")
    language: Literal["zh-hans", "en"] = "zh-hans"
    skills: list[SkillLevel] = Field(default_factory=list, max_length=100)


class StaffPut(StaffIn):
    version: Version


class StaffPage(Schema):
    items: list[StaffOut]
    next: str | None
    page: int
    page_size: int
    count: int


class StaffFilters(AdminPageQuery):
    q: str = Field("", max_length=100, description="Part of the username or name, or the whole employee number")
    role: Role | None = None
    team: Id | None = None
    active: Literal["active", "inactive", "all"] = "active"


class PasswordResetIn(InSchema):
    method: Literal["temporary", "link"] = Field(
        description="`temporary`: a new temporary password (shown once); `link`: a one-time link to set one")


class PasswordResetOut(Schema):
    method: str
    temporary_password: str | None = None
    link: str | None = Field(None, description="Path of the one-time link: it works once, for a day")


class ImportedAccount(Schema):
    id: int
    username: str
    display_name: str
    temporary_password: str


class StaffImportOut(Schema):
    rows: int
    created: list[ImportedAccount]
    ignored_columns: list[str]


def _staff_out(user: User) -> dict[str, Any]:
    skills = getattr(user, "api_skills", None)
    if skills is None:
        skills = list(AgentSkill.objects.filter(user=user))
    return {
        **{name: getattr(user, name) for name in (
            "username", "display_name", "employee_no", "role", "team_id", "department_id", "phone", "email",
            "extension", "language", "is_active", "must_change_password", "last_login", "version")},
        "id": user.pk,
        "skills": [{"skill_id": s.skill_id, "proficiency": s.proficiency} for s in skills],
    }


def _staff_data(payload: StaffIn) -> staff_services.StaffData:
    skills = []
    for index, item in enumerate(payload.skills):
        skills.append((_get(Skill, item.skill_id, f"skills[{index}].skill_id", active=True), item.proficiency))
    return staff_services.StaffData(
        username=payload.username, display_name=payload.display_name, role=payload.role,
        employee_no=payload.employee_no, phone=payload.phone, email=payload.email, extension=payload.extension,
        team=_get(Team, payload.team_id, "team_id"), department=_get(Department, payload.department_id,
                                                                     "department_id"),
        skills=skills, language=payload.language)


_STAFF_FIELDS = {"team": "team_id", "department": "department_id", "skills": "skills"}


def _staff(user_id: int) -> User:
    return _one(User, user_id, _("员工不存在"))  # type: ignore[no-any-return]


@router.get("/staff", response=StaffPage, summary="List staff accounts")
@requires(AccountRight.STAFF_VIEW)
def staff_list(request: HttpRequest, filters: Query[StaffFilters]) -> Any:
    qs = staff_services.staff_queryset(q=filters.q, role=filters.role or "", team_id=filters.team,
                                       active=filters.active)
    qs = qs.prefetch_related(Prefetch("skills", queryset=AgentSkill.objects.order_by("skill_id"),
                                      to_attr="api_skills"))
    return _page_of(qs, filters, _staff_out)


@router.post("/staff/import", response=StaffImportOut,
             summary="Import staff from Excel (.xlsx) or CSV: all rows or none")
@requires(AccountRight.STAFF_MANAGE)
def staff_import_file(request: HttpRequest, file: File[UploadedFile]) -> Any:
    data = _upload(file)
    result = staff_import(actor=_actor(request), data=data, filename=file.name or "staff.csv")
    return {"rows": result.report.rows, "ignored_columns": result.report.ignored_columns,
            "created": [{"id": c.user.pk, "username": c.user.username, "display_name": c.user.display_name,
                         "temporary_password": c.temporary_password} for c in result.created]}


@router.get("/staff/{user_id}", response=StaffOut, summary="One staff account")
@requires(AccountRight.STAFF_VIEW)
def staff_detail(request: HttpRequest, user_id: PathId) -> Any:
    return _staff_out(_staff(user_id))


@router.post("/staff", response={201: StaffCreated}, summary="Create a staff account (temporary password)")
@requires(AccountRight.STAFF_MANAGE)
def staff_create(request: HttpRequest, payload: StaffIn) -> Any:
    def create() -> tuple[int, Any]:
        with _api_fields(**_STAFF_FIELDS):
            made = staff_services.staff_create(actor=_actor(request), data=_staff_data(payload))
        return 201, {**_staff_out(made.user), "temporary_password": made.temporary_password}

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=StaffCreated,
                             redact=lambda body: {**body, "temporary_password": None})


@router.put("/staff/{user_id}", response=StaffOut, summary="Replace a staff account (optimistic concurrency)")
@requires(AccountRight.STAFF_MANAGE)
def staff_update(request: HttpRequest, user_id: PathId, payload: StaffPut) -> Any:
    user = _staff(user_id)
    with _api_fields(**_STAFF_FIELDS):
        updated = staff_services.staff_update(actor=_actor(request), user=user, data=_staff_data(payload),
                                              expected_version=payload.version)
    return _staff_out(updated)


@router.post("/staff/{user_id}/deactivate", response=StaffOut, summary="Deactivate an account (history stays)")
@requires(AccountRight.STAFF_MANAGE)
def staff_deactivate(request: HttpRequest, user_id: PathId) -> Any:
    return _staff_out(staff_services.staff_set_active(actor=_actor(request), user=_staff(user_id), active=False))


@router.post("/staff/{user_id}/reactivate", response=StaffOut, summary="Reactivate an account")
@requires(AccountRight.STAFF_MANAGE)
def staff_reactivate(request: HttpRequest, user_id: PathId) -> Any:
    return _staff_out(staff_services.staff_set_active(actor=_actor(request), user=_staff(user_id), active=True))


@router.post("/staff/{user_id}/password-reset", response=PasswordResetOut,
             summary="Reset a password: a temporary one, or a one-time link")
@requires(AccountRight.STAFF_MANAGE)
def staff_password_reset(request: HttpRequest, user_id: PathId, payload: PasswordResetIn) -> Any:
    reset = staff_services.staff_reset_password(actor=_actor(request), user=_staff(user_id), method=payload.method)
    return {"method": reset.method, "temporary_password": reset.temporary_password or None,
            "link": reset.link_path or None}


def _upload(file: UploadedFile) -> bytes:
    if file.size is not None and file.size > MAX_BYTES:
        raise ValidationFailed(_("文件超过 %(mb)s MB") % {"mb": MAX_BYTES // (1024 * 1024)},
                               details={"field": "file"})
    return file.read()


# --- teams, departments, skills ------------------------------------------------------------------------------


class AdminTeamOut(Schema):
    id: int
    name: str
    department_id: int
    lead_id: int | None
    is_active: bool
    version: int


class TeamIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    department_id: Id = Field(description="A service-centre department")
    lead_id: Id | None = None
    is_active: bool = True


class TeamPut(TeamIn):
    version: Version


class AdminTeamPage(Schema):
    items: list[AdminTeamOut]
    next: str | None
    page: int
    page_size: int
    count: int


def _team_out(team: Team) -> dict[str, Any]:
    return {f: getattr(team, f) for f in ("name", "department_id", "lead_id", "is_active", "version")} | {
        "id": team.pk}


def _team_data(payload: TeamIn) -> staff_services.TeamData:
    return staff_services.TeamData(name=payload.name, department=_get(Department, payload.department_id,
                                                                      "department_id", active=True),
                                   lead=_get(User, payload.lead_id, "lead_id"), is_active=payload.is_active)


_TEAM_FIELDS = {"department": "department_id", "lead": "lead_id"}


@router.get("/teams", response=AdminTeamPage, summary="List teams (retired ones too)")
@requires(AccountRight.ORG_MANAGE)
def admin_team_list(request: HttpRequest, paging: Query[AdminPageQuery]) -> Any:
    return _page_of(Team.objects.order_by("-is_active", "name", "id"), paging, _team_out)


@router.post("/teams", response={201: AdminTeamOut}, summary="Create a team")
@requires(AccountRight.ORG_MANAGE)
def team_create(request: HttpRequest, payload: TeamIn) -> Any:
    def create() -> tuple[int, Any]:
        with _api_fields(**_TEAM_FIELDS):
            return 201, _team_out(staff_services.team_create(actor=_actor(request), data=_team_data(payload)))

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=AdminTeamOut)


@router.put("/teams/{team_id}", response=AdminTeamOut, summary="Replace a team (optimistic concurrency)")
@requires(AccountRight.ORG_MANAGE)
def team_update(request: HttpRequest, team_id: PathId, payload: TeamPut) -> Any:
    team = _one(Team, team_id, _("班组不存在"))
    with _api_fields(**_TEAM_FIELDS):
        return _team_out(staff_services.team_update(actor=_actor(request), team=team, data=_team_data(payload),
                                                    expected_version=payload.version))


class AdminDepartmentOut(Schema):
    id: int
    name: str
    code: str
    is_service_center: bool
    manager_id: int | None
    contact_name: str
    contact_phone: str
    contact_email: str
    calendar_id: int | None
    default_due_seconds: int | None = Field(description="Business seconds a dispatch to it has by default")
    is_active: bool
    version: int


class DepartmentIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=40)
    is_service_center: bool = False
    manager_id: Id | None = None
    contact_name: str = Field("", max_length=100)
    contact_phone: str = Field("", max_length=32)
    contact_email: str = Field("", max_length=254)
    calendar_id: Id | None = Field(None, description="The calendar its dispatch due times run on")
    default_due_seconds: int | None = Field(None, ge=60, le=staff_services.MAX_DUE_SECONDS)
    is_active: bool = True


class DepartmentPut(DepartmentIn):
    version: Version


class AdminDepartmentPage(AdminTeamPage):
    items: list[AdminDepartmentOut]  # type: ignore[assignment]


_DEPARTMENT_OUT = tuple(f for f in AdminDepartmentOut.model_fields if f != "id")
_DEPARTMENT_FIELDS = {"manager": "manager_id", "calendar": "calendar_id"}


def _department_out(department: Department) -> dict[str, Any]:
    return {f: getattr(department, f) for f in _DEPARTMENT_OUT} | {"id": department.pk}


def _department_data(payload: DepartmentIn) -> staff_services.DepartmentData:
    values = payload.model_dump(exclude={"manager_id", "calendar_id", "version"})
    return staff_services.DepartmentData(**values, manager=_get(User, payload.manager_id, "manager_id"),
                                         calendar=_get(BusinessCalendar, payload.calendar_id, "calendar_id"))


@router.get("/departments", response=AdminDepartmentPage, summary="List departments (retired ones too)")
@requires(AccountRight.ORG_MANAGE)
def admin_department_list(request: HttpRequest, paging: Query[AdminPageQuery]) -> Any:
    return _page_of(Department.objects.order_by("-is_active", "name", "id"), paging, _department_out)


@router.get("/departments/{department_id}", response=AdminDepartmentOut, summary="One department, with its settings")
@requires(AccountRight.ORG_MANAGE)
def admin_department_detail(request: HttpRequest, department_id: PathId) -> Any:
    return _department_out(_one(Department, department_id, _("部门不存在")))


@router.post("/departments", response={201: AdminDepartmentOut}, summary="Create a department")
@requires(AccountRight.ORG_MANAGE)
def department_create(request: HttpRequest, payload: DepartmentIn) -> Any:
    def create() -> tuple[int, Any]:
        with _api_fields(**_DEPARTMENT_FIELDS):
            made = staff_services.department_create(actor=_actor(request), data=_department_data(payload))
        return 201, _department_out(made)

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=AdminDepartmentOut)


@router.put("/departments/{department_id}", response=AdminDepartmentOut,
            summary="Replace a department (optimistic concurrency)")
@requires(AccountRight.ORG_MANAGE)
def department_update(request: HttpRequest, department_id: PathId, payload: DepartmentPut) -> Any:
    department = _one(Department, department_id, _("部门不存在"))
    with _api_fields(**_DEPARTMENT_FIELDS):
        return _department_out(staff_services.department_update(
            actor=_actor(request), department=department, data=_department_data(payload),
            expected_version=payload.version))


class SkillOut(Schema):
    id: int
    code: str
    name: str
    is_active: bool
    version: int


class SkillIn(InSchema):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    is_active: bool = True


class SkillPut(SkillIn):
    version: Version


def _skill_out(skill: Skill) -> dict[str, Any]:
    return {"id": skill.pk, "code": skill.code, "name": skill.name, "is_active": skill.is_active,
            "version": skill.version}


@router.get("/skills", response=list[SkillOut], summary="List skills")
@requires(AccountRight.ORG_MANAGE)
def skill_list(request: HttpRequest) -> Any:
    return [_skill_out(s) for s in Skill.objects.order_by("-is_active", "code")]


@router.post("/skills", response={201: SkillOut}, summary="Create a skill")
@requires(AccountRight.ORG_MANAGE)
def skill_create(request: HttpRequest, payload: SkillIn) -> Any:
    def create() -> tuple[int, Any]:
        data = staff_services.SkillData(**payload.model_dump())
        return 201, _skill_out(staff_services.skill_create(actor=_actor(request), data=data))

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=SkillOut)


@router.put("/skills/{skill_id}", response=SkillOut, summary="Replace a skill (optimistic concurrency)")
@requires(AccountRight.ORG_MANAGE)
def skill_update(request: HttpRequest, skill_id: PathId, payload: SkillPut) -> Any:
    skill = _one(Skill, skill_id, _("技能不存在"))
    data = staff_services.SkillData(**payload.model_dump(exclude={"version"}))
    return _skill_out(staff_services.skill_update(actor=_actor(request), skill=skill, data=data,
                                                  expected_version=payload.version))


# --- business calendars ------------------------------------------------------------------------------------

Period = Annotated[list[Annotated[str, Field(max_length=5)]], Field(min_length=2, max_length=2)]


class CalendarOut(Schema):
    id: int
    name: str
    time_zone: str
    always_open: bool
    week: list[list[Period]] = Field(description="Monday first: each day's [\"HH:MM\", \"HH:MM\"] periods")
    version: int


class CalendarIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    time_zone: str = Field("Asia/Shanghai", max_length=64)
    always_open: bool = False
    week: list[Annotated[list[Period], Field(max_length=3)]] = Field(
        default_factory=lambda: [[] for _day in range(7)], min_length=7, max_length=7,
        description="Seven days, Monday first, each with up to three periods; 24:00 ends a day")


class CalendarPut(CalendarIn):
    version: Version


class DayOut(Schema):
    date: date
    kind: str = Field(description="`holiday` (closed) or `workday` (a 调休 working day)")
    name: str
    periods: list[Period]


class DayIn(InSchema):
    kind: Literal["holiday", "workday"]
    name: str = Field("", max_length=100)
    periods: list[Period] = Field(default_factory=list, max_length=3,
                                  description="A working day's hours; empty: the usual weekday hours")


class DaysImportOut(Schema):
    rows: int
    created: int
    updated: int
    ignored_columns: list[str]


def _calendar_out(calendar: BusinessCalendar) -> dict[str, Any]:
    return {"id": calendar.pk, "name": calendar.name, "time_zone": calendar.time_zone,
            "always_open": calendar.always_open, "week": calendar.week, "version": calendar.version}


def _calendar_data(payload: CalendarIn) -> calendar_admin.CalendarData:
    return calendar_admin.CalendarData(name=payload.name, time_zone=payload.time_zone,
                                       always_open=payload.always_open, week=payload.week)


def _calendar(calendar_id: int) -> BusinessCalendar:
    return _one(BusinessCalendar, calendar_id, _("工作日历不存在"))  # type: ignore[no-any-return]


@router.get("/calendars", response=list[CalendarOut], summary="List business calendars")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_list(request: HttpRequest) -> Any:
    return [_calendar_out(c) for c in BusinessCalendar.objects.order_by("name")]


@router.get("/calendars/{calendar_id}", response=CalendarOut, summary="One business calendar")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_detail(request: HttpRequest, calendar_id: PathId) -> Any:
    return _calendar_out(_calendar(calendar_id))


@router.post("/calendars", response={201: CalendarOut}, summary="Create a business calendar")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_create(request: HttpRequest, payload: CalendarIn) -> Any:
    def create() -> tuple[int, Any]:
        return 201, _calendar_out(calendar_admin.calendar_create(actor=_actor(request),
                                                                 data=_calendar_data(payload)))

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=CalendarOut)


@router.put("/calendars/{calendar_id}", response=CalendarOut,
            summary="Replace a calendar's hours (running clocks get new due times)")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_update(request: HttpRequest, calendar_id: PathId, payload: CalendarPut) -> Any:
    return _calendar_out(calendar_admin.calendar_update(actor=_actor(request), calendar=_calendar(calendar_id),
                                                        data=_calendar_data(payload),
                                                        expected_version=payload.version))


class YearQuery(InSchema):
    year: int | None = Field(None, ge=2000, le=2100, description="Only this year's days")


@router.get("/calendars/{calendar_id}/days", response=list[DayOut], summary="A calendar's holidays and 调休 days")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_days(request: HttpRequest, calendar_id: PathId, query: Query[YearQuery]) -> Any:
    days = CalendarDay.objects.filter(calendar=_calendar(calendar_id)).order_by("date")
    if query.year:
        days = days.filter(date__year=query.year)
    return [{"date": d.date, "kind": d.kind, "name": d.name, "periods": d.periods or []} for d in days]


class DaysImportQuery(InSchema):
    replace_year: bool = Field(False, description="First remove the existing days of the years the file covers")


@router.post("/calendars/{calendar_id}/days/import", response=DaysImportOut,
             summary="Import holidays and 调休 days from CSV or Excel: all rows or none")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_days_import(request: HttpRequest, calendar_id: PathId, query: Query[DaysImportQuery],
                         file: File[UploadedFile]) -> Any:
    report = calendar_admin.calendar_days_import(actor=_actor(request), calendar=_calendar(calendar_id),
                                                 data=_upload(file), filename=file.name or "days.csv",
                                                 replace_year=query.replace_year)
    return {"rows": report.rows, "created": report.created, "updated": report.updated,
            "ignored_columns": report.ignored_columns}


@router.put("/calendars/{calendar_id}/days/{day}", response=DayOut, summary="Set one date: a holiday or a 调休 day")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_day_set(request: HttpRequest, calendar_id: PathId, day: PathParam[Day], payload: DayIn) -> Any:
    made = calendar_admin.calendar_day_set(actor=_actor(request), calendar=_calendar(calendar_id),
                                           data=calendar_admin.DayData(date=day, kind=payload.kind,
                                                                       name=payload.name, periods=payload.periods))
    return {"date": made.date, "kind": made.kind, "name": made.name, "periods": made.periods or []}


@router.delete("/calendars/{calendar_id}/days/{day}", response={204: None}, summary="Remove one date's setting")
@requires(CoreRight.CALENDAR_MANAGE)
def calendar_day_delete(request: HttpRequest, calendar_id: PathId, day: PathParam[Day]) -> Any:
    calendar_admin.calendar_day_delete(actor=_actor(request), calendar=_calendar(calendar_id), day_date=day)
    return Status(204, None)


# --- categories, type defaults, SLA policies -------------------------------------------------------------------


class CategoryOut(Schema):
    id: int
    name: str
    name_en: str
    ticket_type: str = Field(description="The type it is for; empty for every type")
    parent_id: int | None
    default_department_id: int | None
    default_sla_policy_id: int | None
    is_active: bool
    sort_order: int
    version: int


CategoryType = Literal[("", *TicketType.values)]  # type: ignore[valid-type]


class CategoryIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field("", max_length=100)
    ticket_type: CategoryType = Field("", description="The type it is for; empty for every type")
    parent_id: Id | None = None
    default_department_id: Id | None = None
    default_sla_policy_id: Id | None = None
    is_active: bool = True
    sort_order: int = Field(0, ge=0, le=100_000)


class CategoryPut(CategoryIn):
    version: Version


_CATEGORY_OUT = tuple(f for f in CategoryOut.model_fields if f != "id")
_CATEGORY_FIELDS = {"parent": "parent_id", "default_department": "default_department_id",
                    "default_sla_policy": "default_sla_policy_id"}


def _category_out(category: Category) -> dict[str, Any]:
    return {f: getattr(category, f) for f in _CATEGORY_OUT} | {"id": category.pk}


def _category_data(payload: CategoryIn) -> catalog.CategoryData:
    return catalog.CategoryData(
        name=payload.name, name_en=payload.name_en, ticket_type=payload.ticket_type,
        parent=_get(Category, payload.parent_id, "parent_id"),
        default_department=_get(Department, payload.default_department_id, "default_department_id"),
        default_sla_policy=_get(SlaPolicy, payload.default_sla_policy_id, "default_sla_policy_id"),
        is_active=payload.is_active, sort_order=payload.sort_order)


@router.get("/categories", response=list[CategoryOut], summary="List work-order categories")
@requires(TicketRight.CATEGORY_MANAGE)
def category_list(request: HttpRequest) -> Any:
    return [_category_out(c) for c in Category.objects.order_by("sort_order", "name", "id")]


@router.post("/categories", response={201: CategoryOut}, summary="Create a category")
@requires(TicketRight.CATEGORY_MANAGE)
def category_create(request: HttpRequest, payload: CategoryIn) -> Any:
    def create() -> tuple[int, Any]:
        with _api_fields(**_CATEGORY_FIELDS):
            made = catalog.category_create(actor=_actor(request), data=_category_data(payload))
        return 201, _category_out(made)

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=CategoryOut)


@router.put("/categories/{category_id}", response=CategoryOut, summary="Replace a category (optimistic concurrency)")
@requires(TicketRight.CATEGORY_MANAGE)
def category_update(request: HttpRequest, category_id: PathId, payload: CategoryPut) -> Any:
    category = _one(Category, category_id, _("分类不存在"))
    with _api_fields(**_CATEGORY_FIELDS):
        return _category_out(catalog.category_update(actor=_actor(request), category=category,
                                                     data=_category_data(payload),
                                                     expected_version=payload.version))


class TypeSettingOut(Schema):
    ticket_type: str
    default_department_id: int | None
    default_sla_policy_id: int | None
    version: int = Field(description="0 while the type has never been set")


class TypeSettingPut(InSchema):
    default_department_id: Id | None = None
    default_sla_policy_id: Id | None = None
    version: int = Field(ge=0, le=MAX_VERSION, description="The version you read (0 for a type never set)")


def _type_out(ticket_type: str, setting: TicketTypeSetting | None) -> dict[str, Any]:
    return {"ticket_type": ticket_type,
            "default_department_id": setting.default_department_id if setting else None,
            "default_sla_policy_id": setting.default_sla_policy_id if setting else None,
            "version": setting.version if setting else 0}


@router.get("/ticket-types", response=list[TypeSettingOut], summary="The defaults of each work-order type")
@requires(TicketRight.CATEGORY_MANAGE)
def type_list(request: HttpRequest) -> Any:
    settings = {s.ticket_type: s for s in TicketTypeSetting.objects.all()}
    return [_type_out(value, settings.get(value)) for value in TicketType.values]


@router.put("/ticket-types/{ticket_type}", response=TypeSettingOut, summary="Set a type's defaults")
@requires(TicketRight.CATEGORY_MANAGE)
def type_update(request: HttpRequest, ticket_type: TicketType, payload: TypeSettingPut) -> Any:
    with _api_fields(default_department="default_department_id", default_sla_policy="default_sla_policy_id"):
        setting = catalog.type_setting_set(
            actor=_actor(request), ticket_type=ticket_type,
            default_department=_get(Department, payload.default_department_id, "default_department_id"),
            default_sla_policy=_get(SlaPolicy, payload.default_sla_policy_id, "default_sla_policy_id"),
            expected_version=payload.version)
    return _type_out(ticket_type, setting)


class SlaPolicyOut(Schema):
    id: int
    name: str
    calendar_id: int
    ticket_type: str
    priority: str
    customer_tier: str
    channel: str
    vip_only: bool
    first_response_seconds: int | None
    next_response_seconds: int | None
    onsite_seconds: int | None
    resolution_seconds: int | None
    warning_fraction: float
    is_active: bool
    version: int


Seconds = Annotated[int, Field(ge=1, le=2**31 - 1)]


class SlaPolicyIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    calendar_id: Id
    ticket_type: str = Field("", max_length=20, description="Matching rule; empty matches every type")
    priority: str = Field("", max_length=10)
    customer_tier: str = Field("", max_length=1)
    channel: str = Field("", max_length=16)
    vip_only: bool = False
    first_response_seconds: Seconds | None = None
    next_response_seconds: Seconds | None = None
    onsite_seconds: Seconds | None = None
    resolution_seconds: Seconds | None = None
    warning_fraction: float = Field(0.8, gt=0, lt=1)
    is_active: bool = True


class SlaPolicyPut(SlaPolicyIn):
    version: Version


_POLICY_OUT = tuple(f for f in SlaPolicyOut.model_fields if f != "id")


def _policy_out(policy: SlaPolicy) -> dict[str, Any]:
    return {f: getattr(policy, f) for f in _POLICY_OUT} | {"id": policy.pk}


def _policy_data(payload: SlaPolicyIn) -> SlaPolicyData:
    values = payload.model_dump(exclude={"calendar_id", "version"})
    return SlaPolicyData(**values, calendar=_get(BusinessCalendar, payload.calendar_id, "calendar_id"))


@router.get("/sla-policies", response=list[SlaPolicyOut], summary="List SLA policies")
@requires(TicketRight.SLA_MANAGE)
def sla_policy_list(request: HttpRequest) -> Any:
    return [_policy_out(p) for p in SlaPolicy.objects.order_by("name")]


@router.post("/sla-policies", response={201: SlaPolicyOut}, summary="Create an SLA policy")
@requires(TicketRight.SLA_MANAGE)
def sla_policy_add(request: HttpRequest, payload: SlaPolicyIn) -> Any:
    def create() -> tuple[int, Any]:
        with _api_fields(calendar="calendar_id"):
            return 201, _policy_out(sla_policy_create(actor=_actor(request), data=_policy_data(payload)))

    return idempotent_create(request, user=_actor(request), payload=payload, create=create, schema=SlaPolicyOut)


@router.put("/sla-policies/{policy_id}", response=SlaPolicyOut,
            summary="Replace an SLA policy (open orders on it are re-targeted)")
@requires(TicketRight.SLA_MANAGE)
def sla_policy_replace(request: HttpRequest, policy_id: PathId, payload: SlaPolicyPut) -> Any:
    policy = _one(SlaPolicy, policy_id, _("SLA 策略不存在"))
    with _api_fields(calendar="calendar_id"):
        return _policy_out(sla_policy_update(actor=_actor(request), policy=policy, data=_policy_data(payload),
                                             expected_version=payload.version))



# --- the audit log (read-only) ---------------------------------------------------------------------------------


class AuditFiltersIn(InSchema):
    """Documents the query parameters; they are read by kefu.core.audit_log.parse_audit_filter, the same
    definition the audit viewer's page and its export use."""

    actor: str | None = Field(None, description="A user id, or `system` for rows written by no person")
    action: str | None = Field(None, max_length=64,
                               description="An action (`customer.viewed_unmasked`) or a family (`customer.*`)")
    object_type: str | None = Field(None, max_length=64, description="e.g. `customers.customer`, `tickets.ticket`")
    object_id: str | None = Field(None, max_length=64)
    q: str | None = Field(None, max_length=100, description="Words of the summary, an object id, or a whole phone "
                                                            "number / e-mail address (finds the lookups of it)")
    date_from: str | None = Field(None, description="ISO 8601 date or date-time; a date is local midnight")
    date_to: str | None = Field(None, description="Exclusive; a date means the end of that day")
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=200)


class AuditExportIn(InSchema):
    actor: str | None = None
    action: str | None = Field(None, max_length=64)
    object_type: str | None = Field(None, max_length=64)
    object_id: str | None = Field(None, max_length=64)
    q: str | None = Field(None, max_length=100)
    date_from: str | None = None
    date_to: str | None = None


class AuditEntryOut(Schema):
    id: int
    created_at: datetime
    actor_id: int | None = Field(description="null: written by the system (rules, the command line)")
    actor: str
    action: str
    action_label: str
    object_type: str
    object_id: str
    summary: str
    data: dict[str, Any]
    ip_address: str | None


class AuditPageOut(Schema):
    items: list[AuditEntryOut]
    next: str | None = Field(description="Cursor of the next (older) page, as ?cursor=; null on the last page")
    limit: int


@router.get("/audit", response=AuditPageOut, summary="List audit rows (newest first, keyset pages)")
@requires(CoreRight.AUDIT_VIEW)
def audit_list(request: HttpRequest, filters: Query[AuditFiltersIn]) -> Any:
    """Read-only: audit rows cannot be changed or deleted through any interface."""
    found = audit_log.audit_filter_from(request.GET)
    return cursor_page(audit_log.audit_entries(_actor(request), found), limit=filters.limit, cursor=filters.cursor,
                       count=False, serialize=lambda rows: [audit_log.entry_dict(e) for e in rows])


@router.get("/audit/export", summary="The audit rows of a filter as an Excel workbook (.xlsx); itself audited")
@requires(CoreRight.AUDIT_VIEW)
def audit_export(request: HttpRequest, filters: Query[AuditExportIn]) -> Any:
    found = audit_log.audit_filter_from(request.GET)
    out = io.BytesIO()
    result = audit_log.audit_export(actor=_actor(request), f=found, out=out, ip=request.META.get("REMOTE_ADDR"))
    response = HttpResponse(out.getvalue(), content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return response


@router.get("/audit/{entry_id}", response=AuditEntryOut, summary="One audit row with its data")
@requires(CoreRight.AUDIT_VIEW)
def audit_detail(request: HttpRequest, entry_id: PathId) -> Any:
    entry = audit_log.audit_entry(_actor(request), entry_id)
    if entry is None:
        raise NotFound(_("审计记录不存在"), details={"id": entry_id})
    return audit_log.entry_dict(entry)
