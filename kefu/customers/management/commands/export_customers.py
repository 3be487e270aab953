"""`kefu export_customers --format xlsx|csv --out FILE`: export all customers (unmasked, as the system)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.core.errors import ApplicationError
from kefu.customers.exporting import FORMATS, customer_export
from kefu.customers.selectors import CustomerFilters


class Command(BaseCommand):
    help = "导出客户为 .xlsx 或 CSV（列与导入格式相同，可直接再导入）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, help="xlsx or csv (default: from the file name)")
        parser.add_argument("--out", required=True, help="output file")
        parser.add_argument("--encoding", choices=["utf-8-sig", "gb18030"], default="utf-8-sig",
                            help="CSV encoding (default UTF-8 with BOM, which Excel opens correctly)")
        parser.add_argument("--english-headers", action="store_true", help="English column headers")
        parser.add_argument("--tier", default="", help="only this tier (A/B/C/D)")
        parser.add_argument("--vip", action="store_true", help="only VIP customers")
        parser.add_argument("--tag", default="", help="only customers with this tag")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        fmt = options["format"] or out.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise CommandError("give --format xlsx|csv or an output file ending in .xlsx / .csv",
                               returncode=2)
        filters = CustomerFilters(tier=options["tier"].upper(), is_vip=True if options["vip"] else None,
                                  tag=options["tag"])
        # Write beside the target and rename: a failed export never leaves a truncated file behind.
        try:
            fd, tmp = tempfile.mkstemp(prefix=".export-", dir=out.parent if str(out.parent) else ".")
        except OSError as exc:
            raise CommandError(f"cannot write to {out.parent}: {exc.strerror or exc}", returncode=2) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                result = customer_export(actor=None, out=fh, fmt=fmt, filters=filters,
                                         english_headers=options["english_headers"],
                                         encoding=options["encoding"])
            os.replace(tmp, out)
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.stdout.write(f"已导出 {result.rows} 位客户到 {out}")
