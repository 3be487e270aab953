"""The departments' intake form (信息采集表): a department tells the knowledge team what customers ask it and
the answer; the team adopts a submission (a draft article made from it, linked) or declines it with a reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, ValidationFailed
from kefu.knowledge.choices import IntakeState, Language, Visibility
from kefu.knowledge.models import Category, IntakeSubmission
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services.articles import BODY_MAX, TITLE_MAX, ArticleData, article_create, clean_questions, require

NOTE_MAX = 500
REPLY_MAX = 500


@dataclass(frozen=True, slots=True)
class IntakeData:
    questions: str  # one a line
    answer: str
    language: str = Language.ZH
    category_id: int | None = None
    note: str = ""
    department_id: int | None = None  # only for a submitter who belongs to no department


@transaction.atomic
def intake_submit(*, actor: Any, data: IntakeData) -> IntakeSubmission:
    """A department's question(s) and answer, for the knowledge team's queue."""
    from kefu.accounts.models import Department

    require(actor, KnowledgeRight.INTAKE)
    questions = clean_questions((data.questions or "").splitlines())
    if not questions:
        raise ValidationFailed(_("请至少填写一个客户的问法"), details={"field": "questions"})
    answer = (data.answer or "").replace("\r\n", "\n").strip()
    if not answer:
        raise ValidationFailed(_("请填写答案"), details={"field": "answer"})
    if len(answer) > BODY_MAX:
        raise ValidationFailed(_("答案最多 %(n)s 个字") % {"n": BODY_MAX}, details={"field": "answer"})
    if data.language not in Language.values:
        raise ValidationFailed(_("语言只能是 zh-hans 或 en"), details={"field": "language"})
    if data.category_id is not None and not Category.objects.filter(pk=data.category_id).exists():
        raise ValidationFailed(_("分类不存在"), details={"field": "category"})
    note = " ".join((data.note or "").split())
    if len(note) > NOTE_MAX:
        raise ValidationFailed(_("补充说明最多 %(n)s 个字") % {"n": NOTE_MAX}, details={"field": "note"})
    department_id = getattr(actor, "department_id", None) or data.department_id
    if department_id is None or not Department.objects.filter(pk=department_id).exists():
        raise ValidationFailed(_("请选择部门"), details={"field": "department"})
    submission = IntakeSubmission.objects.create(
        department_id=department_id, submitted_by=person(actor), language=data.language,
        category_id=data.category_id, questions="\n".join(questions), answer=answer, note=note)
    audit_record(actor=person(actor), action="intake.submitted", obj=submission, summary=questions[0][:100])
    return submission


def _locked_open(submission: IntakeSubmission) -> IntakeSubmission:
    locked = IntakeSubmission.objects.select_for_update().filter(pk=submission.pk).first()
    if locked is None:
        raise NotFound(_("采集表不存在"))
    if locked.state != IntakeState.SUBMITTED:
        raise Conflict(_("这份采集表已经处理过了"), details={"field": "state"})
    return locked


@transaction.atomic
def intake_accept(*, actor: Any, submission: IntakeSubmission, reply: str = "") -> IntakeSubmission:
    """Adopt a submission: a draft article with its questions and answer (title: the first question), owned by
    the submitting department, linked so the submitter sees which article came of it."""
    require(actor, KnowledgeRight.PUBLISH)
    locked = _locked_open(submission)
    questions = [q for q in locked.questions.splitlines() if q.strip()]
    title = (questions[0] if questions else locked.answer.splitlines()[0])[:TITLE_MAX]
    article = article_create(actor=actor, data=ArticleData(
        title=title, body=locked.answer, language=locked.language, questions=questions,
        category_id=locked.category_id, department_id=locked.department_id, visibility=Visibility.PUBLIC,
        note=_("来自信息采集表 #%(n)s") % {"n": locked.pk}))
    locked.state = IntakeState.ACCEPTED
    locked.article = article
    locked.handled_by = person(actor)
    locked.reply = " ".join((reply or "").split())[:REPLY_MAX]
    locked.save(update_fields=["state", "article", "handled_by", "reply", "updated_at"])
    audit_record(actor=person(actor), action="intake.accepted", obj=locked, summary=title[:100],
                 data={"article": article.pk})
    return locked


@transaction.atomic
def intake_reject(*, actor: Any, submission: IntakeSubmission, reply: str) -> IntakeSubmission:
    """Decline a submission, telling the department why."""
    require(actor, KnowledgeRight.PUBLISH)
    reply = " ".join((reply or "").split())
    if not reply:
        raise ValidationFailed(_("请写明不采用的原因"), details={"field": "reply"})
    if len(reply) > REPLY_MAX:
        raise ValidationFailed(_("处理意见最多 %(n)s 个字") % {"n": REPLY_MAX}, details={"field": "reply"})
    locked = _locked_open(submission)
    locked.state = IntakeState.REJECTED
    locked.handled_by = person(actor)
    locked.reply = reply
    locked.save(update_fields=["state", "handled_by", "reply", "updated_at"])
    audit_record(actor=person(actor), action="intake.rejected", obj=locked, summary=reply[:100])
    return locked
