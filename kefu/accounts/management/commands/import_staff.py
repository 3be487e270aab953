"""`kefu import_staff FILE [--passwords OUT.xlsx]`: import staff from .xlsx or CSV, all or nothing. Exit status 2
with every bad row listed when the file is refused; the new accounts' temporary passwords go to OUT.xlsx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext_lazy as _

from kefu.accounts.importing import MAX_BYTES, staff_import
from kefu.core.actors import system_actor
from kefu.core.errors import ApplicationError
from kefu.core.tabular import ImportRejected

IMPORT = system_actor("staff_import", _("系统：员工导入"))


class Command(BaseCommand):
    help = "导入员工（.xlsx 或 CSV）。先检查全部行，有错误时逐行报告且不写入；退出码 2 表示文件有误。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=".xlsx or .csv file (columns: docs/administration.md)")
        parser.add_argument("--passwords", default="temporary-passwords.xlsx",
                            help="where to write the new accounts' temporary passwords (default: %(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_BYTES:
                raise CommandError(f"{path.name}: larger than {MAX_BYTES} bytes", returncode=2)
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}", returncode=2) from None
        try:
            result = staff_import(actor=IMPORT, data=data, filename=path.name)
        except ImportRejected as exc:
            for error in exc.report.errors:
                where = f"row {error.row}" if error.row else "file"
                column = f" [{error.field}]" if error.field else ""
                value = f" ({error.value})" if error.value else ""
                self.stderr.write(f"{where}{column}: {error.message}{value}")
            raise CommandError(exc.message, returncode=2) from None
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=2) from None
        out = Path(options["passwords"])
        out.write_bytes(result.passwords_xlsx())
        out.chmod(0o600)
        self.stdout.write(f"{len(result.created)} accounts created; temporary passwords in {out} "
                          "(each must be changed at first sign-in)")
