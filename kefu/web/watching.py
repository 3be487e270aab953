"""Who is viewing a work order: the collision warning of the work-order page ("李娜 正在查看", "李娜 正在回复…").

The page's socket (`ws/watch/`, the same consumer as the inbox's: kefu.web.consumers.InboxConsumer) sends
`{"type": "watch", "ticket": <id>}` when the page opens and again every HEARTBEAT seconds, `{"type": "typing",
"ticket": <id>}` while its person types a reply or a note, and `{"type": "unwatch"}` when the page goes. Only a
person who may see the order (the page's own check: the ticket view right and the order's scope) gets in;
anyone else gets an `error` frame and hears nothing of it.

Presence is not an event (nothing is stored): sockets watching an order join the channel-layer group
`watch.ticket.<id>` (Redis when configured, so the viewers of every server process meet there) and tell each
other `here`, `typing` and `gone` (`ticket.viewer` messages). A newcomer's `here` asks the others to answer it
directly, so it learns who is there at once. Each socket keeps its own list of the others (`Roster`): a viewer
stays while its heartbeats come (VIEWER_TTL), so a server process that died with its sockets is forgotten
within that time; a browser that closes or loses its connection is gone at once (its socket says so). The
browser gets `{"type": "viewers", "ticket": <id>, "viewers": [{"id", "name", "typing"}]}` whenever the list
it shows changes, and in answer to each watch.

The same socket also joins the live hub's group of the same name: the order's committed events reach every
viewer of the page (kefu.web.live pushes work-order events to it), even one outside the event's audience."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VIEWER_TTL = 90.0  # seconds a viewer stays listed without a heartbeat (a background tab beats once a minute)
HEARTBEAT = 25.0  # seconds between two watch frames of an open page (kefu/static/kefu/presence.js)
TYPING_TTL = 8.0  # seconds "正在回复…" stays after the last typing signal
TYPING_EVERY = 2.0  # a socket passes on at most one typing signal this often

clock: Callable[[], float] = time.monotonic  # tests replace it: expiry is decided by this clock only


def ticket_watch_group(ticket_id: int | str) -> str:
    """The channel-layer group (presence) and the live hub group (events) of a work order's viewers."""
    return f"watch.ticket.{int(ticket_id)}"


def may_watch_ticket(user: Any, ticket_id: int) -> bool:
    """Whether `user` may see the order, as its page decides (kefu.web.views.common.visible_ticket_or_404)."""
    from kefu.core.policy import has_right, may_see
    from kefu.tickets.models import Ticket
    from kefu.tickets.permissions import TicketRight

    if not has_right(user, TicketRight.VIEW):
        return False
    ticket = Ticket.objects.only("pk", "assignee_id", "first_contact_owner_id", "team_id").filter(
        pk=ticket_id).first()
    return ticket is not None and may_see(user, ticket)


@dataclass
class Viewer:
    user_id: int
    name: str
    seen_at: float
    typing_until: float = 0.0


@dataclass
class Roster:
    """The other sockets watching the same order, as one socket knows them, by channel name."""

    viewers: dict[str, Viewer] = field(default_factory=dict)

    def seen(self, channel: str, user_id: int, name: str, now: float, *, typing: bool = False) -> None:
        viewer = self.viewers.get(channel)
        if viewer is None:
            viewer = self.viewers[channel] = Viewer(user_id, name, now)
        viewer.seen_at, viewer.name = now, name
        if typing:
            viewer.typing_until = now + TYPING_TTL

    def gone(self, channel: str) -> None:
        self.viewers.pop(channel, None)

    def expire(self, now: float) -> None:
        for channel in [c for c, v in self.viewers.items() if now - v.seen_at > VIEWER_TTL]:
            del self.viewers[channel]

    def people(self, now: float, *, me: int) -> list[dict[str, Any]]:
        """One entry per person other than `me` (a person with two tabs open is listed once), in the order they
        came; typing if any of their sockets is."""
        found: dict[int, dict[str, Any]] = {}
        for viewer in self.viewers.values():
            if viewer.user_id == me:
                continue
            person = found.setdefault(viewer.user_id, {"id": viewer.user_id, "name": viewer.name, "typing": False})
            person["typing"] = person["typing"] or viewer.typing_until > now
        return list(found.values())

    def next_change(self, now: float) -> float | None:
        """Seconds until someone's typing lapses (the list shown changes then), if anyone types."""
        left = [v.typing_until - now for v in self.viewers.values() if v.typing_until > now]
        return min(left) if left else None


