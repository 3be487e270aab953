"""`kefu cdr import FILE.csv [--queue CODE] [--dry-run]`: a PBX's call history (call detail records) imported as
the system, all or nothing (docs/telephony.md, "History from the PBX").

Exit status 2 on a bad file or argument: every bad row is listed with its column, and nothing is written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Import call history from the PBX (call detail records, CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("import", help="import a CSV of call detail records")
        run.add_argument("file", help="Kefu's CDR columns (with a header) or Asterisk's Master.csv")
        run.add_argument("--queue", default="", help="the queue code for rows that name none (Master.csv: calls "
                                                     "that did not go through Queue())")
        run.add_argument("--dry-run", action="store_true", help="check every row, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        from kefu.core.errors import ApplicationError
        from kefu.core.tabular import ImportRejected
        from kefu.telephony.cdr import CDR_IMPORT, MAX_BYTES, cdr_import, format_report

        path = Path(options["file"])
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:  # refuse before reading a huge file into memory
                raise CommandError(f"{path.name}: {size} bytes, the limit is {MAX_BYTES}; split the file",
                                   returncode=2)
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}", returncode=2) from None
        started = time.monotonic()
        try:
            report = cdr_import(actor=CDR_IMPORT, data=data, filename=path.name, queue_code=options["queue"],
                                dry_run=options["dry_run"])
        except ImportRejected as exc:
            self.stderr.write(format_report(exc.report))
            raise CommandError(exc.message, returncode=2) from None
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from None
        self.stdout.write(format_report(report))
        self.stdout.write(f"({time.monotonic() - started:.1f} s)")
