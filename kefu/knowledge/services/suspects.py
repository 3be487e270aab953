"""Example questions calibration suspects of being filed under the wrong article (see docs/knowledge-bot.md,
"Suspected misfiled example questions"): each calibration brings the list up to date, and the knowledge team moves
a suspect to the article it seems to belong to, or confirms it where it is.

A suspect is a question to look at, not a certain mistake, so nothing moves by itself. Moving saves a new version of
both articles (drafts, reviewed and published as any edit); until they are published the served knowledge base
still has the question where it was, so a moved or confirmed suspect is not suggested again while its text stays
under that article."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, ValidationFailed
from kefu.knowledge.choices import SuspectState
from kefu.knowledge.models import Article, ExampleQuestion, Suspect
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services.articles import ArticleData, article_update, require

QUESTION_MAX = 500


def suspects_store(*, found: Iterable[tuple[int, str, int]], served: set[tuple[int, str]]) -> int:
    """Bring the list up to date with one calibration: `found` holds (article id, question, suggested article id),
    `served` every (article id, question) the calibrated knowledge base holds. New suspects open; open ones no
    longer found are dropped (an edit cleared them); moved and confirmed ones stay as they are while their
    question is still served under their article, and go when it is not. Returns how many are open."""
    with transaction.atomic():
        rows = {(s.article_id, s.question): s for s in Suspect.objects.select_for_update()}
        # articles deleted since the calibration read them are left out
        ids = {a for a, _ in served} | {g for _, _, g in found}
        alive = set(Article.objects.filter(pk__in=ids).values_list("pk", flat=True))
        wanted = {(article, question[:QUESTION_MAX]): suggested for article, question, suggested in found
                  if article in alive and suggested in alive}
        present = {(article, question[:QUESTION_MAX]) for article, question in served if article in alive}
        gone, changed = [], []
        for key, row in rows.items():
            if key not in present or (row.state == SuspectState.OPEN and key not in wanted):
                gone.append(row.pk)
            elif row.state == SuspectState.OPEN and wanted[key] != row.suggested_id:
                row.suggested_id = wanted[key]
                changed.append(row)
        Suspect.objects.filter(pk__in=gone).delete()
        Suspect.objects.bulk_update(changed, ["suggested", "updated_at"], batch_size=500)
        Suspect.objects.bulk_create(
            [Suspect(article_id=article, question=question, suggested_id=suggested)
             for (article, question), suggested in wanted.items() if (article, question) not in rows],
            batch_size=500)
    return Suspect.objects.filter(state=SuspectState.OPEN).count()


def _open(suspect: Suspect) -> Suspect:
    locked = Suspect.objects.select_for_update().select_related("article", "suggested").filter(pk=suspect.pk).first()
    if locked is None or locked.state != SuspectState.OPEN:
        raise Conflict(_("这条例句已经有人处理过了，请刷新页面"))
    return locked


def _data(article: Article, questions: list[str], note: str) -> ArticleData:
    latest = article.latest
    assert latest is not None
    return ArticleData(title=latest.title, body=latest.body, language=article.language, questions=questions,
                       spoken=latest.spoken, tags=list(latest.tags), category_id=article.category_id,
                       department_id=article.department_id, visibility=article.visibility, note=note)


def _questions(article: Article) -> list[str]:
    return list(ExampleQuestion.objects.filter(version=article.latest).order_by("position", "id")
                .values_list("text", flat=True))


@transaction.atomic
def suspect_move(*, actor: Any, suspect: Suspect) -> Suspect:
    """Move the question to the suggested article: a new version (draft) of each, with a note saying why."""
    require(actor, KnowledgeRight.EDIT)
    locked = _open(suspect)
    source, target = locked.article, locked.suggested
    if source.latest is None or target.latest is None:
        raise ValidationFailed(_("文章还没有内容"), details={"field": "article"})
    if target.language != source.language:
        raise ValidationFailed(_("建议的文章是另一种语言，请在文章里手动调整"), details={"field": "suggested"})
    mine = _questions(source)
    key = locked.question.casefold()
    kept = [q for q in mine if q.casefold() != key]
    if len(kept) == len(mine):
        raise Conflict(_("这条例句已经不在文章“%(t)s”的最新版本里了") % {"t": source.title})
    theirs = _questions(target)
    article_update(actor=actor, article=source, expected_version=None, data=_data(
        source, kept, _("例句移到“%(t)s”：%(q)s") % {"t": target.title[:60], "q": locked.question[:80]}))
    if all(q.casefold() != key for q in theirs):
        article_update(actor=actor, article=target, expected_version=None, data=_data(
            target, [*theirs, locked.question], _("例句从“%(t)s”移来：%(q)s") % {
                "t": source.title[:60], "q": locked.question[:80]}))
    locked.state, locked.decided_by = SuspectState.MOVED, person(actor)
    locked.save(update_fields=["state", "decided_by", "updated_at"])
    audit_record(actor=person(actor), action="kb.suspect_moved", obj=source, summary=locked.question[:200],
                 data={"question": locked.question, "from": source.pk, "to": target.pk})
    return locked


@transaction.atomic
def suspect_keep(*, actor: Any, suspect: Suspect) -> Suspect:
    """Confirm the question where it is: it is not suggested again while it stays under that article."""
    require(actor, KnowledgeRight.EDIT)
    locked = _open(suspect)
    locked.state, locked.decided_by = SuspectState.KEPT, person(actor)
    locked.save(update_fields=["state", "decided_by", "updated_at"])
    audit_record(actor=person(actor), action="kb.suspect_kept", obj=locked.article, summary=locked.question[:200],
                 data={"question": locked.question, "suggested": locked.suggested_id})
    return locked
