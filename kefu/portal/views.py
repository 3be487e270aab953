"""The portal's pages under /help/<lang>/ (lang: zh or en): home, search, categories, articles with "was this
helpful?", the web form that opens a work order, the order-status lookup; /help/ sends a visitor to their
language, /help/sitemap.xml and /robots.txt are for search engines.

Everything is public and server-rendered (forms post and redirect; HTMX only improves the feedback form). Pages and
searches are rate-limited per client address (`public.faq`), writes and lookups by their own limits
(settings.KEFU_RATE_LIMITS: portal.*)."""

from __future__ import annotations

import functools
import logging
import math
import mimetypes
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core.errors import ApplicationError
from kefu.core.policy import PUBLIC, requires
from kefu.core.ratelimit import Verdict, client_address, hit
from kefu.knowledge.choices import AskChannel, GapSource
from kefu.portal import selectors, services
from kefu.portal.forms import ContactForm, FeedbackForm, LookupForm

log = logging.getLogger(__name__)

PAGES = "public.faq"
FEEDBACK = "portal.feedback"
WEB_ORDER = "portal.web_order"
LOOKUP_ADDRESS = "portal.lookup_address"
LOOKUP_ORDER = "portal.lookup_order"
SENT_SALT = "kefu.portal.sent"
SENT_MAX_AGE = 3600  # seconds the confirmation page of a submitted form shows its order number
QUERY_MAX = 200
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain"}


# --- the frame of every page ---------------------------------------------------------------------------------


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _too_often(retry_after: int) -> str:
    n = _minutes(retry_after)
    return ngettext("提交过于频繁，请 %(n)s 分钟后再试", "提交过于频繁，请 %(n)s 分钟后再试", n) % {"n": n}


def _throttled_page(request: HttpRequest, lang: str, verdict: Verdict) -> HttpResponse:
    response = _page(request, lang, "portal/throttled.html", {
        "minutes": _minutes(verdict.retry_after), "title": _("请求过于频繁")}, status=429, index=False)
    response["Retry-After"] = str(verdict.retry_after)
    return response


def portal_page(view: Any) -> Any:
    """Public, in the path's language, counted against the pages' rate limit (per client address)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, lang: str, *args: Any, **kwargs: Any) -> HttpResponse:
        with translation.override(selectors.language_of(lang)):
            verdict = hit(PAGES, client_address(request))
            if not verdict.allowed:
                return _throttled_page(request, lang, verdict)
            response: HttpResponse = view(request, lang, *args, **kwargs)
        response["Content-Language"] = selectors.language_of(lang)
        return response

    return requires(PUBLIC)(wrapper)


def _alternates(request: HttpRequest, route: str, kwargs: dict[str, Any]) -> dict[str, str]:
    """The page's address in each language (for hreflang and the language switch)."""
    return {lang: request.build_absolute_uri(reverse(route, kwargs={**kwargs, "lang": lang}))
            for lang in selectors.LANGUAGES}


def _page(request: HttpRequest, lang: str, template: str, context: dict[str, Any], *, status: int = 200,
          route: str | None = None, kwargs: dict[str, Any] | None = None, switch: str | None = None,
          index: bool = True) -> HttpResponse:
    """Render a portal page. `route` + `kwargs`: the page exists in both languages (hreflang alternates, the
    switch goes to the same page); otherwise `switch` is where the other language's link goes (its home)."""
    other = "en" if lang == "zh" else "zh"
    alternates = _alternates(request, route, kwargs or {}) if route else {}
    canonical = alternates.get(lang) or request.build_absolute_uri(request.path)
    context = {
        "lang": lang, "other_lang": other, "language": selectors.language_of(lang),
        "html_lang": "en" if lang == "en" else "zh-Hans",
        "alternates": [(selectors.language_of(code), url) for code, url in alternates.items()],
        "x_default": alternates.get("zh"),
        "canonical": canonical,
        "switch_url": alternates.get(other) or switch or reverse("portal:home", kwargs={"lang": other}),
        "chat_code": selectors.chat_code(),
        "noindex": not index,
        **context,
    }
    return render(request, template, context, status=status)


def _fragment(lang: str) -> dict[str, Any]:
    """What a piece of a page (an HTMX answer) needs of the page's context."""
    return {"lang": lang, "language": selectors.language_of(lang), "chat_code": selectors.chat_code()}


