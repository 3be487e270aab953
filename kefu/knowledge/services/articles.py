"""Writing articles: create, edit (each save a new version), review (submit, publish, send back), archive, restore
an older version. The index the bot and the searches use follows after commit (kefu.knowledge.index)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kefu.core.policy import can
from kefu.knowledge.choices import ArticleStatus, Language, Visibility
from kefu.knowledge.events import ARTICLE_PUBLISHED, ARTICLE_WITHDRAWN, announce_article
from kefu.knowledge.models import Article, ArticleVersion, Category, ExampleQuestion
from kefu.knowledge.permissions import KnowledgeRight

TITLE_MAX = 200
BODY_MAX = 20_000
SPOKEN_MAX = 500
QUESTION_MAX = 300
QUESTIONS_MAX = 1000  # a busy article mined from years of chats has hundreds (CIC's busiest intent: 471)
TAGS_MAX = 20
TAG_MAX = 30


@dataclass(frozen=True, slots=True)
class ArticleData:
    """An article's text and settings as an editor (or an import row) gives them."""

    title: str
    body: str
    language: str = Language.ZH
    questions: Sequence[str] = ()
    spoken: str = ""
    tags: Sequence[str] = ()
    category_id: int | None = None
    department_id: int | None = None
    visibility: str = Visibility.PUBLIC
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def require(actor: Any, right: str) -> None:
    if not can(actor, right):
        raise PermissionDenied(_("没有权限进行此操作"))


