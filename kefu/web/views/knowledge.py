"""The knowledge team's and agents' pages of the knowledge base (知识库): the article list, an article with its
versions and attachments, the editor, categories, the departments' intake form, gaps, the monthly consultation
library, the answer bot's settings and calibration, the suspected misfiled example questions, and the agents'
quick search. Reads come from kefu.knowledge.selectors, writes go through its services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.core.errors import ApplicationError
from kefu.core.policy import can, requires
from kefu.knowledge import selectors
from kefu.knowledge.choices import ArticleStatus, GapState, IntakeState, Language, SuspectState, Visibility
from kefu.knowledge.models import Article, Attachment, BotSettings, Category, Gap, IntakeSubmission, Suspect
from kefu.knowledge.permissions import KnowledgeRight
from kefu.knowledge.services import articles as article_services
from kefu.knowledge.services import attachments as attachment_services
from kefu.knowledge.services import categories as category_services
from kefu.knowledge.services import gaps as gap_services
from kefu.knowledge.services import intake as intake_services
from kefu.knowledge.services import suspects as suspect_services
from kefu.knowledge.services.calibration import BotSettingsData, bot_calibrate_soon, bot_settings_update
from kefu.knowledge.services.insight import gap_resolve
from kefu.web import knowledge_forms as forms
from kefu.web.views.common import application_error_status, form_errors_text, is_htmx

NAV = "knowledge"


def _departments() -> list[Any]:
    from kefu.accounts.models import Department

    return list(Department.objects.order_by("name").only("id", "name"))


def _article_or_404(article_id: int) -> Article:
    article = selectors.article_detail(article_id)
    if article is None:
        raise Http404
    return article


def _error_field(error: ApplicationError) -> str:
    return str((error.details or {}).get("field") or "")


# --- the article list -------------------------------------------------------------------------------------


@requires(KnowledgeRight.VIEW)
@require_GET
def article_list(request: HttpRequest) -> HttpResponse:
    found = selectors.article_filter(request.GET)
    paginator = Paginator(selectors.article_list(request.user, found), selectors.PAGE_SIZE)
    page = paginator.get_page(found.page)
    tabs = [("all", _("全部"), None)]
    counts = selectors.article_tab_counts(request.user)
    if can(request.user, KnowledgeRight.PUBLISH):
        tabs.append(("review", _("待审核"), counts["review"]))
    if can(request.user, KnowledgeRight.EDIT):
        tabs.append(("mine", _("我的草稿"), counts["mine"]))
    context = {
        "nav": NAV, "filters": found, "page": page, "tabs": [
            {"value": v, "label": label, "count": n, "link": urlencode(found.query(tab=v, page=""))}
            for v, label, n in tabs],
        "statuses": ArticleStatus.choices, "languages": Language.choices, "visibilities": Visibility.choices,
        "categories": selectors.category_rows(), "departments": _departments(),
        "page_query": urlencode(found.query()),
        "may_edit": can(request.user, KnowledgeRight.EDIT),
    }
    status = 422 if found.errors else 200
    if is_htmx(request) and request.headers.get("HX-Target") == "kb-results":
        return render(request, "web/knowledge/_results.html", context, status=status)
    return render(request, "web/knowledge/list.html", context, status=status)


# --- one article ------------------------------------------------------------------------------------------


def _actions(user: Any, article: Article) -> list[str]:
    """The lifecycle buttons the article's status and the user's rights allow."""
    edit, publish = can(user, KnowledgeRight.EDIT), can(user, KnowledgeRight.PUBLISH)
    out: list[str] = []
    if article.status == ArticleStatus.DRAFT:
        if edit:
            out.append("submit")
        if publish:
            out.append("publish")
    elif article.status == ArticleStatus.REVIEW and publish:
        out += ["publish", "return"]
    if article.status == ArticleStatus.ARCHIVED:
        if publish:
            out.append("unarchive")
    elif publish and (article.is_live or article.status == ArticleStatus.PUBLISHED):
        out.append("archive")
    if publish and article.published_id is None and article.published_at is None:
        out.append("delete")
    return out


@requires(KnowledgeRight.VIEW)
@require_GET
def article_detail(request: HttpRequest, article_id: int) -> HttpResponse:
    article = _article_or_404(article_id)
    latest = article.latest
    return render(request, "web/knowledge/article.html", {
        "nav": NAV, "article": article, "version": latest,
        "questions": selectors.version_questions(article.latest_id),
        "versions": selectors.article_versions(article), "attachments": selectors.article_attachments(article),
        "actions": _actions(request.user, article), "may_edit": can(request.user, KnowledgeRight.EDIT),
        "attachment_max_mb": _max_mb(),
    })


def _max_mb() -> int:
    from django.conf import settings

    return int(settings.KEFU_ATTACHMENT_MAX_BYTES // (1024 * 1024))


def _initial(article: Article | None) -> dict[str, Any]:
    if article is None or article.latest is None:
        return {"language": Language.ZH, "visibility": Visibility.PUBLIC}
    latest = article.latest
    return {"title": latest.title, "body": latest.body, "spoken": latest.spoken, "tags": " ".join(latest.tags),
            "questions": "\n".join(selectors.version_questions(latest.pk)), "category": article.category_id,
            "department": article.department_id, "language": article.language, "visibility": article.visibility,
            "version": article.version}


def _gap_initial(request: HttpRequest) -> tuple[Gap | None, dict[str, Any]]:
    raw = str(request.GET.get("gap") or "")
    gap = Gap.objects.filter(pk=int(raw), state=GapState.OPEN).first() if raw.isdigit() and len(raw) < 10 else None
    if gap is None:
        return None, {}
    return gap, {"title": gap.question[:200], "questions": gap.question, "language": gap.language, "gap": gap.pk,
                 "note": _("补充知识缺口：%(q)s") % {"q": gap.question[:60]}}


def _save_article(request: HttpRequest, form: Any, article: Article | None) -> tuple[Article | None, str, str, int]:
    """(article, error message, error field, status)."""
    if not form.is_valid():
        first = next(iter(form.errors), "")
        return None, form_errors_text(form), first, 422
    d = form.cleaned_data
    data = article_services.ArticleData(
        title=d["title"], body=d["body"], language=d["language"], questions=form.question_lines(),
        spoken=d.get("spoken") or "", tags=form.tag_list(), category_id=d.get("category"),
        department_id=d.get("department"), visibility=d["visibility"], note=d.get("note") or "")
    try:
        if article is None:
            saved = article_services.article_create(actor=request.user, data=data)
            gap = Gap.objects.filter(pk=d["gap"], state=GapState.OPEN).first() if d.get("gap") else None
            if gap is not None and can(request.user, KnowledgeRight.INSIGHT):
                gap_resolve(actor=request.user, gap=gap, article=saved)
        else:
            saved = article_services.article_update(actor=request.user, article=article, data=data,
                                                    expected_version=d.get("version"))
    except ApplicationError as error:
        return None, error.message, _error_field(error), application_error_status(error)
    return saved, "", "", 200


def _editor(request: HttpRequest, form: Any, article: Article | None, error: str = "", field: str = "",
            status: int = 200) -> HttpResponse:
    return render(request, "web/knowledge/edit.html", {
        "nav": NAV, "article": article, "form": form, "error": error, "error_field": field,
        "conflict": status == 409, "categories": selectors.category_rows(), "departments": _departments(),
        "languages": Language.choices, "visibilities": Visibility.choices,
    }, status=status)


@requires(KnowledgeRight.EDIT)
def article_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = forms.ArticleForm(request.POST)
        saved, error, field, status = _save_article(request, form, None)
        if saved is not None:
            messages.success(request, _("文章已保存为草稿"))
            return redirect("web:kb_article", article_id=saved.pk)
        return _editor(request, form, None, error, field, status)
    _gap, initial = _gap_initial(request)
    return _editor(request, forms.ArticleForm(initial={**_initial(None), **initial}), None)


@requires(KnowledgeRight.EDIT)
def article_edit(request: HttpRequest, article_id: int) -> HttpResponse:
    article = _article_or_404(article_id)
    if request.method == "POST":
        form = forms.ArticleForm(request.POST)
        saved, error, field, status = _save_article(request, form, article)
        if saved is not None:
            number = saved.latest.number if saved.latest else 1
            messages.success(request, _("已保存为第 %(n)s 版（草稿）") % {"n": number})
            return redirect("web:kb_article", article_id=saved.pk)
        return _editor(request, form, article, error, field, status)
    return _editor(request, forms.ArticleForm(initial=_initial(article)), article)


ACTION_MESSAGES = {
    "submit": _("已提交审核"), "publish": _("已发布"), "return": _("已退回给作者"), "archive": _("已归档"),
    "unarchive": _("已恢复为草稿"), "delete": _("文章已删除"),
}


@requires(KnowledgeRight.EDIT)
@require_POST
def article_action(request: HttpRequest, article_id: int) -> HttpResponse:
    """A lifecycle step: submit, publish, return (with a note), archive, unarchive, delete. The service checks
    the right of each step."""
    article = _article_or_404(article_id)
    action = str(request.POST.get("action") or "")
    raw_version = str(request.POST.get("version") or "")
    expected = int(raw_version) if raw_version.isdigit() and len(raw_version) < 10 else None
    user = request.user
    try:
        if action == "submit":
            article_services.article_submit(actor=user, article=article, expected_version=expected)
        elif action == "publish":
            article_services.article_publish(actor=user, article=article, expected_version=expected)
        elif action == "return":
            article_services.article_return(actor=user, article=article, note=str(request.POST.get("note") or ""),
                                            expected_version=expected)
        elif action == "archive":
            article_services.article_archive(actor=user, article=article, expected_version=expected)
        elif action == "unarchive":
            article_services.article_unarchive(actor=user, article=article, expected_version=expected)
        elif action == "delete":
            article_services.article_delete(actor=user, article=article)
            messages.success(request, ACTION_MESSAGES["delete"])
            return redirect("web:kb_list")
        else:
            messages.error(request, _("操作：无效的值"))
            return redirect("web:kb_article", article_id=article.pk)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, ACTION_MESSAGES[action])
    return redirect("web:kb_article", article_id=article.pk)


@requires(KnowledgeRight.VIEW)
@require_GET
def article_version(request: HttpRequest, article_id: int, number: int) -> HttpResponse:
    """One saved version: its text, its questions, and the body's changes from the version before it."""
    article = _article_or_404(article_id)
    version = selectors.version_of(article, number)
    if version is None:
        raise Http404
    previous, diff = selectors.version_diff(article, number)
    return render(request, "web/knowledge/version.html", {
        "nav": NAV, "article": article, "version": version, "previous": previous, "diff": diff,
        "questions": selectors.version_questions(version.pk), "may_edit": can(request.user, KnowledgeRight.EDIT),
        "is_latest": version.pk == article.latest_id, "is_published": version.pk == article.published_id,
        "changed": any(line.kind != "same" for line in diff),
    })


