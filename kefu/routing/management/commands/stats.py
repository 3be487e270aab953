"""`kefu stats intervals`: a queue's interval statistics as the history file planning reads.

    kefu stats intervals --queue CODE --from DATE --to DATE [--minutes 15|30|60] --out FILE.csv

Columns: interval_start (ISO 8601 with the centre's offset), queue, offered, answered, abandoned (short abandons
left out), answered_within_target, aht_seconds (talk + hold + after-contact work per answered contact; empty when
none was answered). Only intervals with contacts are written: `kefu wfm forecast --history FILE.csv` reads a
missing interval of a day with contacts as 0 and a day without any as closed. Exit status 2 naming the argument
on bad input; nothing is written then.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

HEADER = ["interval_start", "queue", "offered", "answered", "abandoned", "answered_within_target", "aht_seconds"]


class Command(BaseCommand):
    help = "Write a queue's interval statistics (the history file `kefu wfm forecast --history` reads)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        intervals = sub.add_parser("intervals", help="a queue's intervals as CSV")
        intervals.add_argument("--queue", required=True, help="the queue code")
        intervals.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
        intervals.add_argument("--to", dest="end", required=True, help="last day (included), YYYY-MM-DD")
        intervals.add_argument("--minutes", default="15", help="interval length: 15 (default), 30 or 60")
        intervals.add_argument("--out", required=True, help="the CSV file to write")

    @staticmethod
    def _day(value: str, option: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"{option}: a date as YYYY-MM-DD, not '{value}'", returncode=2) from None

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.routing.selectors import interval_rows, queue_by_code

        queue = queue_by_code(options["queue"])
        if queue is None:
            raise CommandError(f"--queue: no queue '{options['queue']}' (kefu queue list)", returncode=2)
        first, last = self._day(options["start"], "--from"), self._day(options["end"], "--to")
        if last < first:
            raise CommandError("--to: the last day is before the first (--from)", returncode=2)
        if options["minutes"] not in ("15", "30", "60"):
            raise CommandError(f"--minutes: 15, 30 or 60, not '{options['minutes']}'", returncode=2)
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"--out: the folder {out.parent} does not exist", returncode=2)
        start = timezone.make_aware(datetime.combine(first, time()))
        end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time()))
        rows = interval_rows(queue, start, end, int(options["minutes"]))
        partial = out.with_name(out.name + ".partial")
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for row in rows:
                aht = row.aht_seconds
                writer.writerow([row.start.isoformat(timespec="minutes"), row.queue, row.offered, row.answered,
                                 row.abandoned, row.answered_within_target,
                                 "" if aht is None else f"{aht:.1f}"])
        partial.replace(out)  # a reader never sees half a file
        self.stdout.write(f"{queue.code}: {len(rows)} intervals of {options['minutes']} minutes written to {out}")
