"""System actors: work not done by a person (rules, schedules, channels, the bot) runs under a named actor of
its own, shown in histories as "系统：SLA 升级" or "机器人", never as a fake user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class SystemActor:
    """A named non-person actor. `key` is stable and stored in history rows; `label` is shown to readers."""

    key: str
    label: Promise | str

    # What code that handles users asks of an actor: a system actor is not a signed-in person.
    pk = None
    id = None
    is_authenticated = False
    is_active = True
    is_system = True
    role = ""
    team_id = None
    department_id = None

    def __str__(self) -> str:
        return str(self.label)

    @property
    def name(self) -> str:
        return str(self.label)


_REGISTRY: dict[str, SystemActor] = {}


def system_actor(key: str, label: Promise | str) -> SystemActor:
    """Declare (once, at import) a system actor; the same key always gives the same actor."""
    actor = _REGISTRY.get(key)
    if actor is None:
        actor = _REGISTRY[key] = SystemActor(key=key, label=label)
    return actor


def system_actor_label(key: str) -> str:
    """The reader's-language name of the system actor stored as `key` (an unknown key is shown as is)."""
    actor = _REGISTRY.get(key)
    return str(actor.label) if actor else str(_("系统：%(key)s") % {"key": key})


def is_system(actor: Any) -> bool:
    return isinstance(actor, SystemActor)


def person(actor: Any) -> Any:
    """The user behind `actor`, for a foreign key: None for system actors and anonymous users."""
    return actor if getattr(actor, "is_authenticated", False) and not is_system(actor) else None


def actor_key(actor: Any) -> str:
    """What a history row stores beside its actor foreign key: the system actor's key, or ""."""
    return actor.key if is_system(actor) else ""


# The system actors of the core product. Apps declare their own beside the code that uses them.
SYSTEM = system_actor("system", _("系统"))
SLA = system_actor("sla", _("系统：SLA 升级"))
SCHEDULER = system_actor("scheduler", _("系统：定时任务"))