@requires(KnowledgeRight.EDIT)
@require_POST
def article_version_restore(request: HttpRequest, article_id: int, number: int) -> HttpResponse:
    article = _article_or_404(article_id)
    raw = str(request.POST.get("version") or "")
    try:
        saved = article_services.article_restore(actor=request.user, article=article, number=number,
                                                 expected_version=int(raw) if raw.isdigit() and len(raw) < 10 else None)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已恢复第 %(n)s 版的内容，保存为第 %(m)s 版（草稿）")
                         % {"n": number, "m": saved.latest.number if saved.latest else number})
    return redirect("web:kb_article", article_id=article.pk)


# --- attachments --------------------------------------------------------------------------------------------


@requires(KnowledgeRight.EDIT)
@require_POST
def attachment_upload(request: HttpRequest, article_id: int) -> HttpResponse:
    article = _article_or_404(article_id)
    try:
        attachment_services.attachment_add(actor=request.user, article=article, upload=request.FILES.get("file"))
    except ApplicationError as error:
        messages.error(request, _("附件：%(m)s") % {"m": error.message})
    else:
        messages.success(request, _("附件已上传"))
    return redirect(reverse("web:kb_article", kwargs={"article_id": article.pk}) + "#attachments")


@requires(KnowledgeRight.VIEW)
@require_GET
def attachment_download(request: HttpRequest, kb_attachment_id: int) -> FileResponse:
    attachment = Attachment.objects.filter(pk=kb_attachment_id).first()
    if attachment is None:
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    inline = attachment.content_type.startswith("image/") or attachment.content_type == "application/pdf"
    response = FileResponse(handle, as_attachment=not inline, filename=attachment.name,
                            content_type=attachment.content_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


@requires(KnowledgeRight.EDIT)
@require_POST
def attachment_delete(request: HttpRequest, kb_attachment_id: int) -> HttpResponse:
    attachment = Attachment.objects.filter(pk=kb_attachment_id).first()
    if attachment is None:
        raise Http404
    try:
        attachment_services.attachment_delete(actor=request.user, attachment=attachment)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("附件“%(n)s”已删除") % {"n": attachment.name})
    return redirect(reverse("web:kb_article", kwargs={"article_id": attachment.article_id}) + "#attachments")


