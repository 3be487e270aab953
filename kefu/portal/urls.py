"""The portal's URLs under /help/ (kefu.portal.views); the language is part of the path (zh, en) so that search
engines index both. /robots.txt is routed in kefu.config.urls."""

from __future__ import annotations

from django.urls import path, register_converter

from kefu.portal import views


class PortalLanguage:
    """A portal language in a path: `zh` or `en` (the page's language; kefu.portal.selectors.LANGUAGES)."""

    regex = "zh|en"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PortalLanguage, "portal_lang")

app_name = "portal"
urlpatterns = [
    path("", views.root, name="root"),
    path("sitemap.xml", views.sitemap, name="sitemap"),
    path("files/<int:public_file_id>", views.attachment, name="file"),
    path("<portal_lang:lang>/", views.home, name="home"),
    path("<portal_lang:lang>/search", views.search, name="search"),
    path("<portal_lang:lang>/c/<slug:category_slug>/", views.category, name="category"),
    path("<portal_lang:lang>/a/<int:public_article_id>/", views.article, name="article"),
    path("<portal_lang:lang>/a/<int:public_article_id>/feedback", views.feedback, name="feedback"),
    path("<portal_lang:lang>/contact", views.contact, name="contact"),
    path("<portal_lang:lang>/contact/sent", views.contact_sent, name="contact_sent"),
    path("<portal_lang:lang>/order", views.order, name="order"),
]