# --- home, search, categories, articles ----------------------------------------------------------------------


@require_GET
@requires(PUBLIC)
def root(request: HttpRequest) -> HttpResponse:
    """/help/ → /help/zh/ or /help/en/ by the browser's Accept-Language (Chinese unless English comes first)."""
    lang = "zh"
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            break
        if tag.startswith("en"):
            lang = "en"
            break
    response = redirect("portal:home", lang=lang)
    patch_vary_headers(response, ["Accept-Language"])
    return response


@require_GET
@portal_page
def home(request: HttpRequest, lang: str) -> HttpResponse:
    language = selectors.language_of(lang)
    response = _page(request, lang, "portal/home.html", {
        "categories": selectors.public_categories(language),
        "popular": selectors.popular_articles(language),
        "title": _("帮助中心"),
        "description": _("搜索常见问题的答案，在线提交工单、查询工单进度，或与客服在线交流。"),
    }, route="portal:home")
    patch_cache_control(response, public=True, max_age=60)
    return response


@require_GET
@portal_page
def search(request: HttpRequest, lang: str) -> HttpResponse:
    """Results of the served public articles, the page's language first. Each search is a consultation
    (channel portal); one without a confident answer is noted as a gap for the knowledge team."""
    from kefu.knowledge.services.insight import consultation_record, gap_note

    language = selectors.language_of(lang)
    question = " ".join(str(request.GET.get("q") or "").split())[:QUERY_MAX]
    found = selectors.search(question, language) if question else None
    if found is not None:
        try:
            consultation_record(question=question, language=language, channel=AskChannel.PORTAL,
                                article_id=found.best_article_id, confidence=found.confidence,
                                answered=found.confident)
            if not found.confident:
                gap_note(question=question, language=language, source=GapSource.NO_RESULT,
                         best_article_id=found.best_article_id, confidence=found.confidence)
        except ApplicationError:
            log.warning("portal search not recorded", exc_info=True)
    response = _page(request, lang, "portal/search.html", {
        "question": question, "found": found,
        "title": _("“%(q)s”的搜索结果") % {"q": question} if question else _("搜索帮助"),
        "description": _("在帮助中心搜索常见问题的答案。"),
    }, route="portal:search", index=False)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@portal_page
def category(request: HttpRequest, lang: str, category_slug: str) -> HttpResponse:
    found = selectors.public_category(category_slug)
    if found is None:
        raise Http404
    language = selectors.language_of(lang)
    label = found.label(language)
    response = _page(request, lang, "portal/category.html", {
        "category": found, "label": label, "articles": selectors.category_articles(found, language),
        "crumbs": selectors.breadcrumb(found, language), "title": label,
        "description": (found.description if lang == "zh" and found.description
                        else _("%(c)s：常见问题与解答") % {"c": label}),
    }, route="portal:category", kwargs={"category_slug": found.slug})
    patch_cache_control(response, public=True, max_age=60)
    return response


def _article_context(article: Any, lang: str) -> dict[str, Any]:
    language = article.language
    published = article.published
    return {
        "article": article, "text": published, "paragraphs": selectors.answer_paragraphs(published.body),
        "crumbs": selectors.breadcrumb(article.category, language),
        "related": selectors.related_articles(article), "files": selectors.article_attachments(article),
        "title": published.title,
        "description": selectors.snippet(published.body, "", 150),
    }


@require_GET
@portal_page
def article(request: HttpRequest, lang: str, public_article_id: int) -> HttpResponse:
    """A served public article in its own language (another language's path redirects there); every reading
    adds one to its view counter."""
    found = selectors.public_article(public_article_id)
    if found is None:
        raise Http404
    own = selectors.PATH_LANGUAGE.get(found.language, "zh")
    if own != lang:
        return HttpResponseRedirect(reverse("portal:article", kwargs={"lang": own,
                                                                      "public_article_id": found.pk}))
    state = request.GET.get("feedback", "")
    if not state:  # coming back from the feedback form is not another reading
        services.article_viewed(article_id=found.pk)
    switch = (reverse("portal:category", kwargs={"lang": "en" if lang == "zh" else "zh",
                                                 "category_slug": found.category.slug})
              if found.category is not None else None)
    response = _page(request, lang, "portal/article.html", {
        **_article_context(found, lang), "feedback_state": state if state in ("thanks", "sorry") else "",
        "form": FeedbackForm(),
    }, switch=switch)
    response["Cache-Control"] = "no-cache"  # its feedback form carries a CSRF token
    return response