# --- categories ---------------------------------------------------------------------------------------------


def _category_data(form: Any) -> category_services.CategoryData:
    d = form.cleaned_data
    return category_services.CategoryData(
        name=d["name"], slug=d["slug"], name_en=d.get("name_en") or "", description=d.get("description") or "",
        parent_id=d.get("parent"), position=d.get("position") or 0, is_public=bool(d.get("is_public")))


def _category_page(request: HttpRequest, form: Any, category: Category | None, error: str = "",
                   status: int = 200) -> HttpResponse:
    return render(request, "web/knowledge/categories.html", {
        "nav": NAV, "rows": selectors.category_rows(), "form": form, "editing": category, "error": error,
    }, status=status)


@requires(KnowledgeRight.PUBLISH)
def category_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = forms.CategoryForm(request.POST)
        if not form.is_valid():
            return _category_page(request, form, None, form_errors_text(form), 422)
        try:
            category_services.category_create(actor=request.user, data=_category_data(form))
        except ApplicationError as error:
            return _category_page(request, form, None, error.message, application_error_status(error))
        messages.success(request, _("分类已添加"))
        return redirect("web:kb_categories")
    return _category_page(request, forms.CategoryForm(initial={"is_public": True}), None)


@requires(KnowledgeRight.PUBLISH)
def category_edit(request: HttpRequest, kb_category_id: int) -> HttpResponse:
    category = Category.objects.filter(pk=kb_category_id).first()
    if category is None:
        raise Http404
    if request.method == "POST":
        form = forms.CategoryForm(request.POST)
        if not form.is_valid():
            return _category_page(request, form, category, form_errors_text(form), 422)
        try:
            category_services.category_update(actor=request.user, category=category, data=_category_data(form),
                                              expected_version=form.cleaned_data.get("version"))
        except ApplicationError as error:
            return _category_page(request, form, category, error.message, application_error_status(error))
        messages.success(request, _("分类已保存"))
        return redirect("web:kb_categories")
    return _category_page(request, forms.CategoryForm(initial={
        "name": category.name, "name_en": category.name_en, "slug": category.slug,
        "description": category.description, "parent": category.parent_id, "position": category.position,
        "is_public": category.is_public, "version": category.version}), category)


