"""The administration's API: the same services as the pages, ids in bodies, 400 naming the field, 409 on a stale
version, files all-or-nothing, idempotent creates that never replay a password."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kefu.accounts.models import Skill, Team, User
from kefu.apiutils.testing import BASE, api_as, assert_error_shape
from kefu.core.models import AuditLog, BusinessCalendar, CalendarDay
from kefu.tickets.models import Category, SlaPolicy

pytestmark = pytest.mark.django_db
WEEK = [[["09:00", "12:00"], ["13:00", "18:00"]]] * 5 + [[], []]


def upload(user: Any, path: str, name: str, content: bytes) -> Any:
    client = api_as(user)
    return client.client.post(f"{BASE}{path}", {"file": SimpleUploadedFile(name, content)},
                              headers=client._headers(None))


def staff_body(team: Any, **changes: Any) -> dict[str, Any]:
    return {"username": "zhouxun", "display_name": "周迅", "role": "agent", "employee_no": "5001",
            "team_id": team.pk, "phone": "13900005001", "email": "zhou@example.com", **changes}


class TestStaff:
    def test_create_shows_the_temporary_password_once(self, admin_user: Any, team: Any) -> None:
        client = api_as(admin_user)
        skill = Skill.objects.create(code="repair", name="报修")
        body = staff_body(team, skills=[{"skill_id": skill.pk, "proficiency": 4}])
        first = client.post("/admin/staff", body, headers={"Idempotency-Key": "hr-5001"})
        assert first.status_code == 201, first.content
        made = first.json()
        assert made["temporary_password"]
        assert made["must_change_password"] is True
        assert made["skills"] == [{"skill_id": skill.pk, "proficiency": 4}]
        assert made["department_id"] == team.department_id  # the team's
        replay = client.post("/admin/staff", body, headers={"Idempotency-Key": "hr-5001"})
        assert replay.status_code == 201
        assert replay.json()["id"] == made["id"]
        assert replay.json()["temporary_password"] is None  # a replay never shows a password again
        assert User.objects.filter(username="zhouxun").count() == 1
        user = User.objects.get(username="zhouxun")
        assert user.check_password(made["temporary_password"])
        assert AuditLog.objects.filter(action="staff.created", object_id=str(user.pk)).exists()

    def test_bad_input_names_the_field_and_writes_nothing(self, admin_user: Any, team: Any,
                                                          repair_department: Any) -> None:
        client = api_as(admin_user)
        before = User.objects.count()
        unknown_team = client.post("/admin/staff", staff_body(team, team_id=999_999))
        assert assert_error_shape(unknown_team, 400)["details"]["field"] == "team_id"
        bad_role = client.post("/admin/staff", staff_body(team, role="king"))
        assert "role" in str(assert_error_shape(bad_role, 422)["details"])
        bad_mail = client.post("/admin/staff", staff_body(team, email="not-mail"))
        assert assert_error_shape(bad_mail, 400)["details"]["field"] == "email"
        no_department = client.post("/admin/staff", staff_body(team, role="department", team_id=None))
        assert assert_error_shape(no_department, 400)["details"]["field"] == "department_id"
        retired = Skill.objects.create(code="old", name="旧技能", is_active=False)
        bad_skill = client.post("/admin/staff", staff_body(team, skills=[{"skill_id": retired.pk}]))
        assert assert_error_shape(bad_skill, 400)["details"]["field"] == "skills[0].skill_id"
        nul = client.post("/admin/staff", staff_body(team, display_name="周\x00迅"))
        assert nul.status_code == 422
        assert User.objects.count() == before

    def test_update_is_version_checked(self, admin_user: Any, agent: Any, team: Any) -> None:
        client = api_as(admin_user)
        read = client.get(f"/admin/staff/{agent.pk}").json()
        body = {**{k: read[k] for k in ("username", "display_name", "role", "employee_no", "team_id",
                                          "department_id", "phone", "email", "language", "skills")},
                "display_name": "王小明", "version": read["version"]}
        done = client.request("put", f"/admin/staff/{agent.pk}", body)
        assert done.status_code == 200, done.content
        assert done.json()["display_name"] == "王小明"
        stale = client.request("put", f"/admin/staff/{agent.pk}", {**body, "display_name": "王大明"})
        assert assert_error_shape(stale, 409, "stale_version")["details"]["current_version"] == read["version"] + 1
        assert User.objects.get(pk=agent.pk).display_name == "王小明"

    def test_deactivate_reactivate_and_password_reset(self, admin_user: Any, agent: Any) -> None:
        client = api_as(admin_user)
        assert client.post(f"/admin/staff/{agent.pk}/deactivate").json()["is_active"] is False
        assert client.post(f"/admin/staff/{agent.pk}/reactivate").json()["is_active"] is True
        itself = client.post(f"/admin/staff/{admin_user.pk}/deactivate")
        assert_error_shape(itself, 409, "self_deactivation")
        temporary = client.post(f"/admin/staff/{agent.pk}/password-reset", {"method": "temporary"}).json()
        assert User.objects.get(pk=agent.pk).check_password(temporary["temporary_password"])
        link = client.post(f"/admin/staff/{agent.pk}/password-reset", {"method": "link"}).json()
        assert link["link"].startswith("/account/reset/")
        assert link["temporary_password"] is None
        assert client.post(f"/admin/staff/{agent.pk}/password-reset", {"method": "sms"}).status_code == 422

    def test_import_all_or_nothing(self, admin_user: Any, team: Any) -> None:
        before = User.objects.count()
        bad = ("用户名,姓名,角色,班组\nliuyi,刘一,客服,客服一组\nchener,陈二,国王,不存在的组\n").encode()
        refused = upload(admin_user, "/admin/staff/import", "staff.csv", bad)
        details = assert_error_shape(refused, 400, "import_rejected")["details"]
        assert {(e["row"], e["field"]) for e in details["errors"]} == {(3, "role"), (3, "team")}
        assert User.objects.count() == before
        good = "用户名,姓名,角色,班组\nliuyi,刘一,客服,客服一组\n".encode("gbk")
        done = upload(admin_user, "/admin/staff/import", "staff.csv", good)
        assert done.status_code == 200, done.content
        created = done.json()["created"]
        assert [c["username"] for c in created] == ["liuyi"]
        assert User.objects.get(username="liuyi").check_password(created[0]["temporary_password"])

    def test_the_list_filters(self, admin_user: Any, agent: Any, other_agent: Any, team_lead: Any) -> None:
        client = api_as(admin_user)
        page = client.get("/admin/staff", role="agent", page_size=1).json()
        assert page["count"] == 2
        assert len(page["items"]) == 1
        assert page["next"]
        found = client.get("/admin/staff", q=agent.display_name).json()["items"]
        assert [u["id"] for u in found] == [agent.pk]


class TestOrganisation:
    def test_teams(self, admin_user: Any, service_center: Any, repair_department: Any, team_lead: Any) -> None:
        client = api_as(admin_user)
        wrong = client.post("/admin/teams", {"name": "维修组", "department_id": repair_department.pk})
        assert assert_error_shape(wrong, 400)["details"]["field"] == "department_id"
        made = client.post("/admin/teams", {"name": "夜班组", "department_id": service_center.pk})
        assert made.status_code == 201, made.content
        team = made.json()
        done = client.request("put", f"/admin/teams/{team['id']}",
                              {"name": "夜班一组", "department_id": service_center.pk, "version": team["version"]})
        assert done.json()["name"] == "夜班一组"
        assert Team.objects.get(pk=team["id"]).name == "夜班一组"

    def test_departments(self, admin_user: Any) -> None:
        client = api_as(admin_user)
        calendar = BusinessCalendar.objects.create(name="维修日历", week=WEEK)
        body = {"name": "绿化部", "code": "garden", "contact_name": "赵工", "contact_phone": "020-88880000",
                "default_due_seconds": 8 * 3600}
        no_calendar = client.post("/admin/departments", body)
        assert assert_error_shape(no_calendar, 400)["details"]["field"] == "calendar_id"
        made = client.post("/admin/departments", {**body, "calendar_id": calendar.pk})
        assert made.status_code == 201, made.content
        assert made.json()["default_due_seconds"] == 8 * 3600
        taken = client.post("/admin/departments", {**body, "name": "绿化二部", "calendar_id": calendar.pk})
        assert assert_error_shape(taken, 400)["details"]["field"] == "code"

    def test_skills(self, admin_user: Any) -> None:
        client = api_as(admin_user)
        made = client.post("/admin/skills", {"code": "vip", "name": "VIP 服务"}).json()
        stale = client.request("put", f"/admin/skills/{made['id']}", {"code": "vip", "name": "贵宾", "version": 9})
        assert_error_shape(stale, 409, "stale_version")
        assert [s["code"] for s in client.get("/admin/skills").json()] == ["vip"]


class TestCalendars:
    def test_a_calendar_and_its_days(self, admin_user: Any) -> None:
        client = api_as(admin_user)
        bad = client.post("/admin/calendars", {"name": "坏日历", "week": [[["18:00", "09:00"]]] + [[]] * 6})
        assert assert_error_shape(bad, 400)["details"]["field"] == "week"
        short = client.post("/admin/calendars", {"name": "坏日历", "week": [[]] * 3})
        assert short.status_code == 422
        made = client.post("/admin/calendars", {"name": "客服日历", "week": WEEK})
        assert made.status_code == 201, made.content
        calendar_id = made.json()["id"]
        holiday = client.request("put", f"/admin/calendars/{calendar_id}/days/2027-01-01",
                                 {"kind": "holiday", "name": "元旦"})
        assert holiday.status_code == 200, holiday.content
        workday = client.request("put", f"/admin/calendars/{calendar_id}/days/2027-02-07",
                                 {"kind": "workday", "name": "调休", "periods": [["09:00", "17:30"]]})
        assert workday.json()["periods"] == [["09:00", "17:30"]]
        wrong = client.request("put", f"/admin/calendars/{calendar_id}/days/2027-02-08",
                               {"kind": "holiday", "periods": [["09:00", "17:30"]]})
        assert assert_error_shape(wrong, 400)["details"]["field"] == "periods"
        assert client.request("put", f"/admin/calendars/{calendar_id}/days/2027-02-30",
                              {"kind": "holiday"}).status_code == 422
        days = client.get(f"/admin/calendars/{calendar_id}/days", year=2027).json()
        assert [d["date"] for d in days] == ["2027-01-01", "2027-02-07"]
        assert client.delete(f"/admin/calendars/{calendar_id}/days/2027-01-01").status_code == 204
        assert_error_shape(client.delete(f"/admin/calendars/{calendar_id}/days/2027-01-01"), 404)

    def test_days_import(self, admin_user: Any) -> None:
        calendar = BusinessCalendar.objects.create(name="客服日历", week=WEEK)
        bad = "日期,类型,名称\n2027-10-01,节假日,国庆\n2027-10-32,节假日,坏日子\n".encode()
        refused = upload(admin_user, f"/admin/calendars/{calendar.pk}/days/import", "days.csv", bad)
        assert [e["row"] for e in assert_error_shape(refused, 400, "import_rejected")["details"]["errors"]] == [3]
        assert not CalendarDay.objects.filter(calendar=calendar).exists()
        good = "日期,类型,名称\n2027-10-01,节假日,国庆\n2027-10-09,调休上班,调休\n".encode()
        done = upload(admin_user, f"/admin/calendars/{calendar.pk}/days/import", "days.csv", good)
        assert done.json()["created"] == 2


class TestCatalogue:
    def test_categories_types_and_policies(self, admin_user: Any, repair_department: Any) -> None:
        client = api_as(admin_user)
        calendar = BusinessCalendar.objects.create(name="客服日历", week=WEEK)
        policy = client.post("/admin/sla-policies", {"name": "维修 8 小时", "calendar_id": calendar.pk,
                                                    "resolution_seconds": 8 * 3600})
        assert policy.status_code == 201, policy.content
        policy_id = policy.json()["id"]
        none = client.post("/admin/sla-policies", {"name": "空策略", "calendar_id": calendar.pk})
        assert assert_error_shape(none, 400)["details"]["field"] == "first_response_seconds"
        made = client.post("/admin/categories", {"name": "水电维修", "ticket_type": "repair",
                                                 "default_department_id": repair_department.pk,
                                                 "default_sla_policy_id": policy_id})
        assert made.status_code == 201, made.content
        assert Category.objects.get(pk=made.json()["id"]).default_sla_policy_id == policy_id
        types = {t["ticket_type"]: t for t in client.get("/admin/ticket-types").json()}
        assert types["repair"]["version"] == 0
        setting = client.request("put", "/admin/ticket-types/repair",
                                 {"default_department_id": repair_department.pk, "version": 0})
        assert setting.json()["version"] == 1
        stale = client.request("put", "/admin/ticket-types/repair", {"default_department_id": None, "version": 0})
        assert_error_shape(stale, 409, "stale_version")
        assert client.request("put", "/admin/ticket-types/emperor", {"version": 0}).status_code == 422
        read = next(p for p in client.get("/admin/sla-policies").json() if p["id"] == policy_id)
        edit = {k: v for k, v in read.items() if k != "id"} | {"resolution_seconds": 4 * 3600}
        edited = client.request("put", f"/admin/sla-policies/{policy_id}", edit)
        assert edited.status_code == 200, edited.content
        assert edited.json()["resolution_seconds"] == 4 * 3600
        again = client.request("put", f"/admin/sla-policies/{policy_id}", edit)
        assert_error_shape(again, 409, "stale_version")
        assert SlaPolicy.objects.get(pk=policy_id).resolution_seconds == 4 * 3600
