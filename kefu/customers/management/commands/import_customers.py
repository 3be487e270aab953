"""`kefu import_customers FILE [--update] [--dry-run]`: import an .xlsx or CSV customer list as the system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.core.errors import ApplicationError
from kefu.customers.importing import ImportRejected, customer_import, format_report, max_import_bytes


class Command(BaseCommand):
    help = "导入客户（.xlsx 或 CSV）。先检查全部行，有错误时逐行报告且不写入任何数据；退出码 2 表示文件有误。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=".xlsx or .csv file")
        parser.add_argument("--update", action="store_true",
                            help="update customers whose code exists (otherwise such rows are errors)")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        limit = max_import_bytes()
        try:
            size = path.stat().st_size
            if size > limit:  # refuse before reading a huge file into memory
                raise CommandError(f"{path.name}: {size} bytes, the limit is {limit}; split the file",
                                   returncode=2)
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}", returncode=2) from None
        try:
            report = customer_import(actor=None, data=data, filename=path.name,
                                     update_existing=options["update"], dry_run=options["dry_run"])
        except ImportRejected as exc:
            self.stderr.write(format_report(exc.report))
            raise CommandError(exc.message, returncode=2) from None
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from None
        self.stdout.write(format_report(report))
