"""The sign-in form behind every password sign-in (the sign-in page, django-admin's login): guarded and counted by
kefu.accounts.signin before any password is hashed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from kefu.accounts.signin import SignInLocked, password_check, signin_completed


class GuardedAuthentication:
    """Mixin for Django's AuthenticationForm: the password check goes through `password_check`. After a refusal
    for a lock, `locked` holds it (the page answers 429 with Retry-After)."""

    via = "web"
    locked: SignInLocked | None = None

    def clean(self) -> Any:
        form: Any = self
        username = form.cleaned_data.get("username")
        password = form.cleaned_data.get("password")
        if username is not None and password:
            try:
                form.user_cache = password_check(form.request, username=username, password=password, via=self.via)
            except SignInLocked as locked:
                self.locked = locked
                raise forms.ValidationError(locked.message, code="locked") from None
            if form.user_cache is None:
                raise form.get_invalid_login_error()
            form.confirm_login_allowed(form.user_cache)
        return form.cleaned_data


class AdminLoginForm(GuardedAuthentication, AdminAuthenticationForm):
    """django-admin's login: guarded like the sign-in page; the sign-in is audited once the form accepts."""

    via = "admin"

    def clean(self) -> Any:
        cleaned = super().clean()
        if self.user_cache is not None:
            signin_completed(self.request, self.user_cache, via=self.via)
        return cleaned


class SignInForm(GuardedAuthentication, AuthenticationForm):
    """Django's sign-in form, guarded (the workspace's LoginForm builds on it)."""
