"""The administration's channel pages (/admin/channels/): the list of channels, and one channel's settings — its
name, the team whose inbox receives it, the routed queue its conversations wait in, the first-response target —
saved through `channel_update` (checked, audited, refused on a stale version). Channels are created, and their
transport settings and secrets set, with `kefu channel` (docs/conversations.md)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kefu.accounts.models import Team
from kefu.administration.forms import StyledForm, VersionField
from kefu.conversations.models import Channel
from kefu.conversations.permissions import ConversationRight
from kefu.conversations.services import ChannelChanges, channel_update, first_response_target
from kefu.core.errors import ApplicationError
from kefu.core.policy import requires
from kefu.routing.models import Queue
from kefu.routing.selectors import routed_chat_queues


class ChannelForm(StyledForm):
    """A channel's settings. The queue may be any queue in the list the page offers (routed chat queues); one
    that was switched off or changed kind meanwhile is refused by the service, naming the field."""

    name = forms.CharField(label=gettext_lazy("名称"), max_length=100)
    team = forms.ModelChoiceField(label=gettext_lazy("接待班组"), queryset=Team.objects.filter(is_active=True),
                                  required=False, empty_label=gettext_lazy("（无）"),
                                  help_text=gettext_lazy("新会话进入该班组的待接入列表"))
    queue = forms.ModelChoiceField(
        label=gettext_lazy("路由队列"), queryset=Queue.objects.none(), required=False,
        empty_label=gettext_lazy("（不排队：由客服在待接入列表中领取）"),
        help_text=gettext_lazy("新会话在该队列排队，由系统逐个分配给空闲的客服；只能选择启用中的在线会话路由队列"))
    is_active = forms.BooleanField(label=gettext_lazy("启用"), required=False)
    first_response_seconds = forms.IntegerField(
        label=gettext_lazy("首次响应目标（秒）"), required=False, min_value=1, max_value=30 * 86400,
        help_text=gettext_lazy("留空：使用系统默认值"))
    creates_tickets = forms.BooleanField(label=gettext_lazy("新会话自动建工单"), required=False)
    bot_first = forms.BooleanField(
        label=gettext_lazy("机器人先接待"), required=False,
        help_text=gettext_lazy("新会话先由机器人根据知识库回答；机器人没有把握或客户要求时转人工，再进入待接入列表或路由队列"))
    version = VersionField()

    def __init__(self, *args: Any, channel: Channel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the channel's present queue stays selectable even if it stopped qualifying: saving other settings must
        # not fail on it silently; the service refuses it, naming the field, only when it is sent
        choices = routed_chat_queues()
        if channel.queue_id:
            choices = choices | Queue.objects.filter(pk=channel.queue_id)
        self.fields["queue"].queryset = choices.distinct().order_by("code")
        self.fields["queue"].error_messages["invalid_choice"] = _("请选择启用中的在线会话路由队列")


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"administration/{template}", {"nav": "admin", **context}, status=status)


def _initial(channel: Channel) -> dict[str, Any]:
    return {"name": channel.name, "team": channel.team_id, "queue": channel.queue_id, "is_active": channel.is_active,
            "first_response_seconds": channel.first_response_seconds, "creates_tickets": channel.creates_tickets,
            "bot_first": channel.bot_first, "version": channel.version}


@requires(ConversationRight.CHANNEL_MANAGE)
@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = list(Channel.objects.select_related("team", "queue").order_by("kind", "code"))
    for channel in channels:
        channel.first_response = first_response_target(channel)  # type: ignore[attr-defined]
    return _page(request, "channel_list.html", {"channels": channels})


@requires(ConversationRight.CHANNEL_MANAGE)
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = Channel.objects.select_related("team", "queue").filter(pk=channel_id).first()
    if channel is None:
        raise Http404
    form = ChannelForm(request.POST or None, channel=channel, initial=_initial(channel))
    if request.method == "POST" and form.is_valid():
        try:
            channel_update(actor=request.user, channel=channel, expected_version=form.cleaned_data["version"],
                           changes=_changes(form.cleaned_data, channel))
        except ApplicationError as error:
            field = error.details.get("field")
            form.add_error(field if field in form.fields else None, error.message)
            status = 409 if error.code == "stale_version" else 422
        else:
            messages.success(request, _("已保存"))
            return redirect("administration:channel_edit", channel_id=channel.pk)
    else:
        status = 422 if request.method == "POST" else 200
    return _page(request, "channel_form.html", {"form": form, "channel": channel}, status=status)


def _changes(d: dict[str, Any], channel: Channel) -> ChannelChanges:
    """Only what the form changes (the audit row lists those)."""
    team, queue = d["team"], d["queue"]
    seconds = d["first_response_seconds"]
    return ChannelChanges(
        name=d["name"] if d["name"] != channel.name else None,
        team=team if team is not None and team.pk != channel.team_id else None,
        clear_team=team is None and channel.team_id is not None,
        queue=queue if queue is not None and queue.pk != channel.queue_id else None,
        clear_queue=queue is None and channel.queue_id is not None,
        is_active=d["is_active"] if d["is_active"] != channel.is_active else None,
        first_response_seconds=(seconds or 0) if seconds != channel.first_response_seconds else None,
        creates_tickets=d["creates_tickets"] if d["creates_tickets"] != channel.creates_tickets else None,
        bot_first=d["bot_first"] if d["bot_first"] != channel.bot_first else None)
