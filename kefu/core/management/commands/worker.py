"""`kefu worker`: run the background worker: the outbox relay (one loop per consumer: webhooks, notifications,
escalation, live pages with Redis), the clock sweep every few seconds, and the Huey consumer (periodic tasks,
deliveries)."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the Kefu background worker (event relay, clock sweeps, webhook and notification deliveries)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", "-w", type=int, default=2, help="worker threads (default 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.core.relay import RelayLoop, consumers
        from kefu.core.workers import start_worker_threads

        # One loop per consumer: a slow consumer (a re-targeting after a policy edit) delays only itself.
        for name in consumers():
            RelayLoop([name]).start_thread()
        start_worker_threads()  # e.g. the clock sweep every few seconds (kefu.clocks)
        call_command("run_huey", workers=options["workers"], worker_type="thread")
