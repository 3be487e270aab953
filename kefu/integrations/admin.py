"""Django admin for webhook endpoints (configured by administrators) and the read-only delivery log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from kefu.integrations.choices import WebhookEvent
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
from kefu.integrations.services import webhook_redeliver
from kefu.integrations.transport import BlockedAddress, check_url


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("地址"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("订阅事件"),
        choices=WebhookEvent.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("不选表示订阅全部事件"),
    )

    class Meta:
        model = WebhookEndpoint
        fields = (
            "name",
            "url",
            "secret",
            "events",
            "is_active",
        )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url, resolve=False)
        except BlockedAddress as exc:
            raise forms.ValidationError(str(exc)) from None
        return str(url)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "url", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "url")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "endpoint",
        "event",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("state", "event", "endpoint")
    search_fields = ("event_id", "event")
    readonly_fields = tuple(f.name for f in WebhookDelivery._meta.fields)
    list_select_related = ("endpoint",)
    actions = ("redeliver",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("重新投递所选记录"))
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery_id in queryset.values_list("pk", flat=True):
            webhook_redeliver(actor=request.user, delivery_id=delivery_id)
            count += 1
        self.message_user(request, _("已重新投递 %(n)s 条") % {"n": count}, messages.SUCCESS)
