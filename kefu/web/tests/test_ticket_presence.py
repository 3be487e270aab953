"""Who is viewing a work order (`ws/watch/`, kefu.web.watching): viewers of the same order see each other and who
is typing a reply; leaving, unwatching or a closed socket clears them; a viewer not heard of within the heartbeat
expiry is dropped (the clock is the test's); someone who may not see the order gets an error frame and hears
nothing of it; the order's events reach its viewers, with the name of who made them."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from kefu.core.models import OutboxEvent
from kefu.core.testing import in_thread as _in_thread
from kefu.tickets import services
from kefu.web import watching
from kefu.web.live import HUB, build_messages
from kefu.web.tests.test_inbox_consumer import Socket
from kefu.web.watching import VIEWER_TTL, Roster, ticket_watch_group

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(watching, "clock", fake)
    return fake


def _people(frame: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(v["name"], v["typing"]) for v in frame["viewers"]]


def test_two_viewers_see_each_other_typing_and_leaving(agent: Any, team_lead: Any, ticket: Any,
                                                        clock: Clock) -> None:
    async def run() -> None:
        mine = await Socket(agent).connect()
        await mine.send({"type": "watch", "ticket": ticket.pk})
        assert (await mine.expect("viewers"))["viewers"] == []

        lead = await Socket(team_lead).connect()
        await lead.send({"type": "watch", "ticket": ticket.pk})
        # the newcomer hears at once who was there (answered directly), and is announced to them
        assert _people(await lead.expect("viewers", ticket=ticket.pk)) == []
        assert _people(await lead.expect("viewers", ticket=ticket.pk)) == [("李客服", False)]
        assert _people(await mine.expect("viewers")) == [("王组长", False)]

        await lead.send({"type": "typing", "ticket": ticket.pk})
        assert _people(await mine.expect("viewers")) == [("王组长", True)]
        clock.now += watching.TYPING_TTL + 1  # typing lapses: the next look (a heartbeat here) shows it
        await mine.send({"type": "watch", "ticket": ticket.pk})
        assert _people(await mine.expect("viewers")) == [("王组长", False)]

        await lead.send({"type": "unwatch"})
        assert (await mine.expect("viewers"))["viewers"] == []
        await lead.send({"type": "watch", "ticket": ticket.pk})
        assert _people(await mine.expect("viewers")) == [("王组长", False)]
        await lead.close()  # a closed tab or a lost connection: the socket's end says it is gone
        assert (await mine.expect("viewers"))["viewers"] == []
        await mine.close()

    async_to_sync(run)()


def test_a_viewer_not_heard_of_within_the_expiry_is_dropped(agent: Any, ticket: Any, clock: Clock) -> None:
    """A server process that died with its sockets says nothing: its viewers go when their heartbeats stop."""

    async def run() -> None:
        mine = await Socket(agent).connect()
        await mine.send({"type": "watch", "ticket": ticket.pk})
        await mine.expect("viewers")
        ghost = {"type": "ticket.viewer", "ticket": ticket.pk, "from": "gone-process!1", "user": 999_999,
                 "name": "张三", "state": "here", "hello": False}
        await get_channel_layer().group_send(ticket_watch_group(ticket.pk), ghost)
        assert _people(await mine.expect("viewers")) == [("张三", False)]
        clock.now += VIEWER_TTL - 1
        await mine.send({"type": "watch", "ticket": ticket.pk})  # within the expiry: still listed
        assert _people(await mine.expect("viewers")) == [("张三", False)]
        clock.now += 2
        await mine.send({"type": "watch", "ticket": ticket.pk})
        assert (await mine.expect("viewers"))["viewers"] == []
        await mine.close()

    async_to_sync(run)()


def test_someone_who_may_not_see_the_order_gets_an_error_and_no_presence(
        agent: Any, other_agent: Any, department_user: Any, ticket: Any, clock: Clock) -> None:
    async def run() -> None:
        mine = await Socket(agent).connect()
        await mine.send({"type": "watch", "ticket": ticket.pk})
        await mine.expect("viewers")
        for outsider in (other_agent, department_user):
            socket = await Socket(outsider).connect()
            await socket.send({"type": "watch", "ticket": ticket.pk})
            refused = await socket.expect("error")
            assert (refused["code"], refused["field"]) == ("not_found", "ticket")
            await socket.send({"type": "typing", "ticket": ticket.pk})
            assert (await socket.expect("error"))["field"] == "ticket"
            await socket.send({"type": "watch", "ticket": 2**31 - 1})  # no such order: the same answer
            assert (await socket.expect("error"))["code"] == "not_found"
            # nothing of the order reaches them, and they are not announced
            await mine.send({"type": "typing", "ticket": ticket.pk})
            assert await socket.nothing("viewers")
            await socket.close()
        assert await mine.nothing("viewers")
        for bad in ({"type": "watch", "ticket": "x"}, {"type": "watch", "ticket": True}):
            await mine.send(bad)
            assert (await mine.expect("error"))["field"] == "ticket"
        await mine.close()

    async_to_sync(run)()


def test_losing_the_right_ends_the_watch_at_the_next_heartbeat(agent: Any, team_lead: Any, other_team: Any,
                                                               ticket: Any, clock: Clock) -> None:
    async def run() -> None:
        mine = await Socket(agent).connect()
        await mine.send({"type": "watch", "ticket": ticket.pk})
        await mine.expect("viewers")
        lead = await Socket(team_lead).connect()
        await lead.send({"type": "watch", "ticket": ticket.pk})
        await lead.expect("viewers")
        assert _people(await lead.expect("viewers")) == [("李客服", False)]
        assert _people(await mine.expect("viewers")) == [("王组长", False)]
        # the order moves to another team and another assignee: the agent's page may not see it any more
        await _in_thread(lambda: type(ticket).objects.filter(pk=ticket.pk).update(
            team=other_team, assignee=None, first_contact_owner=None))
        await mine.send({"type": "watch", "ticket": ticket.pk})
        assert (await mine.expect("error"))["field"] == "ticket"
        assert (await lead.expect("viewers"))["viewers"] == []
        await mine.close()
        await lead.close()

    async_to_sync(run)()


def test_the_orders_events_reach_its_viewers_with_who_made_them(agent: Any, team_lead: Any, ticket: Any,
                                                                 clock: Clock) -> None:
    async def run() -> None:
        mine = await Socket(agent).connect()
        await mine.send({"type": "watch", "ticket": ticket.pk})
        await mine.expect("viewers")
        before = await _in_thread(lambda: OutboxEvent.objects.latest("id").pk)
        await _in_thread(lambda: services.ticket_reply(actor=team_lead, ticket=ticket, body="已安排师傅上门"))
        pushes = await _in_thread(lambda: build_messages(OutboxEvent.objects.filter(pk__gt=before)))
        replied = [(groups, m) for groups, m in pushes if m["type"] == "event" and m["event"] == "ticket.replied"]
        assert replied
        groups, message = replied[0]
        assert ticket_watch_group(ticket.pk) in groups
        assert (message["actor_name"], message["ticket"]["id"]) == ("王组长", ticket.pk)
        # the watch group alone reaches the page (a viewer outside the event's audience hears it too)
        HUB.deliver([([ticket_watch_group(ticket.pk)], message)])
        heard = await mine.expect("event", event="ticket.replied")
        assert heard["actor_name"] == "王组长"
        await mine.close()
        HUB.deliver([([ticket_watch_group(ticket.pk)], message)])  # unwatched with the socket: no one left
        assert ticket_watch_group(ticket.pk) not in HUB.groups

    async_to_sync(run)()


def test_the_roster_lists_each_person_once_and_not_oneself() -> None:
    roster = Roster()
    roster.seen("a!1", 7, "李娜", 0.0)
    roster.seen("a!2", 7, "李娜", 1.0, typing=True)  # a second tab of the same person
    roster.seen("b!1", 8, "张伟", 2.0)
    roster.seen("c!1", 9, "我", 2.0)
    assert roster.people(3.0, me=9) == [{"id": 7, "name": "李娜", "typing": True},
                                        {"id": 8, "name": "张伟", "typing": False}]
    assert roster.next_change(3.0) == pytest.approx(watching.TYPING_TTL - 2.0)
    roster.expire(VIEWER_TTL + 0.5)  # the first tab is forgotten, the second and the others are not
    assert set(roster.viewers) == {"a!2", "b!1", "c!1"}
    roster.gone("a!2")
    assert [p["id"] for p in roster.people(4.0, me=9)] == [8]


def test_the_order_page_watches_over_its_own_guarded_socket(login: Any, agent: Any, ticket: Any) -> None:
    from django.urls.resolvers import URLResolver

    from kefu.config.websockets import websocket_urlpatterns
    from kefu.identity.websocket import SecondFactorGuard

    html = login(agent).get(f"/tickets/{ticket.pk}/").content.decode()
    assert 'data-ws-url="/ws/watch/"' in html
    assert "kefu/presence.js" in html
    assert f'data-ticket-presence="{ticket.pk}"' in html
    assert f'data-version="{ticket.version}"' in html
    route = next(p for p in websocket_urlpatterns if str(p.pattern) == "ws/watch/")
    assert not isinstance(route, URLResolver)
    assert isinstance(route.callback, SecondFactorGuard)  # a half-signed-in session is refused like elsewhere