@require_POST
@portal_page
def feedback(request: HttpRequest, lang: str, public_article_id: int) -> HttpResponse:
    """"这篇文章对您有帮助吗？" — recorded for the article (channel portal). Without JavaScript the form posts
    and is redirected back to the article (POST-redirect-GET); with HTMX the feedback block is swapped."""
    from kefu.knowledge.services.insight import feedback_record

    found = selectors.public_article(public_article_id)
    if found is None or selectors.PATH_LANGUAGE.get(found.language) != lang:
        raise Http404
    htmx = request.headers.get("HX-Request") == "true"
    form = FeedbackForm(request.POST)
    verdict = hit(FEEDBACK, client_address(request))
    problem, status = "", 200
    if not verdict.allowed:
        problem = _too_often(verdict.retry_after)
        status = 429
    elif not form.is_valid():
        problem = " ".join(str(e) for errors in form.errors.values() for e in errors)
        status = 400
    else:
        helpful = form.cleaned_data["helpful"] == "yes"
        try:
            feedback_record(article_id=found.pk, helpful=helpful, channel=AskChannel.PORTAL,
                            comment=form.cleaned_data.get("comment") or "")
        except ApplicationError as exc:
            problem, status = exc.message, 400
        else:
            state = "thanks" if helpful else "sorry"
            if htmx:
                return render(request, "portal/_feedback.html", {
                    **_fragment(lang), "article": found, "feedback_state": state, "form": FeedbackForm()})
            target = reverse("portal:article", kwargs={"lang": lang, "public_article_id": found.pk})
            return HttpResponseRedirect(f"{target}?{urlencode({'feedback': state})}#feedback")
    if htmx:  # swapped in place with the message: htmx ignores error statuses
        return render(request, "portal/_feedback.html", {
            **_fragment(lang), "article": found, "problem": problem, "form": form})
    response = _page(request, lang, "portal/article.html", {
        **_article_context(found, lang), "problem": problem, "form": form}, status=status, index=False)
    if status == 429:
        response["Retry-After"] = str(verdict.retry_after)
    return response


@require_GET
@requires(PUBLIC)
def attachment(request: HttpRequest, public_file_id: int) -> HttpResponse:
    """A file of a served public article (any other: 404), cacheable for an hour."""
    found = selectors.public_attachment(public_file_id)
    if found is None:
        raise Http404
    try:
        handle = found.file.open("rb")
    except (OSError, ValueError):
        raise Http404 from None
    content_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type, filename=found.name,
                            as_attachment=content_type not in INLINE_TYPES)
    response["Cache-Control"] = "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response._csp_replace = {"default-src": ["'none'"], "img-src": ["'self'"],  # type: ignore[attr-defined]
                             "style-src": ["'unsafe-inline'"], "sandbox": [""]}
    return response


# --- the web form --------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_page
def contact(request: HttpRequest, lang: str) -> HttpResponse:
    """留言 / 提交工单: a work order for the customer found by phone or e-mail (else a new one), all or nothing;
    then the confirmation page with its number (POST-redirect-GET)."""
    status, problem = 200, ""
    if request.method == "POST":
        form = ContactForm(request.POST)
        verdict = hit(WEB_ORDER, client_address(request))
        if not verdict.allowed:
            problem, status = _too_often(verdict.retry_after), 429
        elif form.is_bot:
            problem, status = _("提交失败，请稍后再试"), 400
        elif form.is_valid():
            data = form.cleaned_data
            order = services.WebOrder(name=data["name"], phone=data["phone"], email=data["email"],
                                      ticket_type=data["ticket_type"], subject=data["subject"],
                                      description=data["description"], language=selectors.language_of(lang))
            try:
                ticket = services.web_order_open(order=order, ip_address=client_address(request))
            except ApplicationError as exc:
                field = (exc.details or {}).get("field")
                form.add_error(field if field in form.fields else None, exc.message)
                status = 400
            else:
                token = signing.dumps(ticket.number, salt=SENT_SALT)
                target = reverse("portal:contact_sent", kwargs={"lang": lang})
                return HttpResponseRedirect(f"{target}?{urlencode({'t': token})}")
        else:
            status = 400
    else:
        form = ContactForm(initial={"ticket_type": request.GET.get("type", "")})
    response = _page(request, lang, "portal/contact.html", {
        "form": form, "problem": problem, "title": _("留言 / 提交工单"),
        "description": _("在线提交您的问题，我们会尽快处理并与您联系。"),
    }, status=status, route="portal:contact")
    response["Cache-Control"] = "no-store"
    if status == 429:
        response["Retry-After"] = str(verdict.retry_after)
    return response


