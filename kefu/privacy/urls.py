"""URLs of personal-data protection: the customer page's export and erasure request, and the administration's
erasure approvals and retention rules. Included at the root by kefu/config/urls.py; path parameters name their
object for the generated permission matrix."""

from django.urls import path

from kefu.privacy import views

app_name = "privacy"
urlpatterns = [
    path("customers/<int:customer_id>/personal-data/", views.customer_export, name="customer_export"),
    path("customers/<int:customer_id>/erasure/", views.customer_erasure, name="customer_erasure"),
    path("admin/privacy/erasure/", views.erasure_list, name="erasure_list"),
    path("admin/privacy/erasure/<int:erasure_id>/", views.erasure_detail, name="erasure_detail"),
    path("admin/privacy/erasure/<int:erasure_id>/approve/", views.erasure_approve, name="erasure_approve"),
    path("admin/privacy/erasure/<int:erasure_id>/reject/", views.erasure_reject, name="erasure_reject"),
    path("admin/privacy/retention/", views.retention, name="retention"),
    path("admin/privacy/retention/<str:retention_kind>/", views.retention_save, name="retention_save"),
]
