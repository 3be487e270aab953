"""XSS: every user-supplied text field, stored with script payloads, stays inert on every page showing it."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from kefu.tickets import services

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "javascript:alert(1)",
]
PAYLOAD = " ".join(PAYLOADS)


class _Scan(HTMLParser):
    """Collects what a payload would need to run: script bodies, event-handler attributes, URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._in_script = True
        if tag in ("img", "svg") and dict(attrs).get("src") == "x":
            self.problems.append(f"injected <{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") and "alert" in value:
                self.problems.append(f"handler {name}={value}")
            if name in ("href", "src", "action", "hx-get", "hx-post") and value.strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"{name}={value}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert(1)" in data:
            self.problems.append("payload inside <script>")


def assert_inert(html: str, where: str) -> None:
    scan = _Scan()
    scan.feed(html)
    assert not scan.problems, f"{where}: {scan.problems}"
    assert "<script>alert(1)" not in html, where
    assert "onerror=alert(1)>" not in html, where


@pytest.fixture
def hostile(agent: Any, team_lead: Any, repair_department: Any, department_user: Any) -> dict[str, Any]:
    """One of everything a user can type, each carrying all payloads."""
    from kefu.customers.services import ContactInput, SiteInput, customer_create

    for user in (agent, team_lead, department_user):  # display names are user data too
        user.display_name = f"{user.display_name}{PAYLOADS[1]}"
        user.save(update_fields=["display_name"])
    repair_department.name = f"维修部{PAYLOADS[0]}"
    repair_department.save(update_fields=["name"])
    customer = customer_create(
        actor=agent,
        name=f"客户{PAYLOAD}"[:200],
        company=f"公司{PAYLOAD}"[:200],
        notes=PAYLOAD,
        tags=["<script>x</script>", '"><img src=x onerror=alert(1)>'[:40]],
        contacts=[ContactInput(kind="email", value="x@example.com")],
        sites=[SiteInput(address=f"地址{PAYLOAD}"[:300], province=PAYLOADS[2][:40])],
    )
    ticket = services.ticket_create(
        actor=agent, subject=f"标题{PAYLOAD}"[:200], description=PAYLOAD, customer=customer, assignee=agent
    )
    services.ticket_reply(actor=agent, ticket=ticket, body=PAYLOAD)
    services.ticket_add_note(actor=agent, ticket=ticket, body=PAYLOAD)
    services.ticket_assign(actor=agent, ticket=ticket, assignee=team_lead, reason=PAYLOAD[:500])
    dispatch = services.ticket_dispatch(
        actor=agent, ticket=ticket, department=repair_department, instructions=PAYLOAD
    )
    services.dispatch_acknowledge(actor=department_user, dispatch=dispatch)
    services.dispatch_complete(actor=department_user, dispatch=dispatch, result=PAYLOAD)
    services.ticket_escalate(actor=agent, ticket=ticket, reason=PAYLOAD[:500])
    services.ticket_update(
        actor=agent,
        ticket=ticket,
        expected_version=None,
        changes=services.TicketChanges(subject=f"改{PAYLOADS[0]}"),
    )
    services.ticket_customer_message(ticket=ticket, body=PAYLOAD, channel="wechat")
    from kefu.web.services import saved_view_create

    saved_view_create(actor=agent, name=PAYLOADS[1], query="scope=mine&q=%3Cscript%3E")
    return {"ticket": ticket, "customer": customer, "dispatch": dispatch}


def test_every_page_escapes_user_text(
    login: Any, agent: Any, manager: Any, department_user: Any, hostile: dict[str, Any]
) -> None:
    ticket, customer = hostile["ticket"], hostile["customer"]
    pages = {
        agent: [
            "/",
            "/tickets/?scope=mine",
            "/tickets/?scope=team&q=<script>alert(1)</script>",
            f"/tickets/{ticket.pk}/",
            "/customers/",
            f"/customers/{customer.pk}/",
            f"/customers/search/?q={customer.code}",
            f"/tickets/new/?customer={customer.pk}",
            "/counters/",
        ],
        manager: [
            "/tickets/?scope=all",
            f"/tickets/{ticket.pk}/",
            "/department/",
            f"/customers/{customer.pk}/",
        ],
        department_user: ["/department/?tab=done", f"/tickets/{ticket.pk}/"],
    }
    for user, urls in pages.items():
        client = login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            assert_inert(html, url)
    # the payload is shown, escaped, where it belongs
    body = login(agent).get(f"/tickets/{ticket.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    reveal = login(agent).post(f"/customers/{customer.pk}/reveal/")
    assert_inert(reveal.content.decode(), "reveal")


def test_refusals_and_conflicts_escape_user_text(login: Any, agent: Any, hostile: dict[str, Any]) -> None:
    ticket = hostile["ticket"]
    client = login(agent)
    htmx = {"HTTP_HX_REQUEST": "true"}
    responses = [
        client.post(
            f"/tickets/{ticket.pk}/edit/",
            {
                "version": 1,
                "subject": PAYLOAD[:200],
                "ticket_type": "inquiry",
                "priority": "normal",
                "channel": "phone",
                "description": PAYLOAD,
            },
            **htmx,
        ),
        client.post("/views/", {"name": PAYLOADS[0] * 3, "query": "scope=mine"}, **htmx),
        client.post(f"/tickets/{ticket.pk}/transition/", {"to_status": PAYLOADS[0]}, **htmx),
        client.post(
            "/tickets/new/",
            {
                "subject": PAYLOAD[:200],
                "ticket_type": "inquiry",
                "priority": "normal",
                "channel": "phone",
                "new_customer_name": PAYLOAD[:200],
                "new_customer_phone": PAYLOADS[1][:32],
            },
        ),
    ]
    for response in responses:
        assert response.status_code in (200, 409, 422), response.status_code
        assert_inert(response.content.decode(), response.request["PATH_INFO"])
