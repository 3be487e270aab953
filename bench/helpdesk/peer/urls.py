"""django-helpdesk mounted at the root, as its installation guide shows."""

from django.urls import include, path

urlpatterns = [path("", include("helpdesk.urls", namespace="helpdesk"))]
