"""`kefu demo`: load the demo company (safe to run twice) and print the demo logins."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Load demo data: ~30 staff, 3 teams, 2,000 customers, six months of work orders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--small", action="store_true", help="a small dataset (for tests and quick looks)")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.demo.builder import DEMO_PASSWORD, FULL, SMALL, build_demo

        started = time.monotonic()
        summary = build_demo(size=SMALL if options["small"] else FULL, seed=options["seed"])
        verb = "Loaded" if summary.created else "Already loaded"
        self.stdout.write(f"{verb} demo data: {summary.users} staff, {summary.customers} customers, "
                          f"{summary.tickets} work orders ({time.monotonic() - started:.1f} s).")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, name, role in summary.logins:
            if username in {"admin", "manager", "shiftlead", "qa", "lead1", "agent1", "agent6", "repair1"}:
                self.stdout.write(f"  {username:<10} {name:<6} {role}")
        self.stdout.write("  (also agent2 … agent15, lead2, lead3, eng1, finance1 …)")
        from django.conf import settings

        self.stdout.write(f"Chat widget (channel web), for any web page: "
                          f"<script src=\"{settings.KEFU_BASE_URL}/chat/web/widget.js\" async></script>")
