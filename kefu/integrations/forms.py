"""The endpoint form of the administration pages: parses what the browser sends; the service validates."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kefu.integrations.choices import WebhookEvent


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(label=_("名称"), max_length=200)
    url = forms.CharField(label=_("接收地址"), max_length=1000,
                          widget=forms.TextInput(attrs={"placeholder": "https://crm.example.com/kefu/webhook"}))
    events = forms.MultipleChoiceField(label=_("订阅事件"), choices=WebhookEvent.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text=_("不选表示订阅全部事件"))
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def data_for_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"name": data["name"], "url": data["url"], "events": list(data["events"]),
                "is_active": bool(data["is_active"])}