def clean_questions(values: Sequence[str], *, field_name: str = "questions") -> list[str]:
    """Trimmed, one line each, without repeats (case and spacing ignored), at most QUESTIONS_MAX."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in values:
        text = re.sub(r"\s+", " ", str(raw or "")).strip()
        if not text:
            continue
        if len(text) > QUESTION_MAX:
            raise ValidationFailed(_("问法“%(q)s…”太长，最多 %(n)s 个字") % {"q": text[:20], "n": QUESTION_MAX},
                                   details={"field": field_name})
        key = text.casefold()
        if key not in seen:
            seen.add(key)
            out.append(text)
    if len(out) > QUESTIONS_MAX:
        raise ValidationFailed(_("相似问法最多 %(n)s 个") % {"n": QUESTIONS_MAX}, details={"field": field_name})
    return out


def clean(data: ArticleData) -> ArticleData:
    title = re.sub(r"\s+", " ", data.title or "").strip()
    if not title:
        raise ValidationFailed(_("请填写标题"), details={"field": "title"})
    if len(title) > TITLE_MAX:
        raise ValidationFailed(_("标题最多 %(n)s 个字") % {"n": TITLE_MAX}, details={"field": "title"})
    body = (data.body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationFailed(_("请填写答案"), details={"field": "body"})
    if len(body) > BODY_MAX:
        raise ValidationFailed(_("答案最多 %(n)s 个字") % {"n": BODY_MAX}, details={"field": "body"})
    spoken = re.sub(r"\s+", " ", data.spoken or "").strip()
    if len(spoken) > SPOKEN_MAX:
        raise ValidationFailed(_("语音播报版最多 %(n)s 个字") % {"n": SPOKEN_MAX}, details={"field": "spoken"})
    if data.language not in Language.values:
        raise ValidationFailed(_("语言只能是 zh-hans 或 en"), details={"field": "language"})
    if data.visibility not in Visibility.values:
        raise ValidationFailed(_("可见范围无效"), details={"field": "visibility"})
    tags: list[str] = []
    for raw in data.tags:
        tag = str(raw or "").strip().lstrip("#")
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise ValidationFailed(_("标签“%(t)s…”太长，最多 %(n)s 个字") % {"t": tag[:10], "n": TAG_MAX},
                                   details={"field": "tags"})
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValidationFailed(_("标签最多 %(n)s 个") % {"n": TAGS_MAX}, details={"field": "tags"})
    if data.category_id is not None and not Category.objects.filter(pk=data.category_id).exists():
        raise ValidationFailed(_("分类不存在"), details={"field": "category"})
    if data.department_id is not None:
        from kefu.accounts.models import Department

        if not Department.objects.filter(pk=data.department_id).exists():
            raise ValidationFailed(_("部门不存在"), details={"field": "department"})
    note = (data.note or "").strip()[:200]
    return ArticleData(title=title, body=body, language=data.language, questions=clean_questions(data.questions),
                       spoken=spoken, tags=tags, category_id=data.category_id, department_id=data.department_id,
                       visibility=data.visibility, note=note)


def question_vectors(texts: Sequence[str], *, known: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """Each question's stored vector: reused from `known` (an earlier version's) when the text is the same,
    computed for the others in one batch."""
    from kefu.knowledge.engine import embed

    out = {t: v for t, v in (known or {}).items() if t in set(texts) and v}
    missing = [t for t in texts if t not in out]
    if missing:
        for text, vector in zip(missing, embed(missing), strict=True):
            out[text] = vector.astype("float32").tobytes()
    return out


def _known_vectors(article: Article) -> dict[str, bytes]:
    if article.latest_id is None or article.latest is None:
        return {}
    known = {q.text: bytes(q.vector) for q in ExampleQuestion.objects.filter(version_id=article.latest_id)}
    if article.latest.title_vector:
        known.setdefault(article.latest.title, bytes(article.latest.title_vector))
    return known


def save_version(*, article: Article, data: ArticleData, actor: Any,
                 vectors: Mapping[str, bytes] | None = None) -> ArticleVersion:
    """Append a version with `data`'s text (already cleaned) and make it the latest. Inside the caller's
    transaction; `vectors` by question text, those missing are computed."""
    number = (article.latest.number if article.latest_id and article.latest else 0) + 1
    texts = list(data.questions)
    stored = question_vectors([*texts, data.title], known={**_known_vectors(article), **(vectors or {})})
    version = ArticleVersion.objects.create(article=article, number=number, title=data.title, body=data.body,
                                            spoken=data.spoken, tags=list(data.tags), note=data.note,
                                            author=person(actor), title_vector=stored[data.title])
    ExampleQuestion.objects.bulk_create([ExampleQuestion(version=version, text=t, vector=stored[t], position=i)
                                         for i, t in enumerate(texts)])
    article.latest = version
    article.title = data.title
    return version


def _locked(article: Article, expected_version: int | None) -> Article:
    locked = (Article.objects.select_for_update(of=("self",)).select_related("latest", "published")
              .filter(pk=article.pk).first())
    if locked is None:
        raise NotFound(_("文章不存在"))
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(_("这篇文章已被他人修改，请刷新后再保存"), details={"field": "version",
                                                                  "current_version": locked.version})
    return locked


def _index_changed() -> None:
    from kefu.knowledge.index import index_changed

    index_changed()


@transaction.atomic
def article_create(*, actor: Any, data: ArticleData) -> Article:
    """A new article as a draft (version 1)."""
    require(actor, KnowledgeRight.EDIT)
    data = clean(data)
    article = Article.objects.create(language=data.language, category_id=data.category_id,
                                     department_id=data.department_id, visibility=data.visibility, title=data.title,
                                     created_by=person(actor))
    save_version(article=article, data=data, actor=actor)
    article.save(update_fields=["latest", "title"])
    audit_record(actor=person(actor), action="article.created", obj=article, summary=article.title)
    return article


@transaction.atomic
def article_update(*, actor: Any, article: Article, data: ArticleData, expected_version: int | None) -> Article:
    """Save an edit as a new version. The article goes back to draft (a published text stays served until the new
    version is approved); a stale `expected_version` is a conflict."""
    require(actor, KnowledgeRight.EDIT)
    data = clean(data)
    locked = _locked(article, expected_version)
    before = {"title": locked.title, "language": locked.language, "category_id": locked.category_id,
              "visibility": locked.visibility, "status": locked.status}
    save_version(article=locked, data=data, actor=actor)
    locked.language, locked.category_id, locked.department_id = data.language, data.category_id, data.department_id
    visibility_changed = locked.visibility != data.visibility
    locked.visibility = data.visibility
    if locked.status != ArticleStatus.ARCHIVED:
        locked.status = ArticleStatus.DRAFT
    locked.version = F("version") + 1
    locked.save()
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.updated", obj=locked, summary=locked.title,
                 data={"before": before, "version": locked.latest.number if locked.latest else 0})
    if visibility_changed and locked.is_live:
        _index_changed()
    return locked


@transaction.atomic
def article_submit(*, actor: Any, article: Article, expected_version: int | None = None) -> Article:
    """A draft sent for review."""
    require(actor, KnowledgeRight.EDIT)
    locked = _locked(article, expected_version)
    if locked.status != ArticleStatus.DRAFT:
        raise Conflict(_("只有草稿可以提交审核"), details={"field": "status"})
    locked.status = ArticleStatus.REVIEW
    locked.review_note = ""
    locked.version = F("version") + 1
    locked.save(update_fields=["status", "review_note", "version", "updated_at"])
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.submitted", obj=locked, summary=locked.title)
    return locked


@transaction.atomic
def article_publish(*, actor: Any, article: Article, expected_version: int | None = None) -> Article:
    """The latest version approved: from now on it is what the portal, agents and the bot are served."""
    require(actor, KnowledgeRight.PUBLISH)
    locked = _locked(article, expected_version)
    if locked.status == ArticleStatus.ARCHIVED:
        raise Conflict(_("已归档的文章请先恢复"), details={"field": "status"})
    if locked.status == ArticleStatus.PUBLISHED and locked.published_id == locked.latest_id:
        raise Conflict(_("这篇文章已经发布"), details={"field": "status"})
    if not ExampleQuestion.objects.filter(version_id=locked.latest_id).exists():
        raise ValidationFailed(_("发布前请至少填写一个客户的问法"), details={"field": "questions"})
    locked.status = ArticleStatus.PUBLISHED
    locked.published_id = locked.latest_id
    locked.published_at = timezone.now()
    locked.reviewed_by = person(actor)
    locked.review_note = ""
    locked.version = F("version") + 1
    locked.save()
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.published", obj=locked, summary=locked.title,
                 data={"version": locked.published.number if locked.published else 0})
    announce_article(locked, event=ARTICLE_PUBLISHED, actor=actor)
    _index_changed()
    return locked


@transaction.atomic
def article_return(*, actor: Any, article: Article, note: str, expected_version: int | None = None) -> Article:
    """A version under review sent back to its author as a draft, with the reviewer's note."""
    require(actor, KnowledgeRight.PUBLISH)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("请写明退回的原因"), details={"field": "note"})
    locked = _locked(article, expected_version)
    if locked.status != ArticleStatus.REVIEW:
        raise Conflict(_("只有待审核的文章可以退回"), details={"field": "status"})
    locked.status = ArticleStatus.DRAFT
    locked.review_note = note[:500]
    locked.reviewed_by = person(actor)
    locked.version = F("version") + 1
    locked.save(update_fields=["status", "review_note", "reviewed_by", "version", "updated_at"])
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.returned", obj=locked, summary=locked.title,
                 data={"note": locked.review_note})
    return locked


