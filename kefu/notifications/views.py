"""The notification centre (the bell's list, the page, marking read, preferences) and, for administrators, the
企业微信 group robots."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.models import Department, Team
from kefu.core.errors import ApplicationError
from kefu.core.policy import requires
from kefu.notifications import selectors, services
from kefu.notifications.models import WecomRobot
from kefu.notifications.permissions import NotificationRight


@requires(NotificationRight.OWN)
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    before = request.GET.get("before", "")
    rows = selectors.notice_rows(user=request.user, unread_only=unread_only,
                                 before_id=int(before) if before.isdigit() else None,
                                 limit=selectors.PAGE_SIZE + 1)
    more = len(rows) > selectors.PAGE_SIZE
    rows = rows[: selectors.PAGE_SIZE]
    return render(request, "notifications/list.html", {
        "nav": "notifications", "rows": rows, "unread_only": unread_only,
        "next_before": rows[-1].id if more and rows else None})


@requires(NotificationRight.OWN)
@require_GET
def notification_latest(request: HttpRequest) -> HttpResponse:
    """The bell's menu (htmx)."""
    return render(request, "notifications/_latest.html",
                  {"rows": selectors.notice_rows(user=request.user, limit=selectors.LATEST)})


@requires(NotificationRight.OWN)
@require_GET
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark read and go to what it is about."""
    try:
        notification = services.notification_mark_read(actor=request.user, notification_id=notification_id)
    except ApplicationError:
        raise Http404 from None
    link = notification.link
    if not link or not url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()}):
        return redirect("notifications:list")
    return redirect(link)


@requires(NotificationRight.OWN)
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(actor=request.user)
    messages.success(request, _("已将 %(n)s 条通知标为已读") % {"n": count})
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/")
                    else "notifications:list")


@requires(NotificationRight.OWN)
def notification_preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _channels, rows = selectors.preference_grid(user=request.user)
        changes = [services.PreferenceChange(kind=row.kind, channel=cell.channel,
                                             enabled=f"{row.kind}:{cell.channel}" in request.POST)
                   for row in rows for cell in row.cells if not cell.always]
        try:
            services.preferences_set(actor=request.user, changes=changes)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("通知设置已保存"))
        return redirect("notifications:preferences")
    channels, rows = selectors.preference_grid(user=request.user)
    return render(request, "notifications/preferences.html", {
        "nav": "notifications", "channels": channels, "rows": rows, "notes": selectors.channel_notes()})


# --- 企业微信 group robots (administrators) ---------------------------------------------------------------


def _robot_form_context(robot: WecomRobot | None, values: dict[str, Any], error: str = "",
                        field: str = "") -> dict[str, Any]:
    return {"robot": robot, "values": values, "error": error, "error_field": field, "nav": "admin",
            "teams": Team.objects.order_by("name"),
            "departments": Department.objects.filter(is_service_center=False).order_by("name")}


def _robot_data(request: HttpRequest) -> tuple[services.RobotData, dict[str, Any]]:
    values = {k: request.POST.get(k, "").strip() for k in ("name", "url", "team", "department", "version")}
    values["is_active"] = "is_active" in request.POST
    team = Team.objects.filter(pk=values["team"]).first() if values["team"].isdigit() else None
    department = (Department.objects.filter(pk=values["department"]).first()
                  if values["department"].isdigit() else None)
    return services.RobotData(name=values["name"], url=values["url"], team=team, department=department,
                              is_active=values["is_active"]), values


@requires(NotificationRight.CHANNELS_MANAGE)
def robot_list(request: HttpRequest) -> HttpResponse:
    robots = WecomRobot.objects.select_related("team", "department").order_by("name")
    return render(request, "notifications/robot_list.html", {"robots": robots, "nav": "admin"})


@requires(NotificationRight.CHANNELS_MANAGE)
def robot_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        data, values = _robot_data(request)
        try:
            services.robot_create(actor=request.user, data=data)
        except ApplicationError as exc:
            return render(request, "notifications/robot_form.html",
                          _robot_form_context(None, values, exc.message, exc.details.get("field", "")), status=422)
        messages.success(request, _("已添加机器人“%(name)s”") % {"name": data.name})
        return redirect("notifications:robot_list")
    return render(request, "notifications/robot_form.html", _robot_form_context(None, {"is_active": True}))


@requires(NotificationRight.CHANNELS_MANAGE)
def robot_edit(request: HttpRequest, robot_id: int) -> HttpResponse:
    robot = WecomRobot.objects.filter(pk=robot_id).first()
    if robot is None:
        raise Http404
    if request.method == "POST":
        if "delete" in request.POST:
            services.robot_delete(actor=request.user, robot=robot)
            messages.success(request, _("已删除机器人“%(name)s”") % {"name": robot.name})
            return redirect("notifications:robot_list")
        data, values = _robot_data(request)
        version = int(values["version"]) if values["version"].isdigit() else None
        try:
            services.robot_update(actor=request.user, robot=robot, data=data, expected_version=version)
        except ApplicationError as exc:
            return render(request, "notifications/robot_form.html",
                          _robot_form_context(robot, values, exc.message, exc.details.get("field", "")), status=422)
        messages.success(request, _("已保存"))
        return redirect("notifications:robot_list")
    values = {"name": robot.name, "url": robot.url, "team": str(robot.team_id or ""),
              "department": str(robot.department_id or ""), "is_active": robot.is_active,
              "version": robot.version}
    return render(request, "notifications/robot_form.html", _robot_form_context(robot, values))

