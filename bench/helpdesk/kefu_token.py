"""Prints a fresh API token of Kefu's demo admin (the benchmark's API client). Run with Kefu's interpreter."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu_settings")

import django

django.setup()

from kefu.accounts.models import ApiToken, User  # noqa: E402
from kefu.accounts.services import api_token_create  # noqa: E402

admin = User.objects.get(username="admin")
ApiToken.objects.filter(user=admin, name="bench").delete()  # tokens of earlier runs
print(api_token_create(actor=admin, name="bench").key)