@dataclass
class Watch:
    ticket_id: int
    group: str
    roster: Roster = field(default_factory=Roster)
    shown: list[dict[str, Any]] | None = None  # the list the browser has last been sent
    typing_at: float = -TYPING_EVERY
    timer: asyncio.TimerHandle | None = None


class TicketWatching:
    """The work-order watch of a workspace socket (mixed into kefu.web.consumers.InboxConsumer, which has the
    channel layer, `send_frame` and the live hub membership)."""

    ticket_watch: Watch | None = None
    channel_layer: Any
    channel_name: str
    scope: Any

    def _viewer(self, watch: Watch, state: str, *, hello: bool = False) -> dict[str, Any]:
        user = self.scope["user"]
        return {"type": "ticket.viewer", "ticket": watch.ticket_id, "from": self.channel_name,
                "user": user.pk, "name": str(user), "state": state, "hello": hello}

    async def watch_ticket(self, ticket_id: int) -> bool:
        """Watch an order (or beat the heartbeat of the one watched) → False when the user may not see it (then
        the order is not watched any more)."""
        from kefu.core.asyncdb import socket_db

        if not await socket_db(may_watch_ticket)(self.scope["user"], ticket_id):
            if self.ticket_watch is not None and self.ticket_watch.ticket_id == ticket_id:
                await self.unwatch_ticket()
            return False
        watch = self.ticket_watch
        if watch is None or watch.ticket_id != ticket_id:
            from kefu.web.live import HUB

            await self.unwatch_ticket()
            watch = self.ticket_watch = Watch(ticket_id, ticket_watch_group(ticket_id))
            await self.channel_layer.group_add(watch.group, self.channel_name)
            HUB.join(self, [watch.group])
            await self.channel_layer.group_send(watch.group, self._viewer(watch, "here", hello=True))
        else:  # the heartbeat: renews the membership too (the Redis layer forgets a group's members after a day)
            await self.channel_layer.group_add(watch.group, self.channel_name)
            await self.channel_layer.group_send(watch.group, self._viewer(watch, "here"))
        await self._show_viewers(always=True)
        return True

    async def ticket_typing(self, ticket_id: int) -> bool:
        """The user types in the order's reply or note box → False when that order is not the one watched."""
        watch = self.ticket_watch
        if watch is None or watch.ticket_id != ticket_id:
            return False
        now = clock()
        if now - watch.typing_at >= TYPING_EVERY:
            watch.typing_at = now
            await self.channel_layer.group_send(watch.group, self._viewer(watch, "typing"))
        return True

    async def unwatch_ticket(self) -> None:
        watch, self.ticket_watch = self.ticket_watch, None
        if watch is None:
            return
        from kefu.web.live import HUB

        if watch.timer is not None:
            watch.timer.cancel()
        HUB.leave(self, [watch.group])
        with contextlib.suppress(Exception):  # a closing socket: the others' heartbeats forget it anyway
            await self.channel_layer.group_send(watch.group, self._viewer(watch, "gone"))
            await self.channel_layer.group_discard(watch.group, self.channel_name)

    async def ticket_viewer(self, message: dict[str, Any]) -> None:
        """Another socket's `here`, `typing` or `gone` (channel layer type `ticket.viewer`)."""
        watch = self.ticket_watch
        sender = message.get("from")
        if watch is None or message.get("ticket") != watch.ticket_id or not isinstance(sender, str):
            return
        if sender == self.channel_name:
            return
        state = message.get("state")
        if state == "gone":
            watch.roster.gone(sender)
        elif state in ("here", "typing") and isinstance(message.get("user"), int):
            watch.roster.seen(sender, message["user"], str(message.get("name", ""))[:100], clock(),
                              typing=state == "typing")
            if message.get("hello"):  # a newcomer: tell it directly that this socket is here
                await self.channel_layer.send(sender, self._viewer(watch, "here"))
        await self._show_viewers()

    async def _show_viewers(self, *, always: bool = False) -> None:
        """Send the browser the list of the others when it changed (or `always`), and look again when the next
        typing lapses."""
        watch = self.ticket_watch
        if watch is None:
            return
        now = clock()
        watch.roster.expire(now)
        people = watch.roster.people(now, me=self.scope["user"].pk)
        if always or people != watch.shown:
            watch.shown = people
            await self.send_frame({"type": "viewers", "ticket": watch.ticket_id, "viewers": people})
        if watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None
        wait = watch.roster.next_change(now)
        if wait is not None:
            loop = asyncio.get_running_loop()
            watch.timer = loop.call_later(wait + 0.05, lambda: loop.create_task(self._look_again()))

    async def _look_again(self) -> None:
        with contextlib.suppress(Exception):  # the socket may have closed meanwhile
            await self._show_viewers()