@requires(KnowledgeRight.PUBLISH)
@require_POST
def category_move(request: HttpRequest, kb_category_id: int) -> HttpResponse:
    category = Category.objects.filter(pk=kb_category_id).first()
    if category is None:
        raise Http404
    try:
        category_services.category_move(actor=request.user, category=category,
                                        step=-1 if request.POST.get("step") == "up" else 1)
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("web:kb_categories")


@requires(KnowledgeRight.PUBLISH)
@require_POST
def category_delete(request: HttpRequest, kb_category_id: int) -> HttpResponse:
    category = Category.objects.filter(pk=kb_category_id).first()
    if category is None:
        raise Http404
    try:
        category_services.category_delete(actor=request.user, category=category)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("分类“%(c)s”已删除") % {"c": category.name})
    return redirect("web:kb_categories")


# --- the intake form (信息采集表) ---------------------------------------------------------------------------


@requires(KnowledgeRight.INTAKE)
def intake(request: HttpRequest) -> HttpResponse:
    """A department's form and its own submissions with their state."""
    form = forms.IntakeForm(request.POST or None, initial={"language": Language.ZH})
    error = field = ""
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            error, field, status = form_errors_text(form), next(iter(form.errors), ""), 422
        else:
            d = form.cleaned_data
            try:
                intake_services.intake_submit(actor=request.user, data=intake_services.IntakeData(
                    questions=d["questions"], answer=d["answer"], language=d["language"],
                    category_id=d.get("category"), note=d.get("note") or "", department_id=d.get("department")))
            except ApplicationError as error_:
                error, field, status = error_.message, _error_field(error_), application_error_status(error_)
            else:
                messages.success(request, _("已提交给知识库团队，处理结果会显示在下方"))
                return redirect("web:kb_intake")
    return render(request, "web/knowledge/intake.html", {
        "nav": NAV, "form": form, "error": error, "error_field": field,
        "submissions": list(selectors.intake_mine(request.user)[:100]),
        "categories": selectors.category_rows(), "languages": Language.choices,
        "departments": _departments() if getattr(request.user, "department_id", None) is None else None,
        "may_review": can(request.user, KnowledgeRight.PUBLISH),
    }, status=status)


