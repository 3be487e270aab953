"""URLs of the administration (/admin/…) and of one's own password (/account/…), included by kefu/config/urls.py.
Path parameters name their object (user_id, team_id …) for the generated permission matrix."""

from django.urls import path

from kefu.administration import audit_views, channels, queues, security, views

app_name = "administration"

urlpatterns = [
    path("admin/", views.index, name="index"),
    path("admin/staff/", views.staff_list, name="staff_list"),
    path("admin/staff/new/", views.staff_create, name="staff_create"),
    path("admin/staff/import/", views.staff_import_page, name="staff_import"),
    path("admin/staff/import/template/", views.staff_import_template, name="staff_import_template"),
    path("admin/staff/import/passwords/<str:download>/", views.staff_import_passwords, name="staff_import_passwords"),
    path("admin/staff/<int:user_id>/", views.staff_edit, name="staff_edit"),
    path("admin/staff/<int:user_id>/active/", views.staff_set_active, name="staff_set_active"),
    path("admin/staff/<int:user_id>/password/", views.staff_password, name="staff_password"),
    path("admin/staff/<int:user_id>/handover/", views.staff_handover, name="staff_handover"),
    path("admin/security/", security.security_page, name="security"),
    path("admin/security/locks/<int:lock_id>/unlock/", security.security_unlock, name="security_unlock"),
    path("admin/security/tokens/<int:token_id>/revoke/", security.security_token_revoke, name="security_token_revoke"),
    path("admin/queues/", queues.queue_list, name="queue_list"),
    path("admin/queues/new/", queues.queue_new, name="queue_create"),
    path("admin/queues/<int:queue_id>/", queues.queue_edit, name="queue_edit"),
    path("admin/queues/<int:queue_id>/delete/", queues.queue_remove, name="queue_delete"),
    path("admin/channels/", channels.channel_list, name="channel_list"),
    path("admin/channels/<int:channel_id>/", channels.channel_edit, name="channel_edit"),
    path("admin/types/", views.type_list, name="type_list"),
    path("admin/calendars/", views.calendar_list, name="calendar_list"),
    path("admin/calendars/new/", views.calendar_create, name="calendar_create"),
    path("admin/calendars/<int:calendar_id>/", views.calendar_edit, name="calendar_edit"),
    path("admin/calendars/<int:calendar_id>/days/", views.calendar_day_add, name="calendar_day_add"),
    path("admin/calendars/<int:calendar_id>/days/delete/", views.calendar_day_delete, name="calendar_day_delete"),
    path("admin/calendars/<int:calendar_id>/import/", views.calendar_import, name="calendar_import"),
    path("admin/audit/", audit_views.audit_list, name="audit_list"),
    path("admin/audit/export/", audit_views.audit_export, name="audit_export"),
    path("admin/audit/<int:entry_id>/", audit_views.audit_detail, name="audit_detail"),
    path("account/password/", views.account_password, name="account_password"),
    path("account/reset/<str:uidb64>/<str:token>/", views.password_reset_confirm, name="password_reset_confirm"),
]

_PATHS = {"team": "teams", "department": "departments", "skill": "skills", "category": "categories", "sla": "sla"}
for section in views.SECTIONS:
    listing, create, edit = views.SECTION_VIEWS[section.key]
    base = f"admin/{_PATHS[section.key]}/"
    urlpatterns += [
        path(base, listing, name=f"{section.key}_list"),
        path(f"{base}new/", create, name=f"{section.key}_create"),
        path(f"{base}<int:{section.param}>/", edit, name=f"{section.key}_edit"),
    ]
