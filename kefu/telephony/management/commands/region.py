"""`kefu region import FILE` (mobile number segments → province and city) and `kefu region lookup NUMBER`.

Exit status 2 naming the row on a bad file; nothing is written then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.core.errors import ApplicationError

MAX_FILE_BYTES = 200 * 1024 * 1024


class Command(BaseCommand):
    help = "Callers' regions (归属地): import mobile number segments, or look a number up."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("import", help="replace the number segments with a CSV/.xlsx file "
                                             "(columns 号段/prefix, 省份/province, 城市/city, 运营商/carrier)")
        load.add_argument("file")
        lookup = sub.add_parser("lookup", help="show the region of a number")
        lookup.add_argument("number")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.utils.translation import gettext_lazy

        from kefu.core.actors import system_actor
        from kefu.telephony.regions import region_of, region_segments_import

        if options["action"] == "lookup":
            region = region_of(options["number"])
            self.stdout.write(region.label or "(unknown)")
            return
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CommandError(f"{path.name}: larger than {MAX_FILE_BYTES // 1024 // 1024} MB", returncode=2)
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}", returncode=2) from None
        try:
            cli = system_actor("cli", gettext_lazy("系统：命令行"))
            report = region_segments_import(actor=cli, data=data, filename=path.name)
        except ApplicationError as exc:
            for error in getattr(getattr(exc, "report", None), "errors", []):
                where = f"row {error.row}" if error.row else "file"
                self.stderr.write(f"{where}: {error.field + ': ' if error.field else ''}{error.message}"
                                  f"{' (' + error.value + ')' if error.value else ''}")
            raise CommandError(exc.message, returncode=2) from None
        self.stdout.write(f"imported {report.created} number segments from {report.rows} rows")
