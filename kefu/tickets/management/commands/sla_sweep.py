"""`kefu sla_sweep [--at ISO-TIME]`: run one sweep of every clock now, and the escalations it causes (what the
worker does every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kefu.tickets.sla import sla_sweep


class Command(BaseCommand):
    help = "Run one SLA sweep: warnings before breach, breaches and escalation (逐级汇报)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--at", default="", help="sweep as of this ISO 8601 time (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["at"]:
            try:
                parsed = parse_datetime(options["at"])
            except ValueError:
                parsed = None
            if parsed is None:
                raise CommandError(f"--at: '{options['at']}' is not an ISO 8601 date and time")
            now = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
        result = sla_sweep(now=now)
        self.stdout.write(f"SLA sweep at {now.isoformat()}: {result.warned} warned, "
                          f"{result.breached} breached, {result.escalated} escalations, "
                          f"{result.skipped} skipped (locked)")
