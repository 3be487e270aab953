"""Reads of the knowledge base for the staff pages: the article list and its filters (one definition, used by the
page and its tests), an article's versions and their diff, categories, intake submissions, gaps, the agents'
quick search and the monthly consultation library."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.knowledge.choices import ArticleStatus, GapState, IntakeState, Language, SuspectState, Visibility
from kefu.knowledge.models import (
    SERVED,
    Article,
    ArticleVersion,
    Attachment,
    BotSettings,
    Category,
    Consultation,
    ExampleQuestion,
    Gap,
    IntakeSubmission,
    Suspect,
)

TABS = ("all", "review", "mine")
PAGE_SIZE = 25
QUICK_MIN_SCORE = 0.25  # the index's confidence (0–1) below which a match is noise for an agent
Q_MAX = 100


# --- the article list -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """The article list's filters as the page's query string gives them (already checked)."""

    tab: str = "all"
    status: str = ""
    language: str = ""
    category: int | None = None
    visibility: str = ""
    department: int | None = None
    q: str = ""
    page: int = 1
    errors: tuple[str, ...] = field(default=())

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as query-string values (the page's links), empty ones left out."""
        values = {"tab": self.tab, "status": self.status, "language": self.language,
                  "category": str(self.category or ""), "visibility": self.visibility,
                  "department": str(self.department or ""), "q": self.q}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "tab" and v == "all")}

    @property
    def active(self) -> bool:
        return bool(self.status or self.language or self.category or self.visibility or self.department or self.q)


