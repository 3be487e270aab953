"""The URLs channels' platforms push to, mounted under /hooks/ (kefu.conversations.hooks)."""

from __future__ import annotations

from django.urls import path

from kefu.conversations import hooks

app_name = "hooks"

urlpatterns = [
    path("wechat/<slug:code>/", hooks.wechat_hook, name="wechat"),
    path("wecom/<slug:code>/", hooks.wecom_hook, name="wecom"),
    path("sms/<slug:code>/report/", hooks.sms_report_hook, name="sms_report"),
    path("sms/<slug:code>/inbound/", hooks.sms_inbound_hook, name="sms_inbound"),
]
