"""URLs of the notification centre (/notifications/) and of the robots' administration
(/admin/notifications/), both included by kefu/config/urls.py."""

from django.urls import path

from kefu.notifications import views

app_name = "notifications"
urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/latest/", views.notification_latest, name="latest"),
    path("notifications/read-all/", views.notification_read_all, name="read_all"),
    path("notifications/preferences/", views.notification_preferences, name="preferences"),
    path("notifications/<int:notification_id>/", views.notification_open, name="open"),
    path("admin/notifications/robots/", views.robot_list, name="robot_list"),
    path("admin/notifications/robots/new/", views.robot_create, name="robot_create"),
    path("admin/notifications/robots/<int:robot_id>/", views.robot_edit, name="robot_edit"),
]
