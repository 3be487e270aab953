"""URLs of the webhook delivery log (administrators). Included at /admin/webhooks/ by kefu/config/urls.py."""

from django.urls import path

from kefu.integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.delivery_log, name="delivery_log"),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery_detail"),
    path("deliveries/<int:delivery_id>/redeliver/", views.delivery_redeliver, name="delivery_redeliver"),
]
