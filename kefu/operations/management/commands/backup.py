"""`kefu backup [--output PATH] [--keep N]`: one archive with the database, the uploaded files and the secret key;
`kefu backup --verify ARCHIVE` checks an archive against its manifest and changes nothing (docs/operations.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from kefu.operations.backup import BackupError, Manifest, backup_create, backup_verify, direct_connection


def describe(manifest: Manifest) -> str:
    return (f"Kefu {manifest.kefu_version}, {timezone.localtime(manifest.created_at):%Y-%m-%d %H:%M:%S %z}, "
            f"{manifest.database.vendor}, {len(manifest.database.tables)} tables, {manifest.rows:,} rows, "
            f"{len(manifest.files):,} files ({manifest.files_size:,} bytes)")


class Command(BaseCommand):
    help = ("Back up the database, the uploaded files and the secret key into one .tar.gz archive "
            "(KEFU_DATA_DIR/backups/ unless --output says otherwise), or check one with --verify.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="the archive's file name, or a folder to write it into")
        parser.add_argument("--keep", type=int, help="afterwards keep only the newest N archives in that folder")
        parser.add_argument("--verify", metavar="ARCHIVE",
                            help="check ARCHIVE against its manifest (checksums, database, row counts) and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        direct_connection()
        try:
            if options["verify"]:
                if options["output"] or options["keep"] is not None:
                    raise CommandError("--verify checks an archive: it takes no --output or --keep")
                manifest = backup_verify(Path(options["verify"]))
                self.stdout.write(f"{options['verify']}: sound ({describe(manifest)}), checked in "
                                  f"{time.monotonic() - started:.1f} s")
                return
            keep = options["keep"]
            if keep is not None and keep < 1:
                raise CommandError("--keep must be 1 or more")
            result = backup_create(output=Path(options["output"]) if options["output"] else None, keep=keep)
        except BackupError as exc:
            if options["verbosity"] > 1:
                for problem in exc.problems[1:]:
                    self.stderr.write(f"  {problem}")
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backup written: {result.path} ({result.size:,} bytes; {describe(result.manifest)}) in "
                          f"{time.monotonic() - started:.1f} s")
        for path in result.removed:
            self.stdout.write(f"Removed an older backup: {path.name}")
