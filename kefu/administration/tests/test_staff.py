"""Staff accounts: created with a temporary password that must be changed first (web and API), role guards, the
last administrator, versions, deactivation, one-time links, hand-over, and the bulk import (xlsx, CSV, GBK) that
writes all or nothing and lists every bad row."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest
from django.test import Client

from kefu.accounts import staff
from kefu.accounts.choices import Role
from kefu.accounts.importing import staff_import
from kefu.accounts.models import Skill, Team, User
from kefu.apiutils.testing import ApiClient, api_as, assert_error_shape, token_for
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.core.models import AuditLog
from kefu.core.tabular import ImportRejected
from kefu.tickets import services as tickets

pytestmark = pytest.mark.django_db


def data(**kw: Any) -> staff.StaffData:
    return staff.StaffData(**{"username": "zhangwei", "display_name": "张伟", "role": Role.AGENT, **kw})


def test_a_new_account_must_change_its_temporary_password_first(admin_user: Any, team: Any) -> None:
    created = staff.staff_create(actor=admin_user, data=data(team=team, employee_no="1024"))
    user = created.user
    assert user.must_change_password
    assert len(created.temporary_password) == 12
    assert created.temporary_password not in str(list(AuditLog.objects.values_list("data", flat=True)))
    client = Client()
    assert client.login(username="zhangwei", password=created.temporary_password)
    assert client.get("/tickets/")["Location"] == "/account/password/"
    assert client.get("/account/password/").status_code == 200
    # a part of a page (the header's state switch) is never answered with the password page: the page goes there
    part = client.get("/desk/state/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/tickets/"})
    assert (part.status_code, part["HX-Redirect"], part.content) == (204, "/account/password/", b"")
    there = client.get("/desk/state/", headers={"HX-Request": "true",
                                                "HX-Current-URL": "http://testserver/account/password/"})
    assert (there.status_code, there.has_header("HX-Redirect")) == (204, False)
    api = ApiClient(token_for(user))
    assert_error_shape(api.get("/tickets"), 403, "password_change_required")
    weak = client.post("/account/password/", {"new_password": "12345678", "new_password_again": "12345678"})
    assert weak.status_code == 422
    done = client.post("/account/password/", {"new_password": "Kefu-Strong-77", "new_password_again": "Kefu-Strong-77"})
    assert done.status_code == 302
    user.refresh_from_db()
    assert not user.must_change_password
    assert client.get("/tickets/").status_code == 200  # the session survived the change
    assert api.get("/tickets").status_code == 200


def test_only_administrators_grant_the_administrator_role(manager: Any, admin_user: Any) -> None:
    with pytest.raises(PermissionDenied):
        staff.staff_create(actor=manager, data=data(role=Role.ADMIN))
    agent = staff.staff_create(actor=manager, data=data()).user
    with pytest.raises(PermissionDenied):
        staff.staff_update(actor=manager, user=agent, data=data(role=Role.ADMIN), expected_version=1)
    promoted = staff.staff_update(actor=admin_user, user=agent, data=data(role=Role.ADMIN), expected_version=1)
    assert promoted.role == Role.ADMIN


def test_the_last_administrator_stays(admin_user: Any, manager: Any) -> None:
    with pytest.raises(Conflict, match="最后一位"):
        staff.staff_update(actor=admin_user, user=admin_user,
                           data=data(username=admin_user.username, display_name="管理员", role=Role.MANAGER),
                           expected_version=None)
    with pytest.raises(Conflict):
        staff.staff_set_active(actor=admin_user, user=admin_user, active=False)  # oneself, and the last one
    other = staff.staff_create(actor=admin_user, data=data(username="admin2", role=Role.ADMIN)).user
    staff.staff_set_active(actor=other, user=admin_user, active=False)
    with pytest.raises(Conflict, match="最后一位"):
        staff.staff_set_active(actor=manager, user=other, active=False)


@pytest.mark.parametrize(("fields", "field"), [
    ({"username": "张 伟"}, "username"), ({"username": ""}, "username"), ({"display_name": " "}, "display_name"),
    ({"email": "not-an-email"}, "email"), ({"phone": "abc"}, "phone"), ({"role": "king"}, "role"),
    ({"role": Role.DEPARTMENT}, "department"), ({"employee_no": "9" * 21}, "employee_no"),
])
def test_bad_input_names_the_field_and_writes_nothing(admin_user: Any, fields: dict[str, Any], field: str) -> None:
    before = User.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        staff.staff_create(actor=admin_user, data=data(**fields))
    assert refused.value.details["field"] == field
    assert User.objects.count() == before


def test_employee_numbers_are_unique_among_active_staff(admin_user: Any) -> None:
    first = staff.staff_create(actor=admin_user, data=data(employee_no="1024")).user
    with pytest.raises(ValidationFailed, match="1024"):
        staff.staff_create(actor=admin_user, data=data(username="other", employee_no="1024"))
    staff.staff_set_active(actor=admin_user, user=first, active=False)
    staff.staff_create(actor=admin_user, data=data(username="other", employee_no="1024"))  # reused after leaving
    with pytest.raises(Conflict, match="1024"):
        staff.staff_set_active(actor=admin_user, user=first, active=True)


def test_a_stale_edit_is_a_conflict_and_skills_are_kept(admin_user: Any) -> None:
    skill = Skill.objects.create(code="repair", name="报修")
    user = staff.staff_create(actor=admin_user, data=data(skills=[(skill, 4)])).user
    assert list(user.skills.values_list("proficiency", flat=True)) == [4]
    staff.staff_update(actor=admin_user, user=user, data=data(display_name="张伟伟", skills=[(skill, 5)]),
                       expected_version=1)
    with pytest.raises(Conflict):
        staff.staff_update(actor=admin_user, user=user, data=data(), expected_version=1)
    with pytest.raises(ValidationFailed, match="1 到 5"):
        staff.staff_update(actor=admin_user, user=user, data=data(skills=[(skill, 6)]), expected_version=2)


def test_a_deactivated_person_cannot_sign_in_or_use_tokens(admin_user: Any, agent: Any) -> None:
    token = token_for(agent)
    staff.staff_set_active(actor=admin_user, user=agent, active=False)
    assert not Client().login(username=agent.username, password="pass")
    assert ApiClient(token).get("/tickets").status_code == 401
    assert AuditLog.objects.filter(action="staff.deactivated", object_id=str(agent.pk)).exists()


def test_a_one_time_link_works_once(admin_user: Any, agent: Any) -> None:
    reset = staff.staff_reset_password(actor=admin_user, user=agent, method="link")
    client = Client()
    assert client.get(reset.link_path).status_code == 200
    done = client.post(reset.link_path, {"new_password": "Fresh-Password-8", "new_password_again": "Fresh-Password-8"})
    assert done.status_code == 302
    assert Client().login(username=agent.username, password="Fresh-Password-8")
    again = client.get(reset.link_path)
    assert "已失效" in again.content.decode()


def test_the_pages_create_reset_and_hand_over(admin_user: Any, agent: Any, team_lead: Any,
                                              django_assert_max_num_queries: Any) -> None:
    client = Client()
    client.force_login(admin_user)
    ticket = tickets.ticket_create(actor=agent, subject="离职前的工单", assignee=agent)
    page = client.get(f"/admin/staff/{agent.pk}/").content.decode()
    assert 'data-testid="open-orders">1<' in page
    moved = client.post(f"/admin/staff/{agent.pk}/handover/", {"to": team_lead.pk})
    assert moved.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.first_contact_owner) == (team_lead, agent)
    shown = client.post(f"/admin/staff/{agent.pk}/password/", {"method": "temporary"}).content.decode()
    assert re.search(r'value="[A-Za-z0-9]{12}" data-testid="temporary-password"', shown)
    refused = client.post("/admin/staff/new/", {"username": "x y", "display_name": "某", "role": "agent",
                                                "language": "zh-hans"})
    assert refused.status_code == 422
    assert "用户名只能包含" in refused.content.decode()
    for n in range(8):
        User.objects.create(username=f"p{n}", display_name=f"员工{n}", team=agent.team)
    with django_assert_max_num_queries(8):
        assert client.get("/admin/staff/").status_code == 200


def test_team_leads_see_people_but_do_not_edit_them(team_lead: Any, agent: Any) -> None:
    client = Client()
    client.force_login(team_lead)
    assert client.get("/admin/staff/").status_code == 200
    assert client.get(f"/admin/staff/{agent.pk}/").status_code == 200
    assert client.post(f"/admin/staff/{agent.pk}/", {"username": "x"}).status_code == 404
    assert client.get("/admin/staff/new/").status_code == 403


# --- the import ------------------------------------------------------------------------------------------


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


HEADER = ["用户名", "姓名", "工号", "角色", "班组", "手机", "邮箱", "技能"]


def test_a_good_file_creates_every_account_with_a_temporary_password(admin_user: Any, team: Any) -> None:
    Skill.objects.create(code="repair", name="报修")
    result = staff_import(actor=admin_user, filename="staff.xlsx", data=xlsx([
        HEADER, ["wangfang", "王芳", "2001", "客服", team.name, "13900001111", "wf@example.com", "repair:4"],
        ["lixiao", "李晓", "2002", "客服组长", team.name, "", "", ""]]))
    assert [c.user.username for c in result.created] == ["wangfang", "lixiao"]
    wangfang = User.objects.get(username="wangfang")
    assert (wangfang.team, wangfang.must_change_password, wangfang.role) == (team, True, Role.AGENT)
    assert list(wangfang.skills.values_list("skill__code", "proficiency")) == [("repair", 4)]
    assert Client().login(username="wangfang", password=result.created[0].temporary_password)
    book = openpyxl.load_workbook(io.BytesIO(result.passwords_xlsx()))
    assert book.active.cell(2, 4).value == result.created[0].temporary_password


def test_a_bad_file_lists_every_bad_row_and_writes_nothing(admin_user: Any, team: Any) -> None:
    before = User.objects.count()
    with pytest.raises(ImportRejected) as rejected:
        staff_import(actor=admin_user, filename="staff.xlsx", data=xlsx([
            HEADER, ["ok1", "好人", "3001", "客服", team.name, "", "", ""],
            ["bad role", "甲", "3002", "国王", "", "", "", ""],
            ["ok2", "乙", "3003", "客服", "不存在的组", "", "", ""],
            ["ok1", "丙", "3004", "客服", "", "", "", ""],
            ["ok3", "丁", "3001", "客服", "", "", "", ""],
            ["ok4", "戊", "3005", "客服", "", "", "bad-mail", ""],
            ["ok5", "己", "3006", "客服", "", "", "", "nothing:9"]]))
    report = rejected.value.report
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "role"), (3, "username"), (4, "team"), (5, "username"), (6, "employee_no"), (7, "email"),
        (8, "skills")]  # every problem of a row, not just its first
    assert {e.column for e in report.errors if e.row == 3} == {"角色", "用户名"}  # named as the file names them
    assert User.objects.count() == before


def test_csv_in_gbk_and_the_cli(admin_user: Any, team: Any, tmp_path: Any) -> None:
    from django.core.management import CommandError, call_command

    text = "用户名,姓名,角色,班组\nzhaolei,赵磊,客服," + team.name + "\n"
    result = staff_import(actor=admin_user, filename="staff.csv", data=text.encode("gbk"))
    assert result.created[0].user.display_name == "赵磊"
    bad = tmp_path / "bad.csv"
    bad.write_text("用户名,姓名\nx,y\n", encoding="utf-8")
    with pytest.raises(CommandError) as failed:
        call_command("import_staff", str(bad), passwords=str(tmp_path / "p.xlsx"))
    assert failed.value.returncode == 2
    good = tmp_path / "good.csv"
    good.write_text("用户名,姓名,角色\nqianli,钱立,客服\n", encoding="utf-8")
    call_command("import_staff", str(good), passwords=str(tmp_path / "p.xlsx"))
    assert User.objects.get(username="qianli").must_change_password


def test_the_import_page_shows_errors_and_the_passwords_download_once(admin_user: Any, team: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    client.force_login(admin_user)
    refused = client.post("/admin/staff/import/", {"file": SimpleUploadedFile(
        "s.csv", "用户名,姓名,角色\nx,y,国王\n".encode())})
    assert refused.status_code == 422
    assert "import-error-row" in refused.content.decode()
    done = client.post("/admin/staff/import/", {"file": SimpleUploadedFile(
        "s.csv", f"用户名,姓名,角色,班组\nsunli,孙丽,客服,{team.name}\n".encode())})
    assert done.status_code == 200
    link = re.search(r'href="(/admin/staff/import/passwords/[^"]+/)"', done.content.decode()).group(1)
    assert client.get(link).status_code == 200
    assert client.get(link).status_code == 404
    assert Team.objects.get(pk=team.pk).members.filter(username="sunli").exists()


def test_the_api_refuses_a_must_change_user_even_with_a_session(admin_user: Any) -> None:
    created = staff.staff_create(actor=admin_user, data=data())
    client = Client()
    client.login(username="zhangwei", password=created.temporary_password)
    assert client.get("/api/v1/me").status_code == 403
    assert api_as(admin_user).get("/me").status_code == 200
