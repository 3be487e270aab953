"""The departments' intake form (信息采集表): a department submits, sees its own submissions and their state;
the knowledge team adopts one (a linked draft article) or declines it with a reply."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.tests.factories import DepartmentFactory, UserFactory
from kefu.core.errors import Conflict, PermissionDenied, ValidationFailed
from kefu.knowledge.choices import ArticleStatus, IntakeState
from kefu.knowledge.models import Article, IntakeSubmission
from kefu.knowledge.services.intake import IntakeData, intake_accept, intake_reject, intake_submit

pytestmark = pytest.mark.django_db


def _data(**over: Any) -> IntakeData:
    fields: dict[str, Any] = {"questions": "上门维修收费吗\n\n维修要钱吗\n上门维修收费吗",
                              "answer": "保修期内免费上门；保修期外收取 50 元上门费。", "note": "2027 年起执行"}
    fields.update(over)
    return IntakeData(**fields)


class TestServices:
    def test_submit_and_accept_makes_a_linked_draft(self, department_user: Any, qa: Any) -> None:
        submission = intake_submit(actor=department_user, data=_data())
        assert submission.department_id == department_user.department_id
        assert submission.questions == "上门维修收费吗\n维修要钱吗"
        done = intake_accept(actor=qa, submission=submission)
        article = Article.objects.get()
        assert done.state == IntakeState.ACCEPTED
        assert done.article == article
        assert done.handled_by == qa
        assert article.status == ArticleStatus.DRAFT
        assert article.title == "上门维修收费吗"
        assert article.department_id == department_user.department_id
        assert list(article.latest.questions.values_list("text", flat=True)) == ["上门维修收费吗", "维修要钱吗"]
        with pytest.raises(Conflict):
            intake_accept(actor=qa, submission=submission)

    def test_reject_needs_a_reply(self, department_user: Any, manager: Any) -> None:
        submission = intake_submit(actor=department_user, data=_data())
        with pytest.raises(ValidationFailed) as caught:
            intake_reject(actor=manager, submission=submission, reply="  ")
        assert caught.value.details["field"] == "reply"
        done = intake_reject(actor=manager, submission=submission, reply="已有文章《维修收费标准》")
        assert done.state == IntakeState.REJECTED
        assert not Article.objects.exists()

    @pytest.mark.parametrize(("over", "field"), [
        ({"questions": " \n "}, "questions"), ({"answer": ""}, "answer"), ({"language": "fr"}, "language"),
        ({"category_id": 99999}, "category"), ({"note": "长" * 501}, "note"),
    ])
    def test_bad_input_names_the_field(self, department_user: Any, over: dict[str, Any], field: str) -> None:
        with pytest.raises(ValidationFailed) as caught:
            intake_submit(actor=department_user, data=_data(**over))
        assert caught.value.details["field"] == field
        assert not IntakeSubmission.objects.exists()

    def test_rights(self, agent: Any, department_user: Any, other_agent: Any, team_lead: Any) -> None:
        with pytest.raises(PermissionDenied):
            intake_submit(actor=agent, data=_data())
        submission = intake_submit(actor=department_user, data=_data())
        for outsider in (department_user, other_agent, team_lead):
            with pytest.raises(PermissionDenied):
                intake_accept(actor=outsider, submission=submission)

    def test_submitter_without_department_chooses_one(self, team_lead: Any, repair_department: Any) -> None:
        team_lead.department = None
        team_lead.save(update_fields=["department"])
        with pytest.raises(ValidationFailed) as caught:
            intake_submit(actor=team_lead, data=_data())
        assert caught.value.details["field"] == "department"
        assert intake_submit(actor=team_lead, data=_data(department_id=repair_department.pk)).department == \
            repair_department


class TestPages:
    def test_department_submits_and_sees_only_its_own(self, login: Any, department_user: Any, qa: Any,
                                                      django_capture_on_commit_callbacks: Any) -> None:
        other_department = DepartmentFactory(name="安装部")
        outsider = UserFactory(username="install", role="department", department=other_department,
                               display_name="安装部小赵")
        intake_submit(actor=outsider, data=_data(questions="安装要多久"))
        client = login(department_user)
        response = client.post("/kb/intake/", {"questions": "上门维修收费吗", "answer": "保修期内免费",
                                               "language": "zh-hans", "category": "", "note": ""})
        assert response.status_code == 302
        page = client.get("/kb/intake/").content.decode()
        assert "上门维修收费吗" in page
        assert "安装要多久" not in page
        assert "已提交" in page
        assert client.get("/kb/intake/queue/").status_code == 403
        submission = IntakeSubmission.objects.get(submitted_by=department_user)
        assert client.post(f"/kb/intake/{submission.pk}/decide/", {"action": "accept"}).status_code == 403
        reviewer = login(qa)
        queue = reviewer.get("/kb/intake/queue/").content.decode()
        assert "上门维修收费吗" in queue
        assert "安装要多久" in queue
        with django_capture_on_commit_callbacks(execute=True):
            response = reviewer.post(f"/kb/intake/{submission.pk}/decide/", {"action": "accept"})
        article = Article.objects.get()
        assert response["Location"] == f"/kb/articles/{article.pk}/"
        page = login(department_user).get("/kb/intake/").content.decode()
        assert "已采用" in page
        assert f"/kb/articles/{article.pk}/" in page

    def test_reject_from_the_queue_and_bad_input(self, login: Any, department_user: Any, qa: Any) -> None:
        submission = intake_submit(actor=department_user, data=_data())
        reviewer = login(qa)
        response = reviewer.post(f"/kb/intake/{submission.pk}/decide/", {"action": "reject", "reply": ""},
                                 follow=True)
        assert "请写明不采用的原因" in response.content.decode()
        reviewer.post(f"/kb/intake/{submission.pk}/decide/", {"action": "reject", "reply": "与现有文章重复"})
        page = login(department_user).get("/kb/intake/").content.decode()
        assert "未采用" in page
        assert "与现有文章重复" in page
        response = login(department_user).post("/kb/intake/", {"questions": "", "answer": "", "language": "xx"})
        assert response.status_code == 422
        assert "客户的问法" in response.content.decode()
        assert IntakeSubmission.objects.count() == 1

    def test_agents_have_no_intake(self, login: Any, agent: Any) -> None:
        assert login(agent).get("/kb/intake/").status_code == 403
