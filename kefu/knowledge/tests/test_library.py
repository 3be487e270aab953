"""The monthly consultation library (咨询库): counts per month and department, top articles, answered share,
helpful rate, unanswered questions; the page and its Excel export. Consultations are recorded as the bot does."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import openpyxl
import pytest
from django.utils import timezone

from kefu.knowledge.models import Consultation
from kefu.knowledge.selectors import library_report, month_bounds, parse_month
from kefu.knowledge.services.insight import consultation_record
from kefu.knowledge.tests.factories import make_article

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(qa: Any, repair_department: Any, django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    with django_capture_on_commit_callbacks(execute=True):
        repair = make_article(actor=qa, title="上门维修收费标准", body="保修期内免费", questions=["维修收费吗"],
                              department_id=repair_department.pk)
        password = make_article(actor=qa, title="如何修改登录密码", body="设置里改", questions=["密码怎么改"])
    for _ in range(3):
        consultation_record(question="维修收费吗", language="zh-hans", channel="chat", article_id=repair.pk,
                            confidence=0.9, answered=True)
    consultation_record(question="维修要钱不", language="zh-hans", channel="wechat", article_id=repair.pk,
                        confidence=0.3, answered=False)
    consultation_record(question="密码怎么改", language="zh-hans", channel="portal", article_id=password.pk,
                        confidence=0.95, answered=True)
    for _ in range(2):
        consultation_record(question="能开专票吗", language="zh-hans", channel="chat", article_id=None,
                            confidence=0.1, answered=False)
    first = Consultation.objects.filter(question="维修收费吗").order_by("id").first()
    Consultation.objects.filter(pk=first.pk).update(helpful=True)
    second = Consultation.objects.filter(question="维修收费吗").order_by("id").last()
    Consultation.objects.filter(pk=second.pk).update(helpful=False)
    last_month = timezone.now() - timedelta(days=40)
    old = consultation_record(question="去年的问题", language="zh-hans", channel="chat", article_id=None,
                              confidence=0.0, answered=False)
    Consultation.objects.filter(pk=old.pk).update(asked_at=last_month)
    return {"repair": repair, "password": password}


def test_report_of_the_month(asked: dict[str, Any], repair_department: Any) -> None:
    month = timezone.localdate().replace(day=1)
    report = library_report(month=month)
    assert report.total == 7
    assert report.answered == 4
    assert report.answered_share == pytest.approx(4 / 7)
    assert report.helpful_rate == pytest.approx(0.5)
    top = report.top_articles[0]
    assert top["title"] == "上门维修收费标准"
    assert top["times"] == 4
    assert top["answered_share"] == pytest.approx(0.75)
    assert report.unanswered[0] == {"question": "能开专票吗", "times": 2}
    assert "去年的问题" not in [r["question"] for r in report.unanswered]
    repair_only = library_report(month=month, department_id=repair_department.pk)
    assert repair_only.total == 4
    assert [r["title"] for r in repair_only.top_articles] == ["上门维修收费标准"]
    assert {r["channel"] for r in report.channels} == {"chat", "wechat", "portal"}


def test_months() -> None:
    assert parse_month("2026-02") == date(2026, 2, 1)
    assert parse_month("2026-13") is None
    assert parse_month("abc") is None
    assert parse_month("") is None
    start, end = month_bounds(date(2026, 12, 1))
    assert (start.month, end.year, end.month) == (12, 2027, 1)


def test_page_and_export(login: Any, manager: Any, asked: dict[str, Any], repair_department: Any) -> None:
    client = login(manager)
    page = client.get("/kb/library/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "上门维修收费标准" in text
    assert "能开专票吗" in text
    assert "57.1%" in text
    month = timezone.localdate().strftime("%Y-%m")
    export = client.get(f"/kb/library/?month={month}&department={repair_department.pk}&format=xlsx")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(export.content))
    assert book.sheetnames == ["概览", "热门文章", "未回答的问题", "各部门", "各渠道"]
    assert list(book["热门文章"].iter_rows(values_only=True))[1][:3] == ("上门维修收费标准", "维修部", 4)
    assert list(book["未回答的问题"].iter_rows(values_only=True))[1] == ("维修要钱不", 1)


def test_bad_month_and_department_are_named(login: Any, manager: Any) -> None:
    client = login(manager)
    response = client.get("/kb/library/?month=2026-99")
    assert response.status_code == 422
    assert "月份" in response.content.decode()
    response = client.get("/kb/library/?department=abc&format=xlsx")
    assert response.status_code == 422
    assert "部门：无效的值" in response.content.decode()


def test_rights(login: Any, agent: Any, department_user: Any, team_lead: Any) -> None:
    assert login(agent).get("/kb/library/").status_code == 403
    assert login(department_user).get("/kb/library/").status_code == 403
    assert login(team_lead).get("/kb/library/").status_code == 200
