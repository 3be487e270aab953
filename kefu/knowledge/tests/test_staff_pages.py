"""The knowledge team's and agents' pages: the article list and its filters, the editor (versions, the stale-save
conflict, lifecycle buttons), version history and diff, attachments, gaps, the quick search, canned-reply
variables."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from kefu.core.audit import AuditLog
from kefu.knowledge.choices import ArticleStatus, GapState, Language, Visibility
from kefu.knowledge.models import Article, Attachment, ExampleQuestion, Gap
from kefu.knowledge.services.articles import ArticleData, article_update
from kefu.knowledge.services.insight import gap_note
from kefu.knowledge.tests.factories import make_article, make_category

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks: Any) -> Any:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        yield callbacks


def _form(**over: Any) -> dict[str, Any]:
    data = {"title": "如何修改登录密码", "body": "打开“我的-设置”。\n点击“修改密码”。",
            "questions": "密码怎么改\n忘记密码",
            "spoken": "", "tags": "账户 密码", "category": "", "department": "", "language": "zh-hans",
            "visibility": "public", "note": "", "version": ""}
    data.update(over)
    return data


# --- the list ------------------------------------------------------------------------------------------------


class TestArticleList:
    def test_filters_tabs_and_pending_changes(self, login: Any, qa: Any, manager: Any, repair_department: Any) -> None:
        shelf = make_category("账户与登录", slug="account")
        live = make_article(actor=qa, title="如何修改登录密码", body="设置里改", questions=["密码怎么改"],
                            category=shelf, department_id=repair_department.pk)
        article_update(actor=qa, article=live, expected_version=None, data=ArticleData(
            title="如何修改登录密码", body="设置里改（新）", questions=["密码怎么改"], category_id=shelf.pk,
            department_id=repair_department.pk))
        make_article(actor=qa, title="Refund policy", body="30 days", questions=["refund?"], language=Language.EN,
                     visibility=Visibility.INTERNAL)
        draft = make_article(actor=qa, title="发票怎么开", body="联系财务", publish=False)
        client = login(qa)
        page = client.get("/kb/").content.decode()
        assert "有待审核的修改" in page
        assert "发票怎么开" in page
        assert "Refund policy" in page
        assert client.get("/kb/?language=en").context["page"].paginator.count == 1
        assert client.get(f"/kb/?category={shelf.pk}").context["page"].paginator.count == 1
        assert client.get("/kb/?visibility=internal").context["page"].paginator.count == 1
        assert client.get(f"/kb/?department={repair_department.pk}").context["page"].paginator.count == 1
        assert client.get("/kb/?q=发票").context["page"].paginator.count == 1
        assert client.get("/kb/?status=draft").context["page"].paginator.count == 2
        mine = client.get("/kb/?tab=mine").context["page"].object_list
        assert {a.pk for a in mine} == {draft.pk, live.pk}
        assert list(login(manager).get("/kb/?tab=mine").context["page"].object_list) == []

    def test_bad_filters_are_named_not_500(self, login: Any, qa: Any) -> None:
        response = login(qa).get("/kb/?status=nope&category=abc&tab=x&page=zz")
        assert response.status_code == 422
        text = response.content.decode()
        assert "状态：无效的值" in text
        assert "分类：无效的值" in text

    def test_review_tab_is_for_publishers(self, login: Any, qa: Any, team_lead: Any, agent: Any) -> None:
        assert "kb-tab-review" in login(qa).get("/kb/").content.decode()
        assert "kb-tab-review" not in login(team_lead).get("/kb/").content.decode()
        page = login(agent).get("/kb/").content.decode()
        assert "kb-tab-mine" not in page
        assert "kb-new" not in page

    def test_query_count_does_not_grow_with_rows(self, login: Any, qa: Any,
                                                 django_assert_num_queries: Any) -> None:
        shelf = make_category("售后", slug="after")
        for i in range(3):
            make_article(actor=qa, title=f"文章{i}", body="答案", questions=[f"问题{i}"], category=shelf)
        client = login(qa)
        client.get("/kb/")
        with django_assert_num_queries(7) as few:
            client.get("/kb/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="kb-results")
        for i in range(12):
            make_article(actor=qa, title=f"更多{i}", body="答案", questions=[f"更多问题{i}"], category=shelf,
                         publish=i % 2 == 0)
        with django_assert_num_queries(len(few.captured_queries)):
            response = client.get("/kb/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="kb-results")
        assert len(response.context["page"].object_list) == 15

    def test_pagination(self, login: Any, qa: Any) -> None:
        for i in range(27):
            Article.objects.create(title=f"草稿{i:02d}", created_by=qa)
        client = login(qa)
        first = client.get("/kb/")
        assert len(first.context["page"].object_list) == 25
        assert 'data-testid="kb-next"' in first.content.decode()
        assert len(client.get("/kb/?page=2").context["page"].object_list) == 2
        assert client.get("/kb/?page=999").status_code == 200


# --- the editor ----------------------------------------------------------------------------------------------


class TestEditor:
    def test_create_edit_and_versions(self, login: Any, qa: Any) -> None:
        client = login(qa)
        response = client.post("/kb/new/", _form())
        article = Article.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/kb/articles/{article.pk}/"
        assert article.status == ArticleStatus.DRAFT
        assert article.latest.tags == ["账户", "密码"]
        assert list(ExampleQuestion.objects.filter(version=article.latest).values_list("text", flat=True)) == [
            "密码怎么改", "忘记密码"]
        response = client.post(f"/kb/articles/{article.pk}/edit/", _form(
            body="打开“我的-设置”。\n点击“账户安全”。", note="改了入口", version=article.version))
        assert response.status_code == 302
        article.refresh_from_db()
        assert article.latest.number == 2
        assert article.latest.note == "改了入口"
        page = client.get(f"/kb/articles/{article.pk}/").content.decode()
        assert "改了入口" in page
        assert "第 2 版" in page

    def test_body_is_shown_safely_with_line_breaks(self, login: Any, qa: Any) -> None:
        article = make_article(actor=qa, title="<b>标题</b>", body="第一行\n<script>alert(1)</script>",
                               questions=["问"])
        page = login(qa).get(f"/kb/articles/{article.pk}/").content.decode()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;" in page
        assert "第一行<br>" in page
        assert "&lt;b&gt;标题&lt;/b&gt;" in page

    def test_stale_save_is_a_conflict_that_keeps_the_text(self, login: Any, qa: Any, manager: Any) -> None:
        article = make_article(actor=qa, title="退货流程", body="七天内", questions=["怎么退货"])
        stale = article.version
        article_update(actor=manager, article=article, expected_version=stale, data=ArticleData(
            title="退货流程", body="七天内，未拆封", questions=["怎么退货"]))
        response = login(qa).post(f"/kb/articles/{article.pk}/edit/", _form(
            title="退货流程", body="我写的新答案：十五天内", version=stale))
        assert response.status_code == 409
        page = response.content.decode()
        assert "已被他人修改" in page
        assert "我写的新答案：十五天内" in page
        assert 'data-testid="kb-conflict"' in page
        assert Article.objects.get(pk=article.pk).latest.body == "七天内，未拆封"

    @pytest.mark.parametrize(("over", "field_label"), [
        ({"title": ""}, "标题"), ({"body": ""}, "答案"), ({"language": "fr"}, "语言"),
        ({"visibility": "secret"}, "可见范围"), ({"category": "99999"}, "分类不存在"),
        ({"department": "abc"}, "负责部门"), ({"questions": "问" * 400}, "问法"),
        ({"spoken": "读" * 600}, "语音播报版"),
    ])
    def test_bad_input_names_the_field(self, login: Any, qa: Any, over: dict[str, Any], field_label: str) -> None:
        response = login(qa).post("/kb/new/", _form(**over))
        assert response.status_code == 422
        assert field_label in response.content.decode()
        assert not Article.objects.exists()

    def test_lifecycle_buttons_by_status_and_right(self, login: Any, qa: Any, team_lead: Any) -> None:
        article = make_article(actor=team_lead, title="保修期多久", body="一年", questions=["保修多久"], publish=False)
        lead, reviewer = login(team_lead), None
        assert 'kb-action-publish' not in lead.get(f"/kb/articles/{article.pk}/").content.decode()
        lead.post(f"/kb/articles/{article.pk}/action/", {"action": "submit"})
        assert Article.objects.get(pk=article.pk).status == ArticleStatus.REVIEW
        refused = lead.post(f"/kb/articles/{article.pk}/action/", {"action": "publish"}, follow=True)
        assert "没有权限" in refused.content.decode()
        reviewer = login(qa)
        page = reviewer.get(f"/kb/articles/{article.pk}/").content.decode()
        assert "kb-action-publish" in page
        assert "kb-action-return" in page
        response = reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "return", "note": ""}, follow=True)
        assert "请写明退回的原因" in response.content.decode()
        reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "return", "note": "补充保修范围"})
        article.refresh_from_db()
        assert article.status == ArticleStatus.DRAFT
        assert article.review_note == "补充保修范围"
        assert "补充保修范围" in reviewer.get(f"/kb/articles/{article.pk}/").content.decode()
        reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "publish"})
        article.refresh_from_db()
        assert article.status == ArticleStatus.PUBLISHED
        response = reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "delete"}, follow=True)
        assert "发布过的文章不能删除" in response.content.decode()
        reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "archive"})
        assert Article.objects.get(pk=article.pk).status == ArticleStatus.ARCHIVED
        reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "unarchive"})
        assert Article.objects.get(pk=article.pk).status == ArticleStatus.DRAFT
        assert reviewer.post(f"/kb/articles/{article.pk}/action/", {"action": "nonsense"}).status_code == 302

    def test_a_draft_never_published_is_deleted(self, login: Any, qa: Any) -> None:
        article = make_article(actor=qa, title="草稿", body="答案", publish=False)
        response = login(qa).post(f"/kb/articles/{article.pk}/action/", {"action": "delete"})
        assert response["Location"] == "/kb/"
        assert not Article.objects.exists()

    def test_new_article_from_a_gap_is_prefilled_and_closes_it(self, login: Any, qa: Any) -> None:
        gap = gap_note(question="可以开增值税专用发票吗", language="zh-hans", source="handoff")
        client = login(qa)
        page = client.get(f"/kb/new/?gap={gap.pk}").content.decode()
        assert "可以开增值税专用发票吗" in page
        client.post("/kb/new/", _form(title="增值税专用发票", questions="可以开增值税专用发票吗", gap=gap.pk))
        gap.refresh_from_db()
        assert gap.state == GapState.ANSWERED
        assert gap.article == Article.objects.get()


# --- versions --------------------------------------------------------------------------------------------------


class TestVersions:
    def test_old_version_diff_and_restore(self, login: Any, qa: Any) -> None:
        article = make_article(actor=qa, title="营业时间", body="周一至周五\n9:00-18:00", questions=["几点上班"])
        article_update(actor=qa, article=article, expected_version=None, data=ArticleData(
            title="营业时间", body="周一至周六\n9:00-18:00\n<节假日除外>", questions=["几点上班"], note="周六营业"))
        client = login(qa)
        page = client.get(f"/kb/articles/{article.pk}/versions/2/").content.decode()
        assert 'class="kb-diff-removed"><span class="kb-diff-mark">−</span>周一至周五' in page
        assert 'class="kb-diff-added"><span class="kb-diff-mark">+</span>周一至周六' in page
        assert "&lt;节假日除外&gt;" in page
        assert "<节假日除外>" not in page
        assert client.get(f"/kb/articles/{article.pk}/versions/1/").status_code == 200
        assert client.get(f"/kb/articles/{article.pk}/versions/9/").status_code == 404
        client.post(f"/kb/articles/{article.pk}/versions/1/restore/")
        article.refresh_from_db()
        assert article.latest.number == 3
        assert article.latest.body == "周一至周五\n9:00-18:00"
        response = client.post(f"/kb/articles/{article.pk}/versions/9/restore/", follow=True)
        assert "没有第 9 版" in response.content.decode()


# --- attachments -------------------------------------------------------------------------------------------------


class TestAttachments:
    def test_upload_download_delete_audited(self, login: Any, qa: Any, agent: Any, customer: Any) -> None:
        article = make_article(actor=qa, title="说明书", body="见附件", questions=["说明书在哪"])
        client = login(qa)
        client.post(f"/kb/articles/{article.pk}/attachments/",
                    {"file": SimpleUploadedFile("空调说明书.pdf", b"%PDF-1.4 x", "application/pdf")})
        attachment = Attachment.objects.get()
        assert attachment.name == "空调说明书.pdf"
        assert attachment.content_type == "application/pdf"
        assert AuditLog.objects.filter(action="article.attachment_added").exists()
        download = login(agent).get(f"/kb/attachments/{attachment.pk}/")
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == b"%PDF-1.4 x"
        assert download["X-Content-Type-Options"] == "nosniff"
        assert login(agent).post(f"/kb/attachments/{attachment.pk}/delete/").status_code == 403
        client = login(qa)
        client.post(f"/kb/attachments/{attachment.pk}/delete/")
        assert not Attachment.objects.exists()
        assert AuditLog.objects.filter(action="article.attachment_deleted").exists()

    @pytest.mark.parametrize(("name", "content", "message"), [
        ("病毒.exe", b"MZ", "不支持的文件类型"), ("空.pdf", b"", "文件是空的"), ("大.pdf", b"x" * 2048, "上限"),
    ])
    @override_settings(KEFU_ATTACHMENT_MAX_BYTES=1024)
    def test_bad_files_are_refused_by_name(self, login: Any, qa: Any, name: str, content: bytes,
                                           message: str) -> None:
        article = make_article(actor=qa, title="附件", body="答案", publish=False)
        response = login(qa).post(f"/kb/articles/{article.pk}/attachments/",
                                  {"file": SimpleUploadedFile(name, content)}, follow=True)
        assert "附件：" in response.content.decode()
        assert message in response.content.decode()
        assert not Attachment.objects.exists()

    def test_missing_file(self, login: Any, qa: Any) -> None:
        article = make_article(actor=qa, title="附件", body="答案", publish=False)
        response = login(qa).post(f"/kb/articles/{article.pk}/attachments/", {}, follow=True)
        assert "请选择要上传的文件" in response.content.decode()

    def test_outsiders_cannot_download(self, client: Any, login: Any, qa: Any, customer: Any) -> None:
        article = make_article(actor=qa, title="内部资料", body="答案", questions=["问"])
        login(qa).post(f"/kb/articles/{article.pk}/attachments/",
                       {"file": SimpleUploadedFile("价目表.txt", b"price", "text/plain")})
        attachment = Attachment.objects.get()
        client.logout()
        assert client.get(f"/kb/attachments/{attachment.pk}/").status_code == 302  # to the login page
        assert login(qa).get("/kb/attachments/999999/").status_code == 404


# --- gaps --------------------------------------------------------------------------------------------------------


class TestGaps:
    def test_sorted_by_times_with_closest_article(self, login: Any, qa: Any) -> None:
        article = make_article(actor=qa, title="退货流程", body="七天", questions=["怎么退货"])
        gap_note(question="退货运费谁出", language="zh-hans", source="handoff", best_article_id=article.pk,
                 confidence=0.41)
        for _ in range(3):
            gap_note(question="能开发票吗", language="zh-hans", source="handoff")
        page = login(qa).get("/kb/gaps/")
        rows = list(page.context["page"].object_list)
        assert [g.question for g in rows] == ["能开发票吗", "退货运费谁出"]
        assert "退货流程" in page.content.decode()

    def test_add_as_example_question_makes_a_new_draft_version(self, login: Any, qa: Any) -> None:
        article = make_article(actor=qa, title="退货流程", body="七天", questions=["怎么退货"])
        gap = gap_note(question="东西不想要了能退吗", language="zh-hans", source="handoff",
                       best_article_id=article.pk)
        login(qa).post(f"/kb/gaps/{gap.pk}/", {"action": "question", "article": article.pk})
        article.refresh_from_db()
        gap.refresh_from_db()
        assert gap.state == GapState.ANSWERED
        assert gap.article_id == article.pk
        assert article.latest.number == 2
        assert article.has_pending_changes
        assert list(article.latest.questions.values_list("text", flat=True)) == ["怎么退货", "东西不想要了能退吗"]

    def test_dismiss_and_bad_input(self, login: Any, qa: Any) -> None:
        gap = gap_note(question="你是机器人吗", language="zh-hans", source="handoff")
        client = login(qa)
        response = client.post(f"/kb/gaps/{gap.pk}/", {"action": "question", "article": "abc"}, follow=True)
        assert "请选择文章" in response.content.decode()
        client.post(f"/kb/gaps/{gap.pk}/", {"action": "dismiss"})
        assert Gap.objects.get(pk=gap.pk).state == GapState.DISMISSED
        response = client.post(f"/kb/gaps/{gap.pk}/", {"action": "dismiss"}, follow=True)
        assert "已经处理过了" in response.content.decode()
        assert client.get("/kb/gaps/?state=dismissed").context["page"].paginator.count == 1

    def test_rights(self, login: Any, agent: Any, department_user: Any) -> None:
        assert login(agent).get("/kb/gaps/").status_code == 403
        assert login(department_user).get("/kb/gaps/").status_code == 403


# --- agents' quick search -----------------------------------------------------------------------------------------


class TestQuickSearch:
    def test_finds_served_articles_internal_included(self, login: Any, qa: Any, agent: Any) -> None:
        make_article(actor=qa, title="如何修改登录密码", body="打开设置\n修改密码",
                     questions=["密码怎么改", "忘记密码"])
        make_article(actor=qa, title="坐席内部：退款审批权限", body="500 元以下组长审批", questions=["退款谁审批"],
                     visibility=Visibility.INTERNAL)
        make_article(actor=qa, title="未发布的密码草稿", body="x", questions=["密码"], publish=False)
        client = login(agent)
        page = client.get("/kb/quick/?q=忘记密码了").content.decode()
        assert "如何修改登录密码" in page
        assert "打开设置\n修改密码" in page
        assert "未发布的密码草稿" not in page
        assert "坐席内部：退款审批权限" in client.get("/kb/quick/?q=退款审批").content.decode()
        assert client.get("/kb/quick/?q=").status_code == 200

    def test_nothing_found(self, login: Any, agent: Any) -> None:
        assert "没有找到" in login(agent).get("/kb/quick/?q=发票").content.decode()

    def test_box_on_every_staff_page(self, login: Any, agent: Any, department_user: Any, customer: Any) -> None:
        assert 'data-testid="kb-quick"' in login(agent).get("/customers/").content.decode()
        assert 'data-testid="nav-kb"' in login(department_user).get("/department/").content.decode()


# --- canned replies with variables -----------------------------------------------------------------------------------


class TestCannedVariables:
    def test_render_and_unknown(self) -> None:
        from kefu.conversations.services.canned import canned_render, canned_unknown_variables

        values = {"客户姓名": "王女士", "坐席姓名": "小李", "today": "2026-12-06"}
        assert canned_render("{客户姓名}您好，我是{坐席姓名}，今天 {today}，工单{工单号}", values) == (
            "王女士您好，我是小李，今天 2026-12-06，工单{工单号}")
        assert canned_unknown_variables("{客户姓名} {订单号} {订单号} {x y}") == ["订单号"]

    def test_values_of_a_conversation_and_warning_on_save(self, login: Any, team_lead: Any, agent: Any,
                                                          team: Any) -> None:
        from kefu.conversations.adapters.base import Identity, InboundMessage
        from kefu.conversations.models import Channel
        from kefu.conversations.services import message_receive
        from kefu.conversations.services.canned import canned_values

        channel = Channel.objects.create(code="kb-app", kind="webhook", name="App", team=team, secrets={"s": "x"})
        conversation = message_receive(channel=channel, inbound=InboundMessage(
            external_id="kb-1", identity=Identity(kind="external", value="kb-user"), text="你好")).conversation
        values = canned_values(conversation=conversation, agent=agent)
        assert values["坐席姓名"] == str(agent)
        assert values["agent_name"] == str(agent)
        assert values["客户姓名"] == conversation.customer.name
        assert "工单号" not in values
        page = login(agent).get(f"/conversations/{conversation.pk}/").content.decode()
        assert "data-canned-values=" in page
        assert str(agent) in page
        response = login(team_lead).post("/conversations/canned/", {
            "team": team.pk, "shortcut": "hi", "title": "问候", "body": "{客户姓名}您好，订单{订单号}已发出"},
            follow=True)
        text = response.content.decode()
        assert "无法识别的变量：{订单号}" in text
        assert "快捷回复已添加" in text
