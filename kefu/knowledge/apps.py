from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "kefu.knowledge"
    label = "knowledge"
    verbose_name = _("知识库")

    def ready(self) -> None:
        from kefu.knowledge import events, permissions  # noqa: F401  (events: the event types are declared at import)

        permissions.register()