@requires(KnowledgeRight.PUBLISH)
@require_GET
def intake_queue(request: HttpRequest) -> HttpResponse:
    state = str(request.GET.get("state") or IntakeState.SUBMITTED)
    if state not in IntakeState.values:
        state = IntakeState.SUBMITTED
    return render(request, "web/knowledge/intake_queue.html", {
        "nav": NAV, "rows": list(selectors.intake_queue(state)[:200]), "state": state,
        "states": IntakeState.choices, "counts": selectors.intake_counts(),
    })


@requires(KnowledgeRight.PUBLISH)
@require_POST
def intake_decide(request: HttpRequest, intake_id: int) -> HttpResponse:
    submission = IntakeSubmission.objects.filter(pk=intake_id).first()
    if submission is None:
        raise Http404
    action = str(request.POST.get("action") or "")
    reply = str(request.POST.get("reply") or "")
    try:
        if action == "accept":
            done = intake_services.intake_accept(actor=request.user, submission=submission, reply=reply)
            messages.success(request, _("已采用，草稿文章已生成"))
            return redirect("web:kb_article", article_id=done.article_id)
        if action == "reject":
            intake_services.intake_reject(actor=request.user, submission=submission, reply=reply)
            messages.success(request, _("已标记为不采用，并回复了提交人"))
        else:
            messages.error(request, _("操作：无效的值"))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("web:kb_intake_queue")


# --- gaps ---------------------------------------------------------------------------------------------------


def _state_page(request: HttpRequest, states: Any, rows: Any) -> tuple[str, Any]:
    """The list tab asked for (?state=, the first state when missing or unknown) and its page of `rows(state)`,
    30 a page (?page=, the first when not a number)."""
    state = str(request.GET.get("state") or "")
    if state not in states.values:
        state = states.values[0]
    raw = str(request.GET.get("page") or "")
    return state, Paginator(rows(state), 30).get_page(raw if raw.isdigit() else 1)


