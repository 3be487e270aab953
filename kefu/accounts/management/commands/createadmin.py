"""`kefu createadmin`: create (or reset) a system administrator account."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction


class Command(BaseCommand):
    help = "Create a system administrator (系统管理员), or reset its password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="password (asked for when omitted and a terminal is attached)")

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.accounts.choices import Role
        from kefu.accounts.models import User

        username = options["username"].strip()
        if not username:
            raise CommandError("--username must not be empty")
        password = options["password"]
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError("--password is required when no terminal is attached")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the two passwords differ")
        user = User.objects.filter(username=username).first() or User(username=username)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("password: " + " ".join(exc.messages)) from None
        with transaction.atomic():
            created = user.pk is None
            user.email = options["email"] or user.email
            user.role = Role.ADMIN
            user.is_staff = True
            user.is_superuser = True
            user.is_active = True
            user.display_name = user.display_name or "系统管理员"
            user.set_password(password)
            user.save()
        self.stdout.write(f"{'Created' if created else 'Updated'} administrator '{username}'.")
