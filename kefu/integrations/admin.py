"""django-admin views of webhook endpoints and deliveries, read-only: administrators manage them on
/admin/webhooks/ (kefu.integrations.views), where every change is audited."""

from __future__ import annotations

from django.contrib import admin

from kefu.core.admin_base import ReadOnlyModelAdmin
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "url", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "endpoint", "event", "state", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("state", "event", "endpoint")
    search_fields = ("event_id", "event")
    list_select_related = ("endpoint",)
