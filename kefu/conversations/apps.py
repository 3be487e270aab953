from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "kefu.conversations"
    label = "conversations"
    verbose_name = _("会话")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kefu.conversations import adapters, events, handlers, permissions  # noqa: F401  (declarations)
        from kefu.conversations.timeline import conversations_merge, conversations_timeline
        from kefu.customers.timeline import register_merge_hook, register_timeline_provider

        adapters.load()
        permissions.register()
        handlers.register()
        from kefu.conversations.services.lines import register as register_routing

        register_routing()  # routing gives accepted chats to their agent through the conversations' services
        register_timeline_provider("conversations", conversations_timeline)
        register_merge_hook(conversations_merge)
