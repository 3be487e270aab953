"""`kefu queue …`: set up the waiting queues the PBX and the routing know by code.

    kefu queue add CODE [--name N] [--kind phone|chat|ticket] [--team T] [--target 80/20] [--formula 1-4]
                        [--short-abandon SECONDS] [routing options]
    kefu queue set CODE [any option of add but --kind] [--active | --no-active]
    kefu queue show CODE
    kefu queue list

Routing options: --routed / --no-routed, --strategy longest_idle|least_occupied|proficiency, --offer-seconds S,
--affinity none|last_agent|dedicated, --affinity-seconds S, --overflow-to CODE|none, --overflow-after S,
--vip-priority P, --complaint-priority P, --long-wait S|none, --long-wait-priority P, --callback / --no-callback,
--skill CODE[:MIN] (repeatable; MIN 1–5, default 1; replaces the queue's skills), --no-skills.

`--target X/Y`: X % answered within Y seconds (the service level, PRODUCT §2.9). `set` changes only the options
given. Exit status 2 with a message naming the option on bad input; nothing is written then.
"""

from __future__ import annotations

import dataclasses
from argparse import BooleanOptionalAction
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.errors import ApplicationError

CLI = system_actor("cli", gettext_lazy("系统：命令行"))

# the option that sets each field of the queue services, to name it in a refusal
OPTION_OF = {
    "code": "CODE", "name": "--name", "kind": "--kind", "team": "--team", "target_seconds": "--target",
    "target_percent": "--target", "formula": "--formula", "short_abandon_seconds": "--short-abandon",
    "is_active": "--active", "routed": "--routed", "strategy": "--strategy", "offer_seconds": "--offer-seconds",
    "affinity": "--affinity", "affinity_seconds": "--affinity-seconds", "overflow_to": "--overflow-to",
    "overflow_after_seconds": "--overflow-after", "vip_priority": "--vip-priority",
    "complaint_priority": "--complaint-priority", "long_wait_seconds": "--long-wait",
    "long_wait_priority": "--long-wait-priority", "callback_allowed": "--callback", "skills": "--skill",
}
NUMBERS = {"offer_seconds": "--offer-seconds", "affinity_seconds": "--affinity-seconds",
           "overflow_after_seconds": "--overflow-after", "vip_priority": "--vip-priority",
           "complaint_priority": "--complaint-priority", "long_wait_priority": "--long-wait-priority",
           "formula": "--formula", "short_abandon_seconds": "--short-abandon"}
NONE_WORDS = ("none", "off", "-")


def _settings(parser: CommandParser, *, creating: bool) -> None:
    parser.add_argument("code", help="stable code the PBX uses (lower-case letters, digits, - and _)")
    parser.add_argument("--name", help="the name people see")
    if creating:
        parser.add_argument("--kind", default="phone", help="phone (default), chat or ticket")
    parser.add_argument("--team", help="the team that answers it (name or id; 'none' for no team)")
    parser.add_argument("--target", help="service level X/Y: X %% answered within Y s (default 80/20)")
    parser.add_argument("--formula", help="service-level formula 1-4 (docs/routing.md; default 2)")
    parser.add_argument("--short-abandon", dest="short_abandon_seconds",
                        help="abandons sooner than this many seconds are kept apart (default 5)")
    parser.add_argument("--routed", action=BooleanOptionalAction, default=None,
                        help="Kefu offers the queue's contacts to agents (default: off, the PBX does)")
    parser.add_argument("--strategy", help="longest_idle (default), least_occupied or proficiency")
    parser.add_argument("--offer-seconds", dest="offer_seconds", help="an offer rings this long, 5-300 (default 20)")
    parser.add_argument("--affinity", help="none (default), last_agent or dedicated")
    parser.add_argument("--affinity-seconds", dest="affinity_seconds",
                        help="how long a contact waits for the preferred agent, 1-3600 (default 30)")
    parser.add_argument("--overflow-to", dest="overflow_to", help="the queue a long wait moves to (code, or none)")
    parser.add_argument("--overflow-after", dest="overflow_after_seconds",
                        help="seconds of waiting before the overflow, 1-86400")
    parser.add_argument("--vip-priority", dest="vip_priority", help="points a VIP's contact gets, 0-100 (10)")
    parser.add_argument("--complaint-priority", dest="complaint_priority",
                        help="points a complaint gets, 0-100 (5)")
    parser.add_argument("--long-wait", dest="long_wait_seconds",
                        help="seconds of waiting after which a contact gets extra points (or none)")
    parser.add_argument("--long-wait-priority", dest="long_wait_priority", help="those points, 0-100 (5)")
    parser.add_argument("--callback", action=BooleanOptionalAction, default=None, dest="callback_allowed",
                        help="callers may ask to be called back, keeping their place (default: on)")
    parser.add_argument("--skill", action="append", dest="skill", metavar="CODE[:MIN]",
                        help="a required skill with its minimum proficiency 1-5 (repeat for more)")
    parser.add_argument("--no-skills", action="store_true", dest="no_skills", help="require no skill")
    if not creating:
        parser.add_argument("--active", action=BooleanOptionalAction, default=None, dest="is_active",
                            help="switch the queue on or off")


