"""`kefu restore ARCHIVE [--yes] [--verify-only]`: replace this installation's database, uploaded files and secret
key by a backup's, after checking the whole archive; nothing changes when it is refused (docs/operations.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.operations.backup import BackupError, Manifest, backup_restore, backup_verify, direct_connection
from kefu.operations.management.commands.backup import describe


class Command(BaseCommand):
    help = ("Restore a backup made by `kefu backup`: database, uploaded files and secret key. Stop the server and "
            "the worker first; start them again afterwards.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="the .tar.gz archive written by `kefu backup`")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--verify-only", action="store_true",
                            help="only check the archive against its manifest (same as kefu backup --verify)")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        direct_connection()
        path = Path(options["archive"])
        if not options["yes"] and not options["verify_only"] and not sys.stdin.isatty():
            raise CommandError("a restore replaces all data: add --yes to confirm when no terminal is attached; "
                               "nothing was changed")
        try:
            if options["verify_only"]:
                manifest = backup_verify(path)
                self.stdout.write(f"{path}: sound ({describe(manifest)}), checked in "
                                  f"{time.monotonic() - started:.1f} s")
                return
            result = backup_restore(path, confirm=lambda m, target: self._confirm(m, target, options["yes"]))
        except BackupError as exc:
            if options["verbosity"] > 1:
                for problem in exc.problems[1:]:
                    self.stderr.write(f"  {problem}")
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Restored and verified {path.name} ({describe(result.manifest)}) in "
                          f"{time.monotonic() - started:.1f} s.")
        if result.pending_migrations:
            self.stdout.write(f"The backup predates {result.pending_migrations} migration(s) of this Kefu: "
                              f"run `kefu migrate` now.")
        for notice in result.notices:
            self.stdout.write(f"Note: {notice}")
        self.stdout.write("Start (or restart) the server and the worker.")

    def _confirm(self, manifest: Manifest, target: str, yes: bool) -> bool:
        if yes:
            return True
        self.stdout.write(f"The archive is sound: {describe(manifest)}.")
        self.stdout.write(f"Restoring replaces the {target}, every uploaded file and the secret key.")
        answer = input("Type yes to restore: ")
        return answer.strip().lower() == "yes"
