"""URLs of webhooks for administrators (endpoints and the delivery log). Included at /admin/webhooks/ by
kefu/config/urls.py."""

from django.urls import path

from kefu.integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.delivery_log, name="delivery_log"),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery_detail"),
    path("deliveries/<int:delivery_id>/redeliver/", views.delivery_redeliver, name="delivery_redeliver"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<int:endpoint_id>/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<int:endpoint_id>/secret/", views.endpoint_rotate_secret, name="endpoint_rotate_secret"),
]
