"""Teams, departments, skills, business calendars (days, imports: the SLA due times move), categories and types
(their defaults win over the matching rules), on the pages with query-count guards; django-admin is read-only."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from kefu.accounts import staff
from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User
from kefu.clocks.models import Clock
from kefu.core import calendar_admin
from kefu.core.errors import Conflict, ValidationFailed
from kefu.core.models import BusinessCalendar, CalendarDay
from kefu.core.relay import drain
from kefu.core.tabular import ImportRejected
from kefu.tickets import catalog, services
from kefu.tickets.defaults import STANDARD_CALENDAR, sla_install_defaults
from kefu.tickets.models import Category, SlaPolicy
from kefu.tickets.sla import sla_policy_for

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_team_leads_and_members(admin_user: Any, service_center: Any, repair_department: Any,
                                agent: Any) -> None:
    lead = User.objects.create(username="newlead", display_name="新组长", role=Role.TEAM_LEAD)
    team = staff.team_create(actor=admin_user, data=staff.TeamData(name="客服三组", department=service_center,
                                                                  lead=lead))
    lead.refresh_from_db()
    assert lead.team == team  # a lead without a team joins theirs
    with pytest.raises(ValidationFailed) as refused:
        staff.team_create(actor=admin_user, data=staff.TeamData(name="客服四组", department=service_center, lead=agent))
    assert refused.value.details["field"] == "lead"
    with pytest.raises(ValidationFailed) as refused:
        staff.team_create(actor=admin_user, data=staff.TeamData(name="维修组", department=repair_department))
    assert refused.value.details["field"] == "department"
    with pytest.raises(Conflict, match="在职成员"):
        staff.team_update(actor=admin_user, team=team, expected_version=1,
                          data=staff.TeamData(name="客服三组", department=service_center, lead=lead, is_active=False))


def test_a_department_default_due_time_runs_on_its_calendar(admin_user: Any, agent: Any,
                                                            repair_department: Any) -> None:
    sla_install_defaults()
    calendar = BusinessCalendar.objects.get(name=STANDARD_CALENDAR)
    with pytest.raises(ValidationFailed) as refused:
        staff.department_update(actor=admin_user, department=repair_department, expected_version=None,
                                data=staff.DepartmentData(name="维修部", code="repair", default_due_seconds=4 * 3600))
    assert refused.value.details["field"] == "calendar"
    staff.department_update(actor=admin_user, department=repair_department, expected_version=None,
                            data=staff.DepartmentData(name="维修部", code="repair", calendar=calendar,
                                                      default_due_seconds=4 * 3600, contact_name="孙师傅",
                                                      contact_phone="020-88886666"))
    repair_department.refresh_from_db()
    ticket = services.ticket_create(actor=agent, subject="水管爆裂", ticket_type="repair", assignee=agent)
    dispatch = services.ticket_dispatch(actor=agent, ticket=ticket, department=repair_department)
    assert dispatch.due_at is not None
    clock = Clock.objects.get(subject_type="tickets.dispatch", subject_id=dispatch.pk)
    assert (clock.calendar_id, clock.target_seconds) == (calendar.pk, 4 * 3600)


@pytest.mark.parametrize(("fields", "field"), [
    ({"code": "Repair Dept"}, "code"), ({"name": ""}, "name"), ({"contact_email": "x@"}, "contact_email"),
    ({"contact_phone": "电话"}, "contact_phone"), ({"default_due_seconds": 10}, "default_due_seconds"),
])
def test_department_bad_input(admin_user: Any, fields: dict[str, Any], field: str) -> None:
    values = {"name": "工程部", "code": "engineering", **fields}
    with pytest.raises(ValidationFailed) as refused:
        staff.department_create(actor=admin_user, data=staff.DepartmentData(**values))
    assert refused.value.details["field"] == field
    assert not Department.objects.filter(code="engineering").exists()


# --- calendars -------------------------------------------------------------------------------------------------


WEEK = [[["09:00", "12:00"], ["13:00", "18:00"]]] * 5 + [[], []]


def test_a_holiday_added_moves_the_due_times_of_running_clocks(admin_user: Any, agent: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.clocks import handlers
    from kefu.clocks.services import clocks_recalendar

    sla_install_defaults()
    calendar = BusinessCalendar.objects.get(name=STANDARD_CALENDAR)
    # An inquiry at Thursday 17:00 is due in 4 business hours: Friday 12:00 … unless Friday becomes a holiday.
    thursday = datetime(2027, 3, 4, 17, 0, tzinfo=SH)
    ticket = services.ticket_create(actor=agent, subject="咨询", ticket_type="inquiry", assignee=agent, at=thursday)
    clock = Clock.objects.get(subject_type="tickets.ticket", subject_id=ticket.pk, metric="first_response")
    assert clock.due_at == datetime(2027, 3, 5, 12, 0, tzinfo=SH)
    moved: list[int] = []
    monkeypatch.setattr("kefu.clocks.tasks.clocks_recalendar_task", lambda cid, at: moved.append(cid))
    calendar_admin.calendar_day_set(actor=admin_user, calendar=calendar, data=calendar_admin.DayData(
        date=date(2027, 3, 5), kind="holiday", name="测试假日"))
    drain()  # the relay hands calendar.changed to the clock engine, which moves the clocks in a task
    assert moved == [calendar.pk]
    assert handlers.handle  # the consumer is registered under "clocks.calendars"
    assert clocks_recalendar(calendar_id=calendar.pk, at=thursday + timedelta(minutes=1)) == Clock.objects.filter(
        calendar=calendar, state="running").count()
    clock.refresh_from_db()
    assert clock.due_at == datetime(2027, 3, 8, 12, 0, tzinfo=SH)  # Monday: Friday off, weekend closed
    ticket.refresh_from_db()
    assert ticket.sla_due_at == clock.due_at


@pytest.mark.parametrize(("week", "field"), [
    ([[["18:00", "09:00"]]] + [[]] * 6, "week"), ([[["09:00", "12:00"], ["11:00", "13:00"]]] + [[]] * 6, "week"),
    ([[]] * 7, "week"), ([[]] * 6, "week"), ([[["9h", "12h"]]] + [[]] * 6, "week"),
])
def test_calendar_bad_weeks_name_the_day(admin_user: Any, week: list[Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        calendar_admin.calendar_create(actor=admin_user, data=calendar_admin.CalendarData(name="测试", week=week))
    assert refused.value.details["field"] == field
    assert not BusinessCalendar.objects.filter(name="测试").exists()


def test_days_import_all_or_nothing(admin_user: Any) -> None:
    calendar = calendar_admin.calendar_create(actor=admin_user,
                                              data=calendar_admin.CalendarData(name="2027 日历", week=WEEK))
    bad = "日期,类型,名称,工作时段\n2027-01-01,节假日,元旦,\n2027-02-30,节假日,不存在,\n2027-02-07,上班,调休,9点\n" \
          "2027-01-01,节假日,重复,\n2027-02-08,放鞭炮,?,\n"
    with pytest.raises(ImportRejected) as rejected:
        calendar_admin.calendar_days_import(actor=admin_user, calendar=calendar, data=bad.encode("gbk"),
                                            filename="days.csv")
    assert [(e.row, e.field) for e in rejected.value.report.errors] == [
        (3, "date"), (4, "periods"), (5, "date"), (6, "kind")]
    assert not CalendarDay.objects.filter(calendar=calendar).exists()
    good = 'date,kind,name,periods\n2027-01-01,holiday,New Year,\n2027-02-07,workday,调休,"09:00-12:00,13:00-17:00"\n'
    report = calendar_admin.calendar_days_import(actor=admin_user, calendar=calendar, data=good.encode(),
                                                 filename="days.csv")
    assert report.created == 2
    workday = CalendarDay.objects.get(calendar=calendar, date=date(2027, 2, 7))
    assert workday.periods == [["09:00", "12:00"], ["13:00", "17:00"]]
    calendar.refresh_from_db()
    assert calendar.version == 2


def test_a_stale_calendar_edit_is_a_conflict(admin_user: Any) -> None:
    calendar = calendar_admin.calendar_create(actor=admin_user, data=calendar_admin.CalendarData(name="甲", week=WEEK))
    calendar_admin.calendar_update(actor=admin_user, calendar=calendar, expected_version=1,
                                   data=calendar_admin.CalendarData(name="乙", week=WEEK))
    with pytest.raises(Conflict):
        calendar_admin.calendar_update(actor=admin_user, calendar=calendar, expected_version=1,
                                       data=calendar_admin.CalendarData(name="丙", week=WEEK))


def test_calendar_pages(admin_user: Any) -> None:
    client = page_client(admin_user)
    posted = {"name": "夜班日历", "time_zone": "Asia/Shanghai", **{f"w{d}_0_start": "20:00" for d in range(7)},
              **{f"w{d}_0_end": "24:00" for d in range(7)}}
    response = client.post("/admin/calendars/new/", posted)
    calendar = BusinessCalendar.objects.get(name="夜班日历")
    assert response.status_code == 302
    assert calendar.week[0] == [["20:00", "24:00"]]
    added = client.post(f"/admin/calendars/{calendar.pk}/days/", {"day-date": "2027-10-01", "day-kind": "holiday",
                                                                  "day-name": "国庆节"})
    assert added.status_code == 302
    refused = client.post(f"/admin/calendars/{calendar.pk}/days/", {"day-date": "2027-10-09", "day-kind": "workday",
                                                                    "day-periods": "8点到5点"})
    assert refused.status_code == 422
    assert "工作时段格式不正确" in refused.content.decode()
    assert client.get(f"/admin/calendars/{calendar.pk}/?year=2027").status_code == 200
    assert client.post(f"/admin/calendars/{calendar.pk}/days/delete/", {"date": "2027-10-01"}).status_code == 302
    assert not CalendarDay.objects.filter(calendar=calendar).exists()


# --- the catalogue -------------------------------------------------------------------------------------------


def test_category_and_type_defaults_win_over_the_rules(admin_user: Any, agent: Any, repair_department: Any) -> None:
    sla_install_defaults()
    fast = SlaPolicy.objects.create(name="加急维修", calendar=BusinessCalendar.objects.get(name=STANDARD_CALENDAR),
                                    first_response_seconds=600)
    parent = catalog.category_create(actor=admin_user, data=catalog.CategoryData(
        name="水电", ticket_type="repair", default_department=repair_department, default_sla_policy=fast))
    child = catalog.category_create(actor=admin_user, data=catalog.CategoryData(name="漏水", ticket_type="repair",
                                                                               parent=parent))
    with pytest.raises(ValidationFailed) as refused:
        catalog.category_create(actor=admin_user, data=catalog.CategoryData(name="三级", parent=child))
    assert refused.value.details["field"] == "parent"
    ticket = services.ticket_create(actor=agent, subject="厨房漏水", ticket_type="repair", category=child,
                                    assignee=agent)
    assert ticket.sla_policy == fast  # the parent's default, inherited
    assert catalog.defaults_for(ticket_type="repair", category_id=child.pk)[0] == repair_department
    catalog.type_setting_set(actor=admin_user, ticket_type="suggestion", default_department=repair_department,
                             default_sla_policy=fast, expected_version=None)
    suggestion = services.ticket_create(actor=agent, subject="建议", ticket_type="suggestion", assignee=agent)
    assert sla_policy_for(ticket=suggestion) == fast


def test_catalogue_pages_and_query_counts(admin_user: Any, repair_department: Any,
                                         django_assert_max_num_queries: Any) -> None:
    sla_install_defaults()
    client = page_client(admin_user)
    made = client.post("/admin/categories/new/", {"name": "投诉物业", "ticket_type": "complaint",
                                                  "default_department": repair_department.pk, "sort_order": 1,
                                                  "is_active": "on"})
    assert made.status_code == 302
    for n in range(6):
        Category.objects.create(name=f"分类{n}")
        Team.objects.create(name=f"班组{n}", department=Department.objects.get(is_service_center=True)
                            if Department.objects.filter(is_service_center=True).exists()
                            else Department.objects.create(name="客服中心", code="service", is_service_center=True))
    for url in ("/admin/", "/admin/categories/", "/admin/teams/", "/admin/departments/", "/admin/skills/",
                "/admin/sla/", "/admin/types/", "/admin/calendars/"):
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200, url
    policy = SlaPolicy.objects.get(name="10 投诉")
    stale = client.post(f"/admin/sla/{policy.pk}/", {"name": policy.name, "calendar": policy.calendar_id,
                                                     "first_response_minutes": 90, "warning_percent": 80,
                                                     "version": policy.version + 5, "is_active": "on"})
    assert stale.status_code == 422
    assert "已被他人修改" in stale.content.decode()
    saved = client.post(f"/admin/sla/{policy.pk}/", {"name": policy.name, "calendar": policy.calendar_id,
                                                     "first_response_minutes": 90, "warning_percent": 80,
                                                     "version": policy.version, "is_active": "on"})
    assert saved.status_code == 302
    policy.refresh_from_db()
    assert policy.first_response_seconds == 90 * 60


def test_django_admin_is_read_only(admin_user: Any) -> None:
    from django.contrib import admin

    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client = page_client(admin_user)
    for model, model_admin in admin.site._registry.items():
        request = type("R", (), {"user": admin_user, "method": "GET"})()
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
    assert client.get("/django-admin/").status_code == 200


def test_the_dispatch_form_preselects_the_default_department(admin_user: Any, agent: Any,
                                                              repair_department: Any) -> None:
    logistics = Department.objects.create(name="物流部", code="logistics")
    parent = catalog.category_create(actor=admin_user, data=catalog.CategoryData(
        name="设施", default_department=repair_department))
    child = catalog.category_create(actor=admin_user, data=catalog.CategoryData(name="电梯", parent=parent))
    catalog.type_setting_set(actor=admin_user, ticket_type="suggestion", default_department=logistics,
                             default_sla_policy=None, expected_version=None)
    client = page_client(agent)

    def preselected(**fields: Any) -> str:
        ticket = services.ticket_create(actor=agent, subject="派单测试", assignee=agent, **fields)
        page = client.get(f"/tickets/{ticket.pk}/").content.decode()
        return re.search(r'data-testid="dispatch-department" data-value="(\d*)"', page).group(1)

    assert preselected(category=child) == str(repair_department.pk)  # the parent category's
    assert preselected(ticket_type="suggestion") == str(logistics.pk)  # the type's
    assert preselected(ticket_type="complaint") == ""  # none: the dispatcher chooses