@requires(KnowledgeRight.INSIGHT)
@require_GET
def gap_list(request: HttpRequest) -> HttpResponse:
    state, page = _state_page(request, GapState, selectors.gap_list)
    return render(request, "web/knowledge/gaps.html", {
        "nav": NAV, "page": page, "state": state, "states": GapState.choices,
        "articles": selectors.served_article_choices(),
        "may_edit": can(request.user, KnowledgeRight.EDIT),
    })


@requires(KnowledgeRight.INSIGHT)
@require_POST
def gap_act(request: HttpRequest, gap_id: int) -> HttpResponse:
    gap = Gap.objects.filter(pk=gap_id).first()
    if gap is None:
        raise Http404
    action = str(request.POST.get("action") or "")
    try:
        if action == "dismiss":
            gap_resolve(actor=request.user, gap=gap, article=None, dismiss=True)
            messages.success(request, _("已忽略"))
        elif action == "question":
            raw = str(request.POST.get("article") or "")
            article = Article.objects.select_related("latest").filter(pk=int(raw)).first() if (
                raw.isdigit() and len(raw) < 10) else None
            gap_services.gap_add_question(actor=request.user, gap=gap, article=article)
            messages.success(request, _("已把问题加为相似问法，文章生成了新的草稿版本，请提交审核后发布"))
        else:
            messages.error(request, _("操作：无效的值"))
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(reverse("web:kb_gaps") + (f"?state={request.POST.get('state')}"
                                             if request.POST.get("state") in GapState.values else ""))


# --- the consultation library (咨询库) ----------------------------------------------------------------------


