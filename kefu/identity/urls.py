"""URLs of sign-in security: /account/two-factor/… (one's own), /admin/two-factor/… (administrators), /sso/…
(single sign-on callbacks). Path parameters name their object (user_id) for the generated permission matrix."""

from django.urls import path

from kefu.identity import views

app_name = "identity"

urlpatterns = [
    path("account/two-factor/", views.manage, name="manage"),
    path("account/two-factor/verify/", views.verify, name="verify"),
    path("account/two-factor/setup/", views.setup, name="setup"),
    path("account/two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("account/two-factor/disable/", views.disable, name="disable"),
    path("admin/two-factor/", views.admin_page, name="admin"),
    path("admin/two-factor/people/<int:user_id>/two-factor/reset/", views.admin_reset, name="admin_reset"),
    path("admin/two-factor/people/<int:user_id>/local-password/", views.admin_local_password,
         name="admin_local_password"),
    path("sso/oidc/start/", views.OidcStart.as_view(), name="oidc_start"),
    path("sso/oidc/callback/", views.OidcCallback.as_view(), name="oidc_callback"),
]