def _int(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def article_filter(params: Mapping[str, str]) -> ArticleFilter:
    """Read the list's query string; a value that cannot be used is dropped and named in `errors`."""
    errors: list[str] = []

    def choice(name: str, allowed: Any, label: str) -> str:
        value = str(params.get(name) or "").strip()
        if value and value not in allowed:
            errors.append(_("%(f)s：无效的值") % {"f": label})
            return ""
        return value

    def number(name: str, label: str) -> int | None:
        raw = str(params.get(name) or "").strip()
        value = _int(raw) if raw else None
        if raw and value is None:
            errors.append(_("%(f)s：无效的值") % {"f": label})
        return value

    tab = str(params.get("tab") or "all")
    if tab not in TABS:
        errors.append(_("%(f)s：无效的值") % {"f": _("范围")})
        tab = "all"
    page = _int(str(params.get("page") or "1")) or 1
    return ArticleFilter(
        tab=tab, status=choice("status", ArticleStatus.values, _("状态")),
        language=choice("language", Language.values, _("语言")), category=number("category", _("分类")),
        visibility=choice("visibility", Visibility.values, _("可见范围")),
        department=number("department", _("负责部门")), q=str(params.get("q") or "").strip()[:Q_MAX],
        page=max(1, min(page, 10_000)), errors=tuple(errors))


def article_list(actor: Any, f: ArticleFilter) -> QuerySet[Article]:
    """The articles of the list page with what its columns show (category, department, latest author)."""
    qs = Article.objects.select_related("category", "department", "latest__author")
    if f.tab == "review":
        qs = qs.filter(status=ArticleStatus.REVIEW)
    elif f.tab == "mine":
        qs = qs.filter(status=ArticleStatus.DRAFT, created_by=actor)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.language:
        qs = qs.filter(language=f.language)
    if f.category:
        qs = qs.filter(Q(category_id=f.category) | Q(category__parent_id=f.category))
    if f.visibility:
        qs = qs.filter(visibility=f.visibility)
    if f.department:
        qs = qs.filter(department_id=f.department)
    if f.q:
        qs = qs.filter(title__icontains=f.q)
    return qs.order_by("-updated_at", "-id")


def article_tab_counts(actor: Any) -> dict[str, int]:
    found = Article.objects.aggregate(
        review=Count("id", filter=Q(status=ArticleStatus.REVIEW)),
        mine=Count("id", filter=Q(status=ArticleStatus.DRAFT, created_by=actor)))
    return {"review": found["review"], "mine": found["mine"]}


# --- one article ------------------------------------------------------------------------------------------


def article_detail(article_id: int) -> Article | None:
    return (Article.objects.select_related("category", "department", "latest__author", "published", "created_by",
                                           "reviewed_by").filter(pk=article_id).first())


def article_versions(article: Article) -> list[ArticleVersion]:
    return list(ArticleVersion.objects.filter(article=article).select_related("author").order_by("-number")
                .defer("title_vector"))


def version_of(article: Article, number: int) -> ArticleVersion | None:
    return (ArticleVersion.objects.filter(article=article, number=number).select_related("author")
            .defer("title_vector").first())


def version_questions(version_id: int | None) -> list[str]:
    if version_id is None:
        return []
    return list(ExampleQuestion.objects.filter(version_id=version_id).order_by("position", "id")
                .values_list("text", flat=True))


def article_attachments(article: Article) -> list[Attachment]:
    return list(Attachment.objects.filter(article=article).select_related("uploaded_by").order_by("id"))


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # "same" | "added" | "removed"
    text: str


def body_diff(before: str, after: str) -> list[DiffLine]:
    """The body's lines compared (difflib), unchanged lines kept for context; plain text, escaped when shown."""
    out: list[DiffLine] = []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        tag, text = line[:2], line[2:]
        if tag == "+ ":
            out.append(DiffLine("added", text))
        elif tag == "- ":
            out.append(DiffLine("removed", text))
        elif tag == "  ":
            out.append(DiffLine("same", text))
    return out


def version_diff(article: Article, number: int) -> tuple[ArticleVersion | None, list[DiffLine]]:
    """The version before `number` and the diff of the body from it (all lines added for version 1)."""
    versions = {v.number: v for v in ArticleVersion.objects.filter(article=article, number__in=[number - 1, number])
                .defer("title_vector")}
    current, previous = versions.get(number), versions.get(number - 1)
    if current is None:
        return None, []
    return previous, body_diff(previous.body if previous else "", current.body)


# --- categories -------------------------------------------------------------------------------------------


def category_rows() -> list[Category]:
    """Every category with its articles and children counted, parents before their children."""
    rows = list(Category.objects.select_related("parent").annotate(
        article_total=Count("articles", distinct=True), child_total=Count("children", distinct=True))
        .order_by("position", "name"))
    by_parent: dict[int | None, list[Category]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)
    ordered: list[Category] = []

    def walk(parent: int | None, depth: int) -> None:
        for row in by_parent.get(parent, []):
            row.depth = depth  # type: ignore[attr-defined]
            ordered.append(row)
            walk(row.pk, depth + 1)

    walk(None, 0)
    seen = {r.pk for r in ordered}
    ordered.extend(r for r in rows if r.pk not in seen)  # a cycle (should not exist): still listed
    return ordered


def category_choices() -> list[Category]:
    return category_rows()


# --- intake (信息采集表) ------------------------------------------------------------------------------------


def intake_mine(actor: Any) -> QuerySet[IntakeSubmission]:
    return (IntakeSubmission.objects.filter(submitted_by=actor).select_related("category", "article", "handled_by")
            .order_by("-created_at", "-id"))


def intake_queue(state: str = IntakeState.SUBMITTED) -> QuerySet[IntakeSubmission]:
    qs = IntakeSubmission.objects.select_related("department", "submitted_by", "category", "article", "handled_by")
    if state in IntakeState.values:
        qs = qs.filter(state=state)
    return qs.order_by("created_at", "id") if state == IntakeState.SUBMITTED else qs.order_by("-updated_at", "-id")


def intake_counts() -> dict[str, int]:
    return dict(IntakeSubmission.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


# --- gaps ---------------------------------------------------------------------------------------------------


def gap_list(state: str = GapState.OPEN) -> QuerySet[Gap]:
    qs = Gap.objects.select_related("best_article", "article", "handled_by")
    if state in GapState.values:
        qs = qs.filter(state=state)
    return qs.order_by("-times", "-last_asked_at", "-id")


def suspect_list(state: str = SuspectState.OPEN) -> QuerySet[Suspect]:
    """Suspected misfiled example questions of one state, article by article (the article's own title order)."""
    qs = Suspect.objects.select_related("article", "suggested", "decided_by")
    if state in SuspectState.values:
        qs = qs.filter(state=state)
    return qs.order_by("article__title", "article_id", "id")


def suspect_counts() -> dict[str, int]:
    found = dict(Suspect.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    return {state: int(found.get(state, 0)) for state in SuspectState.values}


def served_article_choices(language: str | None = None) -> list[tuple[int, str, str]]:
    qs = Article.objects.filter(SERVED).exclude(status=ArticleStatus.ARCHIVED)
    if language:
        qs = qs.filter(language=language)
    return list(qs.order_by("title").values_list("id", "title", "language")[:500])


# --- agents' quick search -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuickHit:
    id: int
    title: str
    body: str
    language: str
    visibility: str
    score: float


def quick_search(text: str, *, limit: int = 8) -> list[QuickHit]:
    """Served articles for staff (internal ones too): the knowledge index's best matches, then titles that
    contain the text (an exact word the index ranks low, a code, a product name)."""
    from kefu.knowledge.index import served

    text = " ".join(str(text or "").split())[:200]
    if not text:
        return []
    box = served("staff")
    hits: list[QuickHit] = []
    seen: set[int] = set()
    for hit in box.index.search(text, limit=limit, null_score=BotSettings.current().null_score):
        article = box.articles.get(hit.article_id)
        if article is None or article.id in seen or hit.score < QUICK_MIN_SCORE:
            continue
        seen.add(article.id)
        hits.append(QuickHit(article.id, article.title, article.body, article.language, article.visibility,
                             float(hit.score)))
    if len(hits) < limit:
        extra = (Article.objects.filter(SERVED, title__icontains=text).exclude(pk__in=seen)
                 .select_related("published").order_by("-helpful_count", "-id")[: limit - len(hits)])
        for article in extra:
            published = article.published
            if published is None:
                continue
            hits.append(QuickHit(article.pk, published.title, published.body, article.language, article.visibility,
                                 0.0))
    return hits


# --- the consultation library (咨询库) ----------------------------------------------------------------------


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(month.replace(day=1), time.min))
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, timezone.make_aware(datetime.combine(following, time.min))


def parse_month(raw: str | None) -> date | None:
    """"2026-11" → 1 Nov 2026; None when it is not a month."""
    raw = str(raw or "").strip()
    try:
        year, month = raw.split("-")
        if len(year) == 4 and len(month) <= 2:
            return date(int(year), int(month), 1)
    except ValueError:
        return None
    return None


@dataclass(slots=True)
class LibraryReport:
    month: date
    department_id: int | None
    total: int = 0
    answered: int = 0
    rated: int = 0
    helpful: int = 0
    top_articles: list[dict[str, Any]] = field(default_factory=list)
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    departments: list[dict[str, Any]] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.total if self.total else None  # a fraction

    @property
    def helpful_rate(self) -> float | None:
        return self.helpful / self.rated if self.rated else None  # a fraction


def library_report(*, month: date, department_id: int | None = None, limit: int = 20) -> LibraryReport:
    """The questions asked in `month` (of one department's articles when given): totals, the articles most
    matched with their answered share and helpful rate, the questions asked most often without an answer,
    and the month per department and per channel. Fractions, not percentages."""
    start, end = month_bounds(month)
    qs = Consultation.objects.filter(asked_at__gte=start, asked_at__lt=end)
    if department_id:
        qs = qs.filter(department_id=department_id)
    report = LibraryReport(month=month, department_id=department_id)
    totals = qs.aggregate(total=Count("id"), answered=Count("id", filter=Q(answered=True)),
                          rated=Count("id", filter=Q(helpful__isnull=False)),
                          helpful=Count("id", filter=Q(helpful=True)))
    report.total, report.answered = totals["total"], totals["answered"]
    report.rated, report.helpful = totals["rated"], totals["helpful"]
    for row in (qs.filter(article__isnull=False).values("article_id", "article__title", "article__department__name")
                .annotate(times=Count("id"), answered=Count("id", filter=Q(answered=True)),
                          rated=Count("id", filter=Q(helpful__isnull=False)),
                          helpful=Count("id", filter=Q(helpful=True)))
                .order_by("-times", "article_id")[:limit]):
        report.top_articles.append({
            "article_id": row["article_id"], "title": row["article__title"],
            "department": row["article__department__name"] or "", "times": row["times"],
            "answered_share": row["answered"] / row["times"] if row["times"] else None,
            "helpful_rate": row["helpful"] / row["rated"] if row["rated"] else None})
    for row in (qs.filter(answered=False).values("question").annotate(times=Count("id"))
                .order_by("-times", "question")[:limit]):
        report.unanswered.append({"question": row["question"], "times": row["times"]})
    for row in (qs.values("department_id", "department__name")
                .annotate(times=Count("id"), answered=Count("id", filter=Q(answered=True)))
                .order_by("-times", "department__name")):
        report.departments.append({"department_id": row["department_id"], "name": row["department__name"] or "",
                                   "times": row["times"],
                                   "answered_share": row["answered"] / row["times"] if row["times"] else None})
    for row in qs.values("channel").annotate(times=Count("id")).order_by("-times", "channel"):
        report.channels.append({"channel": row["channel"], "times": row["times"]})
    return report