@requires(KnowledgeRight.INSIGHT)
@require_GET
def library(request: HttpRequest) -> HttpResponse:
    from kefu.knowledge.services.library import library_workbook

    error = ""
    today = timezone.localdate()
    month = selectors.parse_month(request.GET.get("month")) if request.GET.get("month") else today.replace(day=1)
    if month is None:
        error = _("月份：请按 年-月 填写，例如 %(m)s") % {"m": today.strftime("%Y-%m")}
        month = today.replace(day=1)
    departments = _departments()
    raw = str(request.GET.get("department") or "")
    department = next((d for d in departments if str(d.pk) == raw), None) if raw else None
    if raw and department is None:
        error = _("部门：无效的值")
    report = selectors.library_report(month=month, department_id=department.pk if department else None)
    if request.GET.get("format") == "xlsx" and not error:
        content = library_workbook(report, department_name=department.name if department else "")
        response = HttpResponse(
            content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        name = f"kefu-consultations-{month.strftime('%Y-%m')}{f'-{department.pk}' if department else ''}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    months = _recent_months(today)
    return render(request, "web/knowledge/library.html", {
        "nav": NAV, "report": report, "month": month.strftime("%Y-%m"), "months": months,
        "departments": departments, "department": department, "error": error,
        "export_query": urlencode({"month": month.strftime("%Y-%m"), "department": department.pk if department else "",
                                   "format": "xlsx"}),
    }, status=422 if error else 200)


def _recent_months(today: Any, count: int = 12) -> list[str]:
    """"2026-12", "2026-11", … back from this month."""
    out, first = [], today.replace(day=1)
    for _i in range(count):
        out.append(first.strftime("%Y-%m"))
        first = (first - timedelta(days=1)).replace(day=1)
    return out


# --- agents' quick search -----------------------------------------------------------------------------------


@requires(KnowledgeRight.VIEW)
@require_GET
def quick_search(request: HttpRequest) -> HttpResponse:
    """The header's knowledge search: served articles (internal ones too) matching the text, as a fragment."""
    text = str(request.GET.get("q") or "")[:200]
    hits = selectors.quick_search(text) if text.strip() else []
    return render(request, "web/knowledge/_quick_results.html", {"hits": hits, "q": text.strip()})


# --- the answer bot: settings and calibration (机器人设置) ----------------------------------------------------


def _bot_page(request: HttpRequest, bot: BotSettings, *, form: dict[str, Any] | None = None, error: str = "",
              field: str = "", status: int = 200) -> HttpResponse:
    return render(request, "web/knowledge/bot.html", {
        "nav": NAV, "bot": bot, "calibration": bot.calibration or {}, "error": error, "field": field,
        "form": form or {"enabled": bot.enabled, "name": bot.name,
                         "precision_target": f"{bot.precision_target * 100:g}", "version": bot.version},
        "suspects_open": selectors.suspect_counts()[SuspectState.OPEN],
    }, status=status)


@requires(KnowledgeRight.BOT_MANAGE)
def bot_settings(request: HttpRequest) -> HttpResponse:
    bot = BotSettings.current()
    if request.method != "POST":
        return _bot_page(request, bot)
    raw = {"enabled": request.POST.get("enabled") == "on", "name": str(request.POST.get("name") or ""),
           "precision_target": str(request.POST.get("precision_target") or "").strip(),
           "version": str(request.POST.get("version") or "")}
    try:
        target = float(raw["precision_target"].rstrip("%")) / 100
    except ValueError:
        return _bot_page(request, bot, form=raw, error=_("准确率目标：请填写数字，例如 90"),
                         field="precision_target", status=422)
    if not raw["version"].isdigit():
        return _bot_page(request, bot, form=raw, error=_("页面已过期，请刷新后再保存"), field="version", status=409)
    try:
        bot_settings_update(actor=request.user, expected_version=int(raw["version"]), data=BotSettingsData(
            enabled=raw["enabled"], name=raw["name"], precision_target=target))
    except ApplicationError as error:
        return _bot_page(request, BotSettings.current(), form=raw, error=error.message,
                         field=_error_field(error), status=application_error_status(error))
    messages.success(request, _("已保存"))
    return redirect("web:kb_bot")


@requires(KnowledgeRight.BOT_MANAGE)
@require_POST
def bot_calibrate_now(request: HttpRequest) -> HttpResponse:
    try:
        bot_calibrate_soon(actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("已开始重新校准，通常一两分钟内完成，刷新本页即可看到新的结果"))
    return redirect("web:kb_bot")


# --- suspected misfiled example questions (疑似归错的例句) ---------------------------------------------------


@requires(KnowledgeRight.EDIT)
@require_GET
def suspect_list(request: HttpRequest) -> HttpResponse:
    state, page = _state_page(request, SuspectState, selectors.suspect_list)
    bot = BotSettings.current()
    counts = selectors.suspect_counts()
    return render(request, "web/knowledge/suspects.html", {
        "nav": NAV, "page": page, "state": state,
        "states": [(value, label, counts[value]) for value, label in SuspectState.choices],
        "bot": bot, "calibration": bot.calibration or {},
    })


@requires(KnowledgeRight.EDIT)
@require_POST
def suspect_act(request: HttpRequest, kb_suspect_id: int) -> HttpResponse:
    suspect = Suspect.objects.filter(pk=kb_suspect_id).first()
    if suspect is None:
        raise Http404
    action = str(request.POST.get("action") or "")
    try:
        if action == "move":
            done = suspect_services.suspect_move(actor=request.user, suspect=suspect)
            messages.success(request, _("已把例句移到“%(t)s”，两篇文章都生成了新的草稿版本，请提交审核后发布") % {
                "t": done.suggested.title})
        elif action == "keep":
            suspect_services.suspect_keep(actor=request.user, suspect=suspect)
            messages.success(request, _("已确认这条例句没有归错"))
        else:
            messages.error(request, _("操作：无效的值"))
    except ApplicationError as error:
        messages.error(request, error.message)
    page = str(request.POST.get("page") or "")
    return redirect(reverse("web:kb_suspects") + (f"?page={page}" if page.isdigit() else ""))
