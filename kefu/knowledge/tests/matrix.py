"""The knowledge base's objects for the generated permission matrix (tests/test_permission_matrix.py): an
article with two versions and an attachment, a category, an intake submission, an open gap, a suspected misfiled
example question."""

from __future__ import annotations

from typing import Any


def knowledge_world(people: dict[str, Any]) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kefu.knowledge.models import Suspect
    from kefu.knowledge.services.articles import ArticleData, article_update
    from kefu.knowledge.services.attachments import attachment_add
    from kefu.knowledge.services.insight import gap_note
    from kefu.knowledge.services.intake import IntakeData, intake_submit
    from kefu.knowledge.tests.factories import make_article, make_category

    qa = people["qa"]
    category = make_category("矩阵员工知识分类", slug="matrix-staff-kb")
    article = make_article(actor=qa, title="矩阵测试文章", body="第一版答案", questions=["矩阵测试怎么做"],
                           category=category)
    article = article_update(actor=qa, article=article, expected_version=None, data=ArticleData(
        title="矩阵测试文章", body="第二版答案", questions=["矩阵测试怎么做"], category_id=category.pk))
    attachment = attachment_add(actor=qa, article=article,
                                upload=SimpleUploadedFile("说明.txt", b"hello", "text/plain"))
    intake = intake_submit(actor=people["department_user"], data=IntakeData(questions="上门费多少钱",
                                                                             answer="市区免上门费。"))
    gap = gap_note(question="矩阵里的问题没人答", language="zh-hans", source="handoff")
    other = make_article(actor=qa, title="矩阵另一篇文章", body="另一篇的答案", questions=["另一篇怎么问"])
    suspect = Suspect.objects.create(article=article, question="矩阵测试怎么做", suggested=other)
    return {"article_id": article, "number": "1", "kb_attachment_id": attachment, "kb_category_id": category,
            "intake_id": intake, "gap_id": gap, "kb_suspect_id": suspect}
