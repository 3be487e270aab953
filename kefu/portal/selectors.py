"""Reads of the portal: what customers may be shown of the knowledge base (served public articles only, in public
categories), its search, the chat channel to embed, the sitemap, and a work order's public side for the status
lookup. Nothing here knows who asks: the portal's visitors are anonymous, so every read is limited to what anybody
may see."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from kefu.conversations.choices import ChannelKind
from kefu.conversations.models import Channel
from kefu.knowledge.choices import Language, Visibility
from kefu.knowledge.models import SERVED, Article, Attachment, BotSettings, Category

# The language in the portal's paths → the article language (kefu.knowledge.choices.Language) and back.
LANGUAGES = {"zh": Language.ZH.value, "en": Language.EN.value}
PATH_LANGUAGE = {value: key for key, value in LANGUAGES.items()}
POPULAR = 6
RELATED = 5
RESULTS = 8
RESULT_FLOOR = 0.01  # a search hit below this confidence is noise, not a result
SNIPPET = 120  # characters of an answer shown under a search result


def language_of(lang: str) -> str:
    """The article language of a path language (`zh` → `zh-hans`)."""
    return LANGUAGES.get(lang, Language.ZH.value)


def public_articles(language: str | None = None) -> QuerySet[Article]:
    """Served public articles (their published text is what is shown), of `language` when given, in a public
    category or none."""
    qs = Article.objects.filter(SERVED, visibility=Visibility.PUBLIC).exclude(category__is_public=False)
    return qs.filter(language=language) if language else qs


# --- categories and articles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryRow:
    category: Category
    label: str
    count: int


def public_categories(language: str) -> list[CategoryRow]:
    """The public categories with their served public articles of `language` counted, in their order (one
    query). Categories without such an article are left out."""
    served = Q(articles__published__isnull=False, articles__visibility=Visibility.PUBLIC,
               articles__language=language) & ~Q(articles__status="archived")
    rows = (Category.objects.filter(is_public=True).annotate(served=Count("articles", filter=served))
            .filter(served__gt=0).order_by("position", "name"))
    return [CategoryRow(category=c, label=c.label(language), count=c.served) for c in rows]


def public_category(slug: str) -> Category | None:
    return Category.objects.filter(slug=str(slug)[:60], is_public=True).select_related("parent").first()


def popular_articles(language: str, limit: int = POPULAR) -> list[Article]:
    """The most helpful, then most read, served public articles of `language` (one query)."""
    return list(public_articles(language).select_related("published")
                .order_by("-helpful_count", "-view_count", "-published_at", "-id")[:limit])


def category_articles(category: Category, language: str) -> list[Article]:
    return list(public_articles(language).filter(category=category).select_related("published")
                .order_by("-helpful_count", "-view_count", "published__title", "id"))


def public_article(article_id: int) -> Article | None:
    """A served public article with its published text and category (None for drafts, internal or archived
    articles, and for articles of a category hidden from the portal)."""
    return public_articles().select_related("published", "category", "category__parent").filter(
        pk=article_id).first()


def related_articles(article: Article, limit: int = RELATED) -> list[Article]:
    """Other served public articles of the same category and language, most helpful first (one query)."""
    if article.category_id is None:
        return []
    return list(public_articles(article.language).filter(category_id=article.category_id)
                .exclude(pk=article.pk).select_related("published")
                .order_by("-helpful_count", "-view_count", "id")[:limit])


def article_attachments(article: Article) -> list[Attachment]:
    return list(Attachment.objects.filter(article=article).order_by("id"))


def public_attachment(attachment_id: int) -> Attachment | None:
    """A file of a served public article (None for any other article's)."""
    return (Attachment.objects.filter(pk=attachment_id, article__in=public_articles())
            .select_related("article").first())


def breadcrumb(category: Category | None, language: str) -> list[tuple[Category, str]]:
    """The category and its ancestors, outermost first (at most five levels)."""
    chain: list[tuple[Category, str]] = []
    seen: set[int] = set()
    while category is not None and category.pk not in seen and len(chain) < 5:
        seen.add(category.pk)
        chain.insert(0, (category, category.label(language)))
        category = category.parent
    return chain


def answer_paragraphs(body: str) -> list[list[str]]:
    """An answer as paragraphs (blank lines between them) of lines; the template escapes them."""
    paragraphs = re.split(r"\n\s*\n", (body or "").replace("\r\n", "\n").strip())
    return [[line.rstrip() for line in p.split("\n")] for p in paragraphs if p.strip()]


# --- search --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    article_id: int
    title: str
    snippet: str
    language: str
    score: float


@dataclass(frozen=True)
class Search:
    question: str
    results: list[Result] = field(default_factory=list)
    best_article_id: int | None = None
    confidence: float = 0.0
    threshold: float = 0.0

    @property
    def confident(self) -> bool:
        return self.best_article_id is not None and self.confidence >= self.threshold


def snippet(body: str, question: str, length: int = SNIPPET) -> str:
    """A piece of the answer around the first word of the question found in it, else its beginning."""
    text = " ".join((body or "").split())
    if len(text) <= length:
        return text
    lowered = text.casefold()
    start = 0
    for word in sorted(set(re.findall(r"\w{2,}", question.casefold())), key=len, reverse=True):
        at = lowered.find(word)
        if at >= 0:
            start = max(0, at - length // 4)
            break
    piece = text[start:start + length]
    return ("…" if start else "") + piece + ("…" if start + length < len(text) else "")


def search(question: str, language: str) -> Search:
    """The served public articles that answer `question`, the page's language first; the best hit's confidence
    and the bot's threshold say whether the knowledge base is sure of its answer."""
    from kefu.knowledge.index import served

    current = served("public")
    bot = BotSettings.current()
    threshold = bot.threshold
    hits = (current.index.search(question, language=language, limit=RESULTS * 2, null_score=bot.null_score)
            if current.articles else [])
    rows = []
    for hit in hits:
        article = current.articles.get(hit.article_id)
        if article is None or hit.score < RESULT_FLOOR:
            continue
        rows.append(Result(article_id=article.id, title=article.title, snippet=snippet(article.body, question),
                           language=article.language, score=hit.score))
    hidden = set(Article.objects.filter(pk__in=[r.article_id for r in rows], category__is_public=False)
                 .values_list("pk", flat=True)) if rows else set()
    rows = [r for r in rows if r.article_id not in hidden]
    rows.sort(key=lambda r: r.language != language)  # stable: the page's language first, each by score
    best = hits[0] if hits else None
    return Search(question=question, results=rows[:RESULTS], threshold=threshold,
                  best_article_id=best.article_id if best else None, confidence=best.score if best else 0.0)


# --- the chat widget -----------------------------------------------------------------------------------------


def chat_code() -> str | None:
    """The chat channel whose widget the portal embeds: KEFU_PORTAL_CHAT (a channel code) when set, else the
    first active chat channel; None when there is none."""
    wanted = getattr(settings, "KEFU_PORTAL_CHAT", "")
    channels = Channel.objects.filter(kind=ChannelKind.CHAT, is_active=True)
    if wanted:
        channels = channels.filter(code=wanted)
    return channels.order_by("id").values_list("code", flat=True).first()


# --- the sitemap ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SitemapRow:
    kind: str  # home, category, article
    lang: str  # path language
    key: str | int | None
    updated: datetime | None


def sitemap_rows() -> list[SitemapRow]:
    """Every page search engines may index: both languages' home pages, the public categories with articles in
    that language, and every served public article (in its own language). Two queries."""
    rows = [SitemapRow("home", lang, None, None) for lang in LANGUAGES]
    pairs = (public_articles().exclude(category__isnull=True).values_list("category__slug", "language")
             .distinct().order_by("category__slug", "language"))
    rows += [SitemapRow("category", PATH_LANGUAGE.get(language, "zh"), slug, None) for slug, language in pairs]
    for pk, language, published_at in (public_articles().order_by("id")
                                       .values_list("pk", "language", "published_at")):
        rows.append(SitemapRow("article", PATH_LANGUAGE.get(language, "zh"), pk, published_at))
    return rows


# --- the order-status lookup ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    kind: str  # created, status, reply, customer
    status: str = ""  # the status reached (created, status)
    status_label: str = ""
    body: str = ""  # a reply to the customer or the customer's own message


@dataclass(frozen=True)
class PublicOrder:
    number: str
    subject: str
    status: str
    status_label: str
    created_at: datetime
    updated_at: datetime
    updates: list[PublicUpdate]


def order_with_suffix(number: str, suffix: str) -> Any:
    """The work order of this number whose customer has a phone ending in `suffix` (None otherwise: a wrong
    number and a wrong suffix are alike to the caller). Two queries."""
    from kefu.customers.models import ContactPoint
    from kefu.tickets.models import Ticket

    ticket = Ticket.objects.filter(number=number).select_related("customer").first()
    if ticket is None or ticket.customer_id is None:
        return None
    owners = {ticket.customer_id}
    if ticket.customer is not None and ticket.customer.merged_into_id:
        owners.add(ticket.customer.merged_into_id)
    matches = ContactPoint.objects.filter(customer_id__in=owners, kind="phone", normalized__endswith=suffix)
    return ticket if matches.exists() else None


def order_exists(number: str) -> bool:
    from kefu.tickets.models import Ticket

    return Ticket.objects.filter(number=number).exists()


def _status_label(status: str) -> str:
    from kefu.tickets.choices import Status

    return str(Status(status).label) if status in Status.values else status


def public_order(ticket: Any) -> PublicOrder:
    """What the customer is shown of their order: its status, when it last changed, and the public side of its
    history — its opening, status changes, the replies written to them and their own messages; never internal
    notes, dispatches, assignments nor who did what. Two queries."""
    from kefu.tickets.choices import EventKind, MessageKind
    from kefu.tickets.models import TicketEvent, TicketMessage

    updates: list[PublicUpdate] = []
    for event in (TicketEvent.objects.filter(ticket=ticket, kind__in=[EventKind.CREATED, EventKind.STATUS])
                  .order_by("created_at", "id").only("kind", "to_status", "created_at")):
        if event.kind == EventKind.CREATED:
            updates.append(PublicUpdate(at=event.created_at, kind="created", status=event.to_status,
                                        status_label=_status_label(event.to_status)))
        elif event.to_status:
            updates.append(PublicUpdate(at=event.created_at, kind="status", status=event.to_status,
                                        status_label=_status_label(event.to_status)))
    for message in (TicketMessage.objects.filter(ticket=ticket, kind__in=[MessageKind.REPLY, MessageKind.CUSTOMER])
                    .order_by("created_at", "id").only("kind", "body", "created_at")):
        updates.append(PublicUpdate(at=message.created_at, body=message.body,
                                    kind="reply" if message.kind == MessageKind.REPLY else "customer"))
    updates.sort(key=lambda u: u.at, reverse=True)
    last = updates[0].at if updates else ticket.created_at
    return PublicOrder(number=ticket.number, subject=ticket.subject, status=ticket.status,
                       status_label=_status_label(ticket.status), created_at=ticket.created_at,
                       updated_at=max(last, ticket.created_at), updates=updates)
