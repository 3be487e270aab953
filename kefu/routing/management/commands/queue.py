"""`kefu queue …`: set up the waiting queues the PBX and the routing know by code.

    kefu queue add CODE [--name N] [--kind phone|chat|ticket] [--team T] [--target 80/20] [--formula 1-4]
                        [--short-abandon SECONDS]
    kefu queue list

`--target X/Y`: X % answered within Y seconds (the service level, PRODUCT §2.9). Exit status 2 with a message
naming the argument on bad input; nothing is written then.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.errors import ApplicationError

CLI = system_actor("cli", gettext_lazy("系统：命令行"))


class Command(BaseCommand):
    help = "Set up and list waiting queues (phone hotlines, chat queues)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a queue")
        add.add_argument("code", help="stable code the PBX uses (lower-case letters, digits, - and _)")
        add.add_argument("--name", default="", help="the name people see")
        add.add_argument("--kind", default="phone", help="phone (default), chat or ticket")
        add.add_argument("--team", default="", help="the team that answers it (code or name)")
        add.add_argument("--target", default="80/20", help="service level X/Y: X %% answered within Y s (80/20)")
        add.add_argument("--formula", default="2", help="service-level formula 1-4 (docs/routing.md; default 2)")
        add.add_argument("--short-abandon", default="5", help="abandons sooner than this many seconds are kept "
                                                              "apart (default 5)")
        sub.add_parser("list", help="list the queues")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "add":
                self._add(options)
            else:
                self._list()
        except ApplicationError as exc:
            field = (exc.details or {}).get("field")
            raise CommandError(f"{field}: {exc.message}" if field else exc.message, returncode=2) from None

    @staticmethod
    def _number(value: str, option: str) -> int:
        if not str(value).strip().isdigit():
            raise CommandError(f"{option}: a whole number, not '{value}'", returncode=2)
        return int(value)

    def _add(self, options: dict[str, Any]) -> None:
        from kefu.accounts.models import Team
        from kefu.routing.services import QueueData, queue_create

        team = None
        if options["team"]:
            team = (Team.objects.filter(name=options["team"]).first()
                    or (Team.objects.filter(pk=int(options["team"])).first() if options["team"].isdigit() else None))
            if team is None:
                raise CommandError(f"--team: no team '{options['team']}'", returncode=2)
        percent, sep, seconds = str(options["target"]).partition("/")
        if not sep:
            raise CommandError(f"--target: write X/Y, e.g. 80/20, not '{options['target']}'", returncode=2)
        queue = queue_create(actor=CLI, data=QueueData(
            code=options["code"], name=options["name"], kind=options["kind"], team=team,
            target_percent=self._number(percent, "--target"), target_seconds=self._number(seconds, "--target"),
            formula=self._number(options["formula"], "--formula"),
            short_abandon_seconds=self._number(options["short_abandon"], "--short-abandon")))
        self.stdout.write(f"created {queue.kind} queue {queue.code} ({queue.target_percent}/{queue.target_seconds})")

    def _list(self) -> None:
        from kefu.routing.models import Queue

        for queue in Queue.objects.select_related("team").order_by("code"):
            team = queue.team.name if queue.team else "-"
            state = "active" if queue.is_active else "disabled"
            self.stdout.write(f"{queue.code}\t{queue.kind}\t{state}\t{team}\t{queue.target_percent}/"
                              f"{queue.target_seconds}\tformula {queue.formula}\t{queue.name}")
