"""Importing and exporting the knowledge base as a table: one article per answer, all or nothing with every bad row
reported, existing answers extended rather than duplicated, GBK CSV and .xlsx read, the threshold recalibrated, and
an export imported again changing nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from kefu.core.errors import PermissionDenied
from kefu.core.models import AuditLog, OutboxEvent
from kefu.core.tabular import ImportRejected
from kefu.knowledge.choices import ArticleStatus, Language, Visibility
from kefu.knowledge.models import Article, ArticleVersion, BotSettings, Category, ExampleQuestion
from kefu.knowledge.services.importing import category_slug, knowledge_export, knowledge_import
from kefu.knowledge.tests.factories import make_article, make_category

pytestmark = pytest.mark.django_db

HEADER = ["question", "answer", "category", "language"]
ROWS = [
    ["密码怎么改", "在“我的-设置-账户安全”里修改密码。", "账户与登录", "zh-hans"],
    ["忘记密码了怎么办", "在“我的-设置-账户安全”里修改密码。", "账户与登录", "zh-hans"],
    ["退款什么时候到账", "退款在三到五个工作日内原路退回。", "售后服务", "zh-hans"],
    ["How long does a refund take?", "Refunds reach your account in 3-5 working days.", "After-sales", "en"],
]


def _csv(rows: list[list[str]], *, header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode(encoding)


def _xlsx(rows: list[list[Any]], *, header: list[str] = HEADER) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in [header, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _snapshot() -> list[tuple[Any, ...]]:
    return sorted((a.pk, a.status, a.published_id, a.latest_id, a.title, a.category_id, a.visibility,
                   tuple(ExampleQuestion.objects.filter(version_id=a.published_id).values_list("text", flat=True)))
                  for a in Article.objects.all())


def test_rows_with_the_same_answer_are_one_published_article_and_the_threshold_is_recalibrated(qa: Any) -> None:
    report = knowledge_import(actor=qa, data=_csv(ROWS), filename="faq.csv")
    assert (report.rows, report.created, report.updated, report.questions_added) == (4, 3, 0, 4)
    assert sorted(report.categories_created) == ["After-sales", "售后服务", "账户与登录"]
    password = Article.objects.get(title="密码怎么改")  # the first question is the title
    assert password.status == ArticleStatus.PUBLISHED
    assert password.published_id == password.latest_id
    assert password.reviewed_by == qa
    assert password.category.name == "账户与登录"
    assert list(password.published.questions.values_list("text", flat=True)) == ["密码怎么改", "忘记密码了怎么办"]
    assert all(len(bytes(q.vector)) == 384 * 4 for q in ExampleQuestion.objects.all())
    english = Article.objects.get(language=Language.EN)
    assert english.category.slug == "after-sales"
    assert Category.objects.get(name="售后服务").slug.startswith("kb-")
    settings_row = BotSettings.current()
    assert settings_row.calibrated_at is not None
    assert settings_row.calibration["questions"] >= 4
    assert report.calibration == settings_row.calibration
    # audited as one import (and per article), and announced for webhooks
    assert AuditLog.objects.filter(action="knowledge.imported").count() == 1
    assert AuditLog.objects.filter(action="article.imported").count() == 3
    assert OutboxEvent.objects.filter(type="knowledge.article_published").count() == 3


def test_every_bad_row_is_reported_and_nothing_is_written(qa: Any) -> None:
    rows = [
        ROWS[0],
        ["", "答案", "账户与登录", "zh-hans"],  # row 3: no question
        ["怎么开发票", "", "账户与登录", "fr"],  # row 4: no answer, bad language
        ["密码怎么改", "另一个答案", "账户与登录", "zh-hans"],  # row 5: the same question, another answer
        ["忘记密码了怎么办", ROWS[0][1], "售后服务", "zh-hans"],  # row 6: same answer, another category
        ["问" * 301, "答案二", "", "en"],  # row 7: question too long
    ]
    with pytest.raises(ImportRejected) as caught:
        knowledge_import(actor=qa, data=_csv(rows), filename="bad.csv")
    found = {(e.row, e.field) for e in caught.value.report.errors}
    assert {(3, "question"), (4, "answer"), (4, "language"), (5, "question"), (6, "category")} <= found
    assert 7 in {e.row for e in caught.value.report.errors}
    assert caught.value.details["errors"]
    assert "没有导入任何数据" in caught.value.message
    assert not Article.objects.exists()
    assert not Category.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="knowledge.").exists()


@pytest.mark.parametrize(("data", "filename", "words"), [
    (b"", "empty.csv", "空"),
    (_csv([], header=HEADER), "header-only.csv", "只有表头"),
    (_csv([["q", "a"]], header=["question", "answer"]), "missing.csv", "category、language"),
    (b"question,answer,category,language\nq,a,c,en\n", "faq.txt", ".csv"),
    (b"not a zip file", "faq.xlsx", "Excel"),
    (b"\x00\x01\x02binary\x00", "faq.csv", "文本"),
])
def test_a_bad_file_is_refused_as_a_whole(qa: Any, data: bytes, filename: str, words: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        knowledge_import(actor=qa, data=data, filename=filename)
    assert words in caught.value.message
    assert not Article.objects.exists()


def test_an_existing_answer_gets_the_new_questions_as_a_new_version_not_a_duplicate(qa: Any) -> None:
    article = make_article(actor=qa, title="如何修改登录密码", body=ROWS[0][1], questions=["密码怎么改"])
    report = knowledge_import(actor=qa, data=_csv(ROWS[:2]), filename="more.csv")
    assert (report.created, report.updated, report.questions_added) == (0, 1, 1)
    article.refresh_from_db()
    assert Article.objects.count() == 1
    assert article.published.number == 2
    assert article.title == "如何修改登录密码"
    assert list(article.published.questions.values_list("text", flat=True)) == ["密码怎么改", "忘记密码了怎么办"]
    again = knowledge_import(actor=qa, data=_csv(ROWS[:2]), filename="more.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    assert ArticleVersion.objects.filter(article=article).count() == 2


def test_gbk_csv_from_excel_and_optional_columns(qa: Any) -> None:
    header = ["问题", "答案", "分类", "语言", "标题", "可见范围", "标签", "备注"]
    rows = [["发票在哪里申请", "在订单详情页点击申请开票。", "发票", "zh-hans", "如何开发票", "internal", "发票,财务",
             "忽略"]]
    report = knowledge_import(actor=qa, data=_csv(rows, header=header, encoding="gbk"), filename="发票.csv")
    article = Article.objects.get()
    assert article.title == "如何开发票"
    assert article.visibility == Visibility.INTERNAL
    assert article.published.tags == ["发票", "财务"]
    assert report.ignored_columns == ["备注"]


def test_xlsx_and_a_dry_run(qa: Any) -> None:
    data = _xlsx([[*r] for r in ROWS])
    dry = knowledge_import(actor=qa, data=data, filename="faq.xlsx", dry_run=True)
    assert dry.dry_run
    assert dry.created == 3
    assert not Article.objects.exists()
    assert not Category.objects.exists()
    report = knowledge_import(actor=qa, data=data, filename="faq.xlsx")
    assert report.created == 3
    assert Article.objects.filter(status=ArticleStatus.PUBLISHED).count() == 3


def test_export_then_import_changes_nothing(qa: Any) -> None:
    category = make_category("账户与登录", name_en="Account")
    make_article(actor=qa, title="如何修改登录密码", body="=SUM(1) 在设置里修改。", questions=["密码怎么改", "改密码"],
                 category=category, tags=["账户"], spoken="在设置里修改。")
    make_article(actor=qa, title="Refunds", body="3-5 working days.", questions=["refund time"],
                 language=Language.EN, visibility=Visibility.INTERNAL)
    make_article(actor=qa, title="草稿", body="未发布", questions=["草稿问题"], publish=False)
    for fmt in ("csv", "xlsx"):
        out = io.BytesIO()
        result = knowledge_export(actor=qa, out=out, fmt=fmt)
        assert (result.articles, result.rows) == (2, 3)
        before = _snapshot()
        report = knowledge_import(actor=qa, data=out.getvalue(), filename=f"export.{fmt}")
        assert (report.created, report.updated, report.unchanged, report.questions_added) == (0, 0, 2, 0)
        assert _snapshot() == before
    text = io.BytesIO()
    knowledge_export(actor=qa, out=text, fmt="csv")
    content = text.getvalue().decode("utf-8-sig")
    assert content.splitlines()[0] == "question,answer,category,language,title,visibility,spoken,tags"
    assert "'=SUM(1)" in content
    assert "草稿" not in content


def test_an_export_imports_into_an_empty_knowledge_base(qa: Any) -> None:
    make_article(actor=qa, title="如何修改登录密码", body="在设置里修改。", questions=["密码怎么改"],
                 category=make_category("账户与登录"))
    out = io.BytesIO()
    knowledge_export(actor=qa, out=out, fmt="csv")
    Article.objects.update(status=ArticleStatus.ARCHIVED)
    report = knowledge_import(actor=qa, data=out.getvalue(), filename="export.csv")
    assert report.created == 1
    assert report.categories_created == []


def test_importing_needs_the_publish_right(agent: Any, team_lead: Any) -> None:
    for person in (agent, team_lead):
        with pytest.raises(PermissionDenied):
            knowledge_import(actor=person, data=_csv(ROWS), filename="faq.csv")
    assert not Article.objects.exists()


def test_category_slugs_are_unique(db: Any) -> None:
    make_category("Billing", slug="billing")
    taken: set[str] = set()
    assert category_slug("Billing", taken) == "billing-2"
    assert category_slug("账单", taken).startswith("kb-")


def test_a_question_already_served_by_another_article_is_warned_about(qa: Any) -> None:
    other = make_article(actor=qa, title="改密码", body="另一个答案。", questions=["密码怎么改"])
    report = knowledge_import(actor=qa, data=_csv(ROWS[:1]), filename="faq.csv")
    assert report.created == 1
    assert any(f"#{other.pk}" in warning for warning in report.warnings)
