"""Importing and exporting the knowledge base as a table (.xlsx or CSV): one row per example question, with the
columns `question`, `answer`, `category`, `language` (docs/knowledge-import.md).

Rows with the same answer text (and language) are one article. An answer already served is that article: its new
questions are added as a new published version, nothing is duplicated. Every row is checked first and every bad
row reported; only a fully valid file is written, in one transaction, then the bot's threshold is calibrated
again. An import is an act of the knowledge team (the kb.publish right): its articles are published directly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from kefu.core.actors import person
from kefu.core.audit import audit_record
from kefu.core.errors import Conflict, ValidationFailed
from kefu.core.models import AuditLog
from kefu.core.tabular import ImportRejected, ImportReport, RowError, cell_text, fail, header_key, read_rows
from kefu.knowledge.choices import ArticleStatus, Language, Visibility
from kefu.knowledge.events import ARTICLE_PUBLISHED, announce_article
from kefu.knowledge.models import SERVED, Article, Category, ExampleQuestion
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services.articles import (
    BODY_MAX,
    QUESTION_MAX,
    SPOKEN_MAX,
    TITLE_MAX,
    ArticleData,
    clean,
    question_vectors,
    require,
    save_version,
)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 50_000
EMBED_CHUNK = 256  # texts per call of the engine between two progress reports
REQUIRED = ("question", "answer", "category", "language")
OPTIONAL = ("title", "visibility", "spoken", "tags")
EXPORT_COLUMNS = (*REQUIRED, *OPTIONAL)
FORMATS = ("csv", "xlsx")

# Header aliases, compared after kefu.core.tabular.header_key (lower case, no spaces, "_", "-", "*", hints).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "questions", "问题", "问法", "客户问法", "相似问法"),
    "answer": ("answer", "答案", "回答", "答复"),
    "category": ("category", "分类", "类别", "知识分类"),
    "language": ("language", "lang", "语言"),
    "title": ("title", "标题"),
    "visibility": ("visibility", "可见范围"),
    "spoken": ("spoken", "语音播报版", "语音播报"),
    "tags": ("tags", "tag", "标签"),
}
_ALIAS_TO_FIELD = {header_key(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_LANGUAGES = {"zh-hans": Language.ZH, "zh": Language.ZH, "zh-cn": Language.ZH, "zhhans": Language.ZH,
              "zh_hans": Language.ZH, "中文": Language.ZH, "en": Language.EN, "english": Language.EN,
              "英文": Language.EN}
_VISIBILITY = {"": Visibility.PUBLIC, "public": Visibility.PUBLIC, "对外公开": Visibility.PUBLIC,
               "公开": Visibility.PUBLIC, "internal": Visibility.INTERNAL, "仅内部": Visibility.INTERNAL,
               "内部": Visibility.INTERNAL}
_TAG_SPLIT = re.compile(r"[,，;；、|]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# where an article's field is read from, to name the column of a refusal
_COLUMN_OF = {"title": "title", "body": "answer", "questions": "question", "spoken": "spoken", "tags": "tags",
              "language": "language", "visibility": "visibility"}

Progress = Callable[[str], None]


@dataclass
class KbImportReport(ImportReport):
    """`rows` read, articles `created` and `updated` (new questions added), `unchanged` (every question known),
    `questions_added`, the categories created by name, and the calibration that followed."""

    unchanged: int = 0
    questions_added: int = 0
    categories_created: list[str] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "unchanged": self.unchanged, "questions_added": self.questions_added,
                "categories_created": self.categories_created, "calibration": self.calibration}


@dataclass
class _Group:
    """The rows of one answer: one article."""

    key: tuple[str, str]  # (language, answer text with its spacing folded)
    row: int  # its first row
    language: str
    answer: str
    category: str
    title: str
    visibility: str
    spoken: str
    tags: list[str]
    questions: list[tuple[int, str]] = field(default_factory=list)  # (row, text), file order
    article_id: int | None = None  # the served article with this answer
    new_questions: list[str] = field(default_factory=list)
    data: ArticleData | None = None


def answer_key(language: str, answer: str) -> tuple[str, str]:
    return language, re.sub(r"\s+", " ", answer).strip()


def max_import_bytes() -> int:
    return int(getattr(settings, "KEFU_KB_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


# --- reading ------------------------------------------------------------------------------------------------------


def _map_header(number: int, values: list[Any], report: KbImportReport) -> dict[int, tuple[str, str]]:
    columns: dict[int, tuple[str, str]] = {}
    seen: dict[str, str] = {}
    for i, raw in enumerate(values):
        title = cell_text(raw)
        if not title:
            continue
        name = _ALIAS_TO_FIELD.get(header_key(title))
        if name is None:
            report.ignored_columns.append(title)
            continue
        if name in seen:
            raise fail(report, _("表头“%(a)s”和“%(b)s”是同一列，请删除其中一列") % {"a": seen[name], "b": title})
        seen[name] = title
        columns[i] = (name, title)
    missing = [name for name in REQUIRED if name not in seen]
    if missing:
        raise fail(report, _("第 %(n)s 行表头缺少这些列：%(cols)s（必需的列：question、answer、category、language）")
                   % {"n": number, "cols": "、".join(missing)})
    return columns


def _records(data: bytes, filename: str, report: KbImportReport,
             max_rows: int) -> Iterator[tuple[int, dict[str, str], dict[str, str]]]:
    """(row number, cells by field, column heading by field) of each non-blank data row."""
    columns: dict[int, tuple[str, str]] | None = None
    count = 0
    for number, values in read_rows(data, filename, report):
        if not any(cell_text(v) for v in values):
            continue
        if columns is None:
            columns = _map_header(number, values, report)
            continue
        count += 1
        if count > max_rows:
            raise fail(report, _("数据超过 %(max)s 行，请拆分后分批导入") % {"max": max_rows})
        cells = {name: cell_text(values[i]) if i < len(values) else "" for i, (name, _t) in columns.items()}
        yield number, cells, dict(columns.values())
    if columns is None:
        raise fail(report, _("文件中没有表头和数据"))


def _group_rows(records: Iterator[tuple[int, dict[str, str], dict[str, str]]],
                report: KbImportReport) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    question_rows: dict[tuple[str, str], tuple[int, tuple[str, str]]] = {}  # (language, question) → first

    def err(number: int, name: str, message: str, value: str, headings: dict[str, str]) -> None:
        report.errors.append(RowError(row=number, field=name, message=message, value=value[:100],
                                      column=headings.get(name, name)))

    for number, cells, headings in records:
        report.rows += 1
        before = len(report.errors)
        question = re.sub(r"\s+", " ", cells.get("question", "")).strip()
        answer = cells.get("answer", "").replace("\r\n", "\n").strip()
        category = " ".join(cells.get("category", "").split())
        raw_language = cells.get("language", "").strip()
        language = _LANGUAGES.get(raw_language.lower())
        if not question:
            err(number, "question", _("请填写客户的问法"), "", headings)
        if not answer:
            err(number, "answer", _("请填写答案"), "", headings)
        if not raw_language:
            err(number, "language", _("请填写语言：zh-hans 或 en"), "", headings)
        elif language is None:
            err(number, "language", _("语言只能是 zh-hans 或 en"), raw_language, headings)
        if len(category) > 60:
            err(number, "category", _("分类名称最多 60 个字"), category, headings)
        for name, value, limit in (("question", question, QUESTION_MAX), ("answer", answer, BODY_MAX),
                                   ("title", " ".join(cells.get("title", "").split()), TITLE_MAX),
                                   ("spoken", " ".join(cells.get("spoken", "").split()), SPOKEN_MAX)):
            if len(value) > limit:
                err(number, name, _("最多 %(n)s 个字（现有 %(len)s 个）") % {"n": limit, "len": len(value)},
                    value[:20], headings)
        visibility = _VISIBILITY.get(cells.get("visibility", "").strip().lower())
        if visibility is None:
            err(number, "visibility", _("可见范围只能是 public 或 internal"), cells.get("visibility", ""), headings)
        if len(report.errors) > before or language is None or visibility is None:
            continue
        key = answer_key(language, answer)
        title = " ".join(cells.get("title", "").split())
        spoken = " ".join(cells.get("spoken", "").split())
        tags = [t.strip() for t in _TAG_SPLIT.split(cells.get("tags", "")) if t.strip()]
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(key=key, row=number, language=language, answer=answer, category=category,
                                         title=title, visibility=visibility, spoken=spoken, tags=tags)
        else:
            # one answer, one article: its settings must agree across its rows (a blank optional cell agrees)
            for name, mine, first in (("category", category, group.category),
                                      ("visibility", visibility, group.visibility)):
                if mine != first:
                    err(number, name, _("与第 %(n)s 行答案相同，但%(what)s不同（“%(a)s”≠“%(b)s”）")
                        % {"n": group.row, "what": _column_word(name), "a": mine, "b": first}, mine, headings)
            for name, mine in (("title", title), ("spoken", spoken)):
                first = getattr(group, name)
                if mine and first and mine != first:
                    err(number, name, _("与第 %(n)s 行答案相同，但%(what)s不同（“%(a)s”≠“%(b)s”）")
                        % {"n": group.row, "what": _column_word(name), "a": mine[:30], "b": first[:30]},
                        mine, headings)
                elif mine and not first:
                    setattr(group, name, mine)
            for tag in tags:
                if tag not in group.tags:
                    group.tags.append(tag)
        qkey = (language, question.casefold())
        other = question_rows.get(qkey)
        if other is None:
            question_rows[qkey] = (number, key)
        elif other[1] != key:
            err(number, "question", _("问法与第 %(n)s 行相同，但答案不同：一个问法只能对应一个答案") % {"n": other[0]},
                question, headings)
            continue
        group.questions.append((number, question))
    return list(groups.values())


def _column_word(name: str) -> str:
    return {"category": _("分类"), "visibility": _("可见范围"), "title": _("标题"), "spoken": _("语音播报版")}[name]


def _check_groups(groups: list[_Group], report: KbImportReport) -> None:
    """Each group as an article (the editors' rules), matched with the served article of the same answer."""
    served: dict[tuple[str, str], int] = {}
    known: dict[int, list[str]] = {}
    rows = (Article.objects.filter(SERVED, language__in={g.language for g in groups})
            .order_by("id").values_list("pk", "language", "published__body", "published_id"))
    published_of: dict[int, int] = {}
    for pk, language, body, published_id in rows.iterator(chunk_size=2000):
        served.setdefault(answer_key(language, body or ""), pk)
        published_of[pk] = published_id
    wanted = {served[g.key] for g in groups if g.key in served}
    if wanted:
        versions = [published_of[pk] for pk in wanted]
        article_of = {published_of[pk]: pk for pk in wanted}
        for i in range(0, len(versions), 900):  # under SQLite's parameter limit
            for version_id, text in (ExampleQuestion.objects.filter(version_id__in=versions[i:i + 900])
                                     .order_by("version_id", "position", "id").values_list("version_id", "text")):
                known.setdefault(article_of[version_id], []).append(text)
    for group in groups:
        if not group.questions:  # its rows were all refused already
            continue
        first_row = group.questions[0][0]
        group.article_id = served.get(group.key)
        existing = known.get(group.article_id, []) if group.article_id else []
        have = {q.casefold() for q in existing}
        for _row, text in group.questions:
            if text.casefold() not in have:
                have.add(text.casefold())
                group.new_questions.append(text)
        title = group.title or (group.questions[0][1] if group.questions else "")
        try:
            group.data = clean(ArticleData(
                title=title[:200], body=group.answer, language=group.language,
                questions=[*existing, *group.new_questions], spoken=group.spoken, tags=group.tags,
                visibility=group.visibility))
        except ValidationFailed as exc:
            name = _COLUMN_OF.get(str(exc.details.get("field", "")), "answer")
            row = first_row
            if name == "question":
                row = group.questions[-1][0]
            report.errors.append(RowError(row=row, field=name, message=exc.message, column=name))
            continue


def _warn_known_elsewhere(groups: list[_Group], report: KbImportReport) -> None:
    """A new question that is already another served article's: the bot would hesitate between the two."""
    owner = {text: g for g in groups for text in g.new_questions}
    texts = list(owner)
    published = Article.objects.filter(SERVED).values("published_id")
    for i in range(0, len(texts), 900):
        found = (ExampleQuestion.objects.filter(version_id__in=published, text__in=texts[i:i + 900])
                 .values_list("text", "version__article_id"))
        for text, article_id in found:
            if article_id != owner[text].article_id and len(report.warnings) < 50:
                report.warnings.append(_("问法“%(q)s”已经是文章 #%(id)s 的问法：机器人可能在两篇文章之间犹豫")
                                       % {"q": text[:40], "id": article_id})


def _categories(groups: list[_Group]) -> tuple[dict[str, int], list[str]]:
    """Category id by the name the file gives (its Chinese name, else its English one), and the names missing."""
    names = sorted({g.category for g in groups if g.category})
    found: dict[str, int] = {}
    if names:
        for pk, name in Category.objects.filter(name__in=names).order_by("position", "id").values_list("pk", "name"):
            found.setdefault(name, pk)
        rest = {n.casefold(): n for n in names if n not in found}
        if rest:
            for pk, name_en in Category.objects.exclude(name_en="").order_by("position", "id").values_list(
                    "pk", "name_en"):
                original = rest.get(name_en.casefold())
                if original is not None:
                    found.setdefault(original, pk)
    return found, [n for n in names if n not in found]


def category_slug(name: str, taken: set[str]) -> str:
    """A slug for a category created by name: its Latin letters when it has some, else "kb-" and a short digest
    of the name; made unique with -2, -3 …"""
    base = slugify(name)[:50].strip("-") or "kb-" + hashlib.sha1(name.encode()).hexdigest()[:8]  # noqa: S324
    slug, n = base, 1
    while slug in taken or Category.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


# --- the import ---------------------------------------------------------------------------------------------------


def knowledge_import(*, actor: Any, data: bytes, filename: str, dry_run: bool = False,
                     progress: Progress | None = None, calibrate: bool = True,
                     max_rows: int | None = None) -> KbImportReport:
    """Validate the whole file, then (unless `dry_run`) write it in one transaction and calibrate the bot's
    threshold again. `actor` needs kb.publish (the CLI's system actor has every right). Raises ImportRejected
    (code "import_rejected", every bad row in `report.errors`) and writes nothing when any row is bad."""
    require(actor, KnowledgeRight.PUBLISH)
    say = progress or (lambda _m: None)
    report = KbImportReport(dry_run=dry_run)
    extension = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if extension not in FORMATS:
        raise fail(report, _("文件必须是 .csv 或 .xlsx 格式"))
    if len(data) > max_import_bytes():
        limit = max_import_bytes() // (1024 * 1024)
        raise fail(report, _("文件太大，最多 %(mb)s MB；请拆分后分批导入") % {"mb": limit})
    if not data.strip():
        raise fail(report, _("文件是空的"))
    groups = _group_rows(_records(data, filename, report, max_rows or DEFAULT_MAX_ROWS), report)
    if report.rows == 0:
        raise fail(report, _("文件中只有表头，没有数据行"))
    say(_("已读取 %(n)s 行，%(a)s 个答案") % {"n": report.rows, "a": len(groups)})
    _check_groups(groups, report)
    if report.errors:
        report.errors.sort(key=lambda e: (e.row, e.field))
        raise ImportRejected(_("文件中有 %(n)s 行错误，没有导入任何数据") % {"n": len(report.bad_rows)}, report)
    _warn_known_elsewhere(groups, report)
    category_ids, missing_categories = _categories(groups)
    report.categories_created = missing_categories
    report.created = sum(1 for g in groups if g.article_id is None)
    report.updated = sum(1 for g in groups if g.article_id is not None and g.new_questions)
    report.unchanged = sum(1 for g in groups if g.article_id is not None and not g.new_questions)
    report.questions_added = sum(len(g.new_questions) for g in groups)
    if dry_run:
        return report
    vectors = _embed(groups, say)
    say(_("正在写入数据库…"))
    with transaction.atomic():
        _write(groups, report, actor=actor, filename=filename, vectors=vectors, category_ids=category_ids)
    if calibrate and (report.created or report.updated):
        say(_("正在重新校准机器人的回答阈值…"))
        report.calibration = _calibrate(actor, report)
    return report


def _embed(groups: list[_Group], say: Progress) -> dict[str, bytes]:
    """Every new text's vector (new questions, new titles), in batches — outside the transaction: this is the
    slow part, and nothing is locked meanwhile."""
    texts: list[str] = []
    seen: set[str] = set()
    for group in groups:
        assert group.data is not None
        wanted = [*group.new_questions, group.data.title] if group.article_id is None else group.new_questions
        for text in wanted:
            if text not in seen:
                seen.add(text)
                texts.append(text)
    vectors: dict[str, bytes] = {}
    for start in range(0, len(texts), EMBED_CHUNK):
        vectors.update(question_vectors(texts[start:start + EMBED_CHUNK]))
        say(_("正在计算问法向量：%(done)s/%(total)s") % {"done": min(start + EMBED_CHUNK, len(texts)),
                                                     "total": len(texts)})
    return vectors


def _write(groups: list[_Group], report: KbImportReport, *, actor: Any, filename: str, vectors: dict[str, bytes],
           category_ids: dict[str, int]) -> None:
    from kefu.knowledge.services.categories import CategoryData, category_create

    taken: set[str] = set()
    for name in report.categories_created:
        category = category_create(actor=actor, data=CategoryData(name=name, slug=category_slug(name, taken)))
        category_ids[name] = category.pk
    existing_ids = [g.article_id for g in groups if g.article_id is not None and g.new_questions]
    locked = {a.pk: a for a in Article.objects.select_for_update(of=("self",)).select_related("published", "latest")
              .filter(pk__in=existing_ids)} if existing_ids else {}
    now = timezone.now()
    who = person(actor)
    changed: list[Article] = []
    for group in groups:
        data = group.data
        assert data is not None
        if group.article_id is None:
            article = Article.objects.create(
                language=data.language, category_id=category_ids.get(group.category), visibility=data.visibility,
                title=data.title, created_by=who)
            own = {t: vectors[t] for t in [*data.questions, data.title] if t in vectors}
            save_version(article=article, data=data, actor=actor, vectors=own)
            action = "article.imported"
        elif group.new_questions:
            article = locked.get(group.article_id)  # type: ignore[assignment]
            if article is None or article.published is None or article.status == ArticleStatus.ARCHIVED \
                    or answer_key(article.language, article.published.body) != group.key:
                raise Conflict(_("导入期间知识库被同时修改，请重新导入"), code="import_conflict")
            if article.latest_id != article.published_id:
                report.warnings.append(_("文章 #%(id)s“%(t)s”有未发布的修改：导入在已发布的内容上增加了问法，"
                                         "未发布的修改保留在历史版本中") % {"id": article.pk, "t": article.title[:30]})
            published = article.published
            known = {q.text: bytes(q.vector) for q in published.questions.all()}
            if published.title_vector:
                known.setdefault(published.title, bytes(published.title_vector))
            save_version(article=article, data=ArticleData(
                title=published.title, body=published.body, language=article.language, questions=data.questions,
                spoken=published.spoken, tags=list(published.tags), category_id=article.category_id,
                department_id=article.department_id, visibility=article.visibility,
                note=_("导入新增问法")), actor=actor,
                vectors={**known, **{t: vectors[t] for t in group.new_questions if t in vectors}})
            action = "article.questions_imported"
        else:
            continue
        article.status = ArticleStatus.PUBLISHED
        article.published = article.latest
        article.published_at = now
        article.reviewed_by = who
        article.review_note = ""
        article.version = F("version") + 1
        article.save()
        article.refresh_from_db()
        changed.append(article)
        AuditLog.objects.create(actor=who, action=action, object_type=Article._meta.label_lower,
                                object_id=str(article.pk), summary=article.title[:300],
                                data={"file": filename[:200], "version": article.published.number
                                      if article.published else 0, "questions": len(group.new_questions)})
        announce_article(article, event=ARTICLE_PUBLISHED, actor=actor)
    audit_record(actor=who, action="knowledge.imported", object_type="knowledge.import",
                 summary=_("导入 %(file)s：新建 %(c)s 篇，更新 %(u)s 篇，新增问法 %(q)s 个")
                 % {"file": filename[:100], "c": report.created, "u": report.updated, "q": report.questions_added},
                 data={"file": filename[:200], "rows": report.rows, "created": report.created,
                       "updated": report.updated, "unchanged": report.unchanged,
                       "questions_added": report.questions_added, "categories_created": report.categories_created,
                       "actor": str(actor)[:100]})


def _calibrate(actor: Any, report: KbImportReport) -> dict[str, Any]:
    from kefu.knowledge.services.calibration import bot_calibrate

    try:
        return dict(bot_calibrate(actor=actor).calibration)
    except Exception:  # the import is committed; the worker calibrates again later
        from kefu.knowledge.tasks import recalibrate_soon

        report.warnings.append(_("重新校准没有完成，稍后会自动重试"))
        transaction.on_commit(recalibrate_soon, robust=True)
        return {}


def format_report(report: KbImportReport) -> str:
    """The report as people read it (the CLI prints it)."""
    lines: list[str] = []
    for error in report.errors:
        where = _("第 %(n)s 行") % {"n": error.row} if error.row else _("文件")
        column = error.column or error.field
        if column:
            where = _("%(where)s [%(column)s]") % {"where": where, "column": column}
        line = _("%(where)s：%(message)s") % {"where": where, "message": error.message}
        lines.append(_("%(line)s（%(value)s）") % {"line": line, "value": error.value} if error.value else line)
    if not report.errors:
        verb = _("检查通过（未写入）") if report.dry_run else _("导入完成")
        lines.append(_("%(verb)s：%(rows)s 行；新建文章 %(c)s 篇，更新 %(u)s 篇，未变 %(s)s 篇；新增问法 %(q)s 个")
                     % {"verb": verb, "rows": report.rows, "c": report.created, "u": report.updated,
                        "s": report.unchanged, "q": report.questions_added})
        if report.categories_created:
            lines.append(_("新建分类：%(names)s") % {"names": "、".join(report.categories_created)})
        if report.calibration:
            lines.append(calibration_line(report.calibration))
    lines += [_("提示：%(w)s") % {"w": w} for w in report.warnings]
    if report.ignored_columns:
        lines.append(_("已忽略的列：%(cols)s") % {"cols": "、".join(report.ignored_columns)})
    return "\n".join(lines)


def calibration_line(calibration: dict[str, Any]) -> str:
    return (_("回答阈值 %(t).3f：自测准确率 %(p).1f%%（目标 %(target).0f%%），可直接回答 %(a).1f%% 的问题"
              "（%(q)s 个问法，%(n)s 篇文章）")
            % {"t": calibration.get("threshold", 0.0), "p": 100 * float(calibration.get("precision", 0.0)),
               "target": 100 * float(calibration.get("precision_target", 0.0)),
               "a": 100 * float(calibration.get("answered_share", 0.0)),
               "q": calibration.get("questions", 0), "n": calibration.get("articles", 0)})


# --- the export ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    rows: int
    articles: int


def _safe(value: str) -> str:
    """Spreadsheet formula injection: text starting with = + - @ gets a leading ' (the importer removes it)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _export_rows() -> Iterator[list[str]]:
    categories = dict(Category.objects.values_list("pk", "name"))
    articles = (Article.objects.filter(SERVED).select_related("published")
                .order_by("language", "category__position", "category_id", "id"))
    for article in articles.iterator(chunk_size=500):
        published = article.published
        assert published is not None
        questions = [q.text for q in published.questions.all()] or [published.title]
        for text in questions:
            yield [text, published.body, categories.get(article.category_id, "") if article.category_id else "",
                   article.language, published.title, article.visibility, published.spoken,
                   ",".join(str(t) for t in published.tags)]


def knowledge_export(*, actor: Any, out: IO[bytes], fmt: str) -> ExportResult:
    """Write every served article (public and internal) to `out` in the import's format: one row per example
    question. CSV is UTF-8 with a BOM (Excel opens it correctly). One audit row "knowledge.exported"."""
    require(actor, KnowledgeRight.VIEW)
    if fmt not in FORMATS:
        raise ValidationFailed(_("导出格式必须是 xlsx 或 csv"), details={"field": "format"})
    rows = _export_rows()
    header = list(EXPORT_COLUMNS)
    count, seen = 0, set()

    def counted(source: Iterator[list[str]]) -> Iterator[list[str]]:
        nonlocal count
        for row in source:
            count += 1
            seen.add(answer_key(row[3], row[1]))
            yield [_safe(v) for v in row]

    if fmt == "csv":
        stream = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(counted(rows))
        stream.flush()
        stream.detach()
    else:
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("knowledge")
        sheet.append(header)
        for row in counted(rows):
            sheet.append(row)
        workbook.save(out)
    audit_record(actor=person(actor), action="knowledge.exported", object_type="knowledge.export",
                 summary=_("导出知识库：%(a)s 篇文章，%(n)s 行（%(fmt)s）") % {"a": len(seen), "n": count, "fmt": fmt},
                 data={"rows": count, "articles": len(seen), "format": fmt, "actor": str(actor)[:100]})
    return ExportResult(rows=count, articles=len(seen))