@require_GET
@portal_page
def contact_sent(request: HttpRequest, lang: str) -> HttpResponse:
    try:
        number = signing.loads(str(request.GET.get("t") or ""), salt=SENT_SALT, max_age=SENT_MAX_AGE)
    except signing.BadSignature:
        return redirect("portal:contact", lang=lang)
    response = _page(request, lang, "portal/contact_sent.html", {
        "number": number, "title": _("工单已提交")}, index=False)
    response["Cache-Control"] = "no-store"
    return response


# --- the order-status lookup ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_page
def order(request: HttpRequest, lang: str) -> HttpResponse:
    """工单查询: the order number and the last four digits of the phone number on the order. A wrong combination
    gets one message whatever was wrong; tries are limited per client address and per order number."""
    status, problem, found = 200, "", None
    retry_after = 0
    if request.method == "POST":
        form = LookupForm(request.POST)
        if form.is_valid():
            number, address = form.cleaned_data["number"], client_address(request)
            verdicts = [hit(LOOKUP_ADDRESS, address), hit(LOOKUP_ORDER, number)]
            refused = [v for v in verdicts if not v.allowed]
            if refused:
                retry_after = max(v.retry_after for v in refused)
                n = _minutes(retry_after)
                problem = ngettext("尝试次数过多，请 %(n)s 分钟后再试", "尝试次数过多，请 %(n)s 分钟后再试",
                                   n) % {"n": n}
                status = 429
            else:
                found = services.order_lookup(number=number, suffix=form.cleaned_data["suffix"],
                                              ip_address=address)
                if found is None:
                    problem, status = _("工单号或手机号后四位不正确，请核对后再试。"), 400
        else:
            status = 400
    else:
        form = LookupForm()
    response = _page(request, lang, "portal/order.html", {
        "form": form, "problem": problem, "order": found, "title": _("工单查询"),
        "description": _("输入工单号和手机号后四位，查询工单处理进度。"),
    }, status=status, route="portal:order", index=found is None)
    response["Cache-Control"] = "no-store"
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


# --- for search engines --------------------------------------------------------------------------------------


@require_GET
@requires(PUBLIC)
def sitemap(request: HttpRequest) -> HttpResponse:
    """Both languages' home pages, the public categories and the served public articles."""
    urls = []
    for row in selectors.sitemap_rows():
        if row.kind == "home":
            path = reverse("portal:home", kwargs={"lang": row.lang})
        elif row.kind == "category":
            path = reverse("portal:category", kwargs={"lang": row.lang, "category_slug": row.key})
        else:
            path = reverse("portal:article", kwargs={"lang": row.lang, "public_article_id": row.key})
        urls.append({"loc": request.build_absolute_uri(path), "updated": row.updated})
    response = render(request, "portal/sitemap.xml", {"urls": urls}, content_type="application/xml; charset=utf-8")
    patch_cache_control(response, public=True, max_age=600)
    return response


@require_GET
@requires(PUBLIC)
def robots(request: HttpRequest) -> HttpResponse:
    """/robots.txt: the help centre may be crawled, nothing else (staff pages, the API, the chat)."""
    sitemap_url = request.build_absolute_uri(reverse("portal:sitemap"))
    text = "\n".join([
        "User-agent: *",
        "Allow: /help/",
        "Allow: /static/",
        "Disallow: /",
        f"Sitemap: {sitemap_url}",
        "",
    ])
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    patch_cache_control(response, public=True, max_age=3600)
    return response
