"""`kefu worker`: run the background worker (Huey consumer with periodic tasks)."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the Kefu background worker (SLA sweeps, webhook deliveries, imports)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", "-w", type=int, default=2, help="worker threads (default 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("run_huey", workers=options["workers"], worker_type="thread")