class Command(BaseCommand):
    help = "Set up, change and list waiting queues (phone hotlines, chat queues) and their routing."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        _settings(sub.add_parser("add", help="create a queue"), creating=True)
        _settings(sub.add_parser("set", help="change a queue's settings (only the options given)"), creating=False)
        sub.add_parser("show", help="a queue's settings").add_argument("code")
        sub.add_parser("list", help="list the queues")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] in ("add", "set"):
                self._save(options)
            elif options["action"] == "show":
                self._show(options["code"])
            else:
                self._list()
        except ApplicationError as exc:
            field = (exc.details or {}).get("field")
            named = OPTION_OF.get(field, field) if field else None
            raise CommandError(f"{named}: {exc.message}" if named else exc.message, returncode=2) from None

    @staticmethod
    def _number(value: str, option: str) -> int:
        if not str(value).strip().isdigit():
            raise CommandError(f"{option}: a whole number, not '{value}'", returncode=2)
        return int(value)

    def _changes(self, options: dict[str, Any]) -> dict[str, Any]:
        """The settings the options give, parsed; options not given are left out."""
        from kefu.accounts.models import Skill, Team
        from kefu.routing.models import Queue

        changes: dict[str, Any] = {}
        for field in ("name", "strategy", "affinity", "routed", "callback_allowed", "is_active", "kind"):
            if options.get(field) is not None:
                changes[field] = options[field]
        for field, option in NUMBERS.items():
            if options.get(field) is not None:
                changes[field] = self._number(options[field], option)
        if options.get("long_wait_seconds") is not None:
            raw = str(options["long_wait_seconds"]).strip().lower()
            changes["long_wait_seconds"] = None if raw in NONE_WORDS else self._number(raw, "--long-wait")
        if options.get("team") is not None:
            raw = str(options["team"]).strip()
            team = None
            if raw.lower() not in NONE_WORDS:
                team = (Team.objects.filter(name=raw).first()
                        or (Team.objects.filter(pk=int(raw)).first() if raw.isdigit() else None))
                if team is None:
                    raise CommandError(f"--team: no team '{raw}'", returncode=2)
            changes["team"] = team
        if options.get("target") is not None:
            percent, sep, seconds = str(options["target"]).partition("/")
            if not sep:
                raise CommandError(f"--target: write X/Y, e.g. 80/20, not '{options['target']}'", returncode=2)
            changes["target_percent"] = self._number(percent, "--target")
            changes["target_seconds"] = self._number(seconds, "--target")
        if options.get("overflow_to") is not None:
            raw = str(options["overflow_to"]).strip().lower()
            target = None
            if raw not in NONE_WORDS:
                target = Queue.objects.filter(code=raw).first()
                if target is None:
                    raise CommandError(f"--overflow-to: no queue '{raw}'", returncode=2)
            changes["overflow_to"] = target
            if target is None:
                changes["overflow_after_seconds"] = None
        if options.get("no_skills") and options.get("skill"):
            raise CommandError("--no-skills: give either --skill or --no-skills", returncode=2)
        if options.get("no_skills"):
            changes["skills"] = ()
        elif options.get("skill"):
            changes["skills"] = self._skills(options["skill"], Skill)
        return changes

    def _skills(self, given: list[str], skill_model: Any) -> tuple[tuple[Any, int], ...]:
        wanted: dict[str, int] = {}
        for item in given:
            code, sep, level = str(item).strip().partition(":")
            code = code.strip().lower()
            if not code or code in wanted:
                raise CommandError(f"--skill: '{item}' is empty or given twice", returncode=2)
            wanted[code] = self._number(level, "--skill") if sep else 1
            if not 1 <= wanted[code] <= 5:
                raise CommandError(f"--skill: the minimum proficiency of '{code}' must be 1-5", returncode=2)
        found = {s.code: s for s in skill_model.objects.filter(code__in=wanted, is_active=True)}
        missing = [c for c in wanted if c not in found]
        if missing:
            raise CommandError(f"--skill: no active skill '{', '.join(missing)}'", returncode=2)
        return tuple((found[c], level) for c, level in wanted.items())

    def _save(self, options: dict[str, Any]) -> None:
        from kefu.routing.models import Queue
        from kefu.routing.services import QueueData, queue_create, queue_data_of, queue_update

        changes = self._changes(options)
        if options["action"] == "add":
            queue = queue_create(actor=CLI, data=dataclasses.replace(
                QueueData(code=options["code"], name=options.get("name") or ""), **changes))
            self.stdout.write(f"created {queue.kind} queue {queue.code} "
                              f"({queue.target_percent}/{queue.target_seconds})")
            return
        queue = Queue.objects.filter(code=str(options["code"]).strip().lower()).first()
        if queue is None:
            raise CommandError(f"CODE: no queue '{options['code']}'", returncode=2)
        if not changes:
            raise CommandError("nothing to change: give at least one option (kefu queue set --help)", returncode=2)
        queue = queue_update(actor=CLI, queue=queue, expected_version=queue.version,
                             data=dataclasses.replace(queue_data_of(queue), **changes))
        self.stdout.write(f"updated queue {queue.code} (version {queue.version})")

    def _show(self, code: str) -> None:
        from kefu.routing.models import Queue
        from kefu.routing.services import QUEUE_FIELDS, queue_data_of

        queue = Queue.objects.select_related("team", "overflow_to").filter(code=str(code).strip().lower()).first()
        if queue is None:
            raise CommandError(f"CODE: no queue '{code}'", returncode=2)
        data = queue_data_of(queue)
        self.stdout.write(f"code\t{queue.code}")
        for field in QUEUE_FIELDS:
            value = getattr(data, field)
            if field == "team":
                value = value.name if value else "-"
            elif field == "overflow_to":
                value = value.code if value else "-"
            self.stdout.write(f"{field}\t{'-' if value is None else value}")
        skills = ", ".join(f"{skill.code}:{level}" for skill, level in data.skills or ()) or "-"
        self.stdout.write(f"skills\t{skills}")
        self.stdout.write(f"version\t{queue.version}")

    def _list(self) -> None:
        from kefu.routing.selectors import queues_with_line

        for queue in queues_with_line():
            team = queue.team.name if queue.team else "-"
            state = "active" if queue.is_active else "disabled"
            routing = f"routed {queue.strategy}" if queue.routed else "not routed"
            self.stdout.write(f"{queue.code}\t{queue.kind}\t{state}\t{team}\t{queue.target_percent}/"
                              f"{queue.target_seconds}\tformula {queue.formula}\t{queue.name}\t{routing}\t"
                              f"in line {queue.in_line}")
