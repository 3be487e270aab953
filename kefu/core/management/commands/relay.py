"""`kefu relay [--once]`: hand the outbox's pending events to every consumer now (what `kefu worker` does
continuously); --once drains once and exits (after a restore, in scripts and browser tests)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Hand pending events to their consumers (webhooks, notifications, escalation, live pages)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="drain once and exit (the default loops)")

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.core.relay import RelayLoop, drain

        if options["once"]:
            handled = drain()
            self.stdout.write(", ".join(f"{name}: {count}" for name, count in sorted(handled.items())) or "-")
            return
        RelayLoop().run()