@transaction.atomic
def article_archive(*, actor: Any, article: Article, expected_version: int | None = None) -> Article:
    """No longer served anywhere; kept with its history and statistics."""
    require(actor, KnowledgeRight.PUBLISH)
    locked = _locked(article, expected_version)
    if locked.status == ArticleStatus.ARCHIVED:
        raise Conflict(_("这篇文章已经归档"), details={"field": "status"})
    was_live = locked.is_live
    locked.status = ArticleStatus.ARCHIVED
    locked.version = F("version") + 1
    locked.save(update_fields=["status", "version", "updated_at"])
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.archived", obj=locked, summary=locked.title)
    if was_live:
        announce_article(locked, event=ARTICLE_WITHDRAWN, actor=actor)
        _index_changed()
    return locked


@transaction.atomic
def article_unarchive(*, actor: Any, article: Article, expected_version: int | None = None) -> Article:
    """An archived article back as a draft (its last published text is served again only once approved)."""
    require(actor, KnowledgeRight.PUBLISH)
    locked = _locked(article, expected_version)
    if locked.status != ArticleStatus.ARCHIVED:
        raise Conflict(_("这篇文章没有归档"), details={"field": "status"})
    locked.status = ArticleStatus.DRAFT
    locked.published = None
    locked.version = F("version") + 1
    locked.save(update_fields=["status", "published", "version", "updated_at"])
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.unarchived", obj=locked, summary=locked.title)
    return locked


@transaction.atomic
def article_restore(*, actor: Any, article: Article, number: int, expected_version: int | None = None) -> Article:
    """An older version's text saved again as the newest version (a draft)."""
    require(actor, KnowledgeRight.EDIT)
    locked = _locked(article, expected_version)
    old = ArticleVersion.objects.filter(article=locked, number=number).first()
    if old is None:
        raise ValidationFailed(_("没有第 %(n)s 版") % {"n": number}, details={"field": "number"})
    questions = list(old.questions.values_list("text", flat=True))
    vectors = {q.text: bytes(q.vector) for q in old.questions.all()}
    if old.title_vector:
        vectors.setdefault(old.title, bytes(old.title_vector))
    data = ArticleData(title=old.title, body=old.body, language=locked.language, questions=questions,
                       spoken=old.spoken, tags=list(old.tags), category_id=locked.category_id,
                       department_id=locked.department_id, visibility=locked.visibility,
                       note=_("恢复自第 %(n)s 版") % {"n": number})
    save_version(article=locked, data=data, actor=actor, vectors=vectors)
    if locked.status != ArticleStatus.ARCHIVED:
        locked.status = ArticleStatus.DRAFT
    locked.version = F("version") + 1
    locked.save()
    locked.refresh_from_db()
    audit_record(actor=person(actor), action="article.restored", obj=locked, summary=locked.title,
                 data={"from_version": number})
    return locked


@transaction.atomic
def article_delete(*, actor: Any, article: Article) -> None:
    """Only a draft never published may be deleted; anything once served is archived instead (its statistics
    and the conversations that quoted it stay readable)."""
    require(actor, KnowledgeRight.PUBLISH)
    locked = _locked(article, None)
    if locked.published_id is not None or locked.published_at is not None:
        raise Conflict(_("发布过的文章不能删除，请归档"), details={"field": "status"})
    audit_record(actor=person(actor), action="article.deleted", obj=locked, summary=locked.title)
    Article.objects.filter(pk=locked.pk).update(latest=None, published=None)
    ArticleVersion.objects.filter(article=locked).delete()
    locked.delete()
