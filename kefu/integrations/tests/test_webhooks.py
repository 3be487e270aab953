"""Webhooks end to end against real HTTP servers on 127.0.0.1: signature verified by the receiver, retry with
backoff on failure, give-up after the last attempt, one sender per delivery, redeliver, refused addresses."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.core.models import AuditLog
from kefu.core.relay import drain
from kefu.integrations import delivery as sender
from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
from kefu.integrations.services import webhook_redeliver
from kefu.integrations.signing import signature, verify
from kefu.integrations.transport import BlockedAddress, check_url
from kefu.tickets import services

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that records what it receives and answers with the given status codes in turn."""

    def __init__(self, statuses: list[int], secret: str = "", delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.received: list[dict[str, Any]] = []
        self.secret = secret
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if delay:
                    time.sleep(delay)
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ticket(agent: Any) -> Any:
    return services.ticket_create(actor=agent, subject="Webhook 测试", ticket_type="complaint")


def _delivery(endpoint: WebhookEndpoint, ticket: Any, event: str = "ticket.created") -> WebhookDelivery:
    """The delivery of the order's `event` to `endpoint`, made by the relay's webhook consumer."""
    drain()
    return WebhookDelivery.objects.filter(endpoint=endpoint, event=event).latest("id")


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"a":1}'
    header = signature("s3cret", 1700000000, body)
    assert header.startswith("sha256=")
    assert verify("s3cret", "1700000000", body, header, now=1700000010)
    assert not verify("other", "1700000000", body, header, now=1700000010)
    assert not verify("s3cret", "1700000000", b'{"a":2}', header, now=1700000010)
    assert not verify("s3cret", "1700000000", body, header, now=1700000000 + 301)  # too old: a replay
    assert not verify("s3cret", "not-a-number", body, header, now=1700000000)


def test_delivered_with_signature_the_receiver_can_verify(ticket: Any) -> None:
    with Receiver([204]) as receiver:
        endpoint = WebhookEndpoint.objects.create(name="CRM", url=receiver.url, secret="top-secret")
        delivery = _delivery(endpoint, ticket)
        result = sender.webhook_attempt(delivery_id=delivery.pk)
    assert result is not None
    assert result.state == WebhookDelivery.State.DELIVERED
    assert result.last_status_code == 204
    assert result.attempts == 1
    (got,) = receiver.received
    headers = got["headers"]
    assert headers["X-Kefu-Event"] == "ticket.created"
    assert headers["X-Kefu-Delivery"] == str(delivery.event_id)
    assert verify(
        "top-secret", headers["X-Kefu-Timestamp"], got["body"], headers["X-Kefu-Signature"], now=time.time()
    )
    payload = json.loads(got["body"])
    assert payload["id"] == str(delivery.event_id)
    assert (payload["event"], payload["version"]) == ("ticket.created", 1)
    assert payload["object"] == {"type": "tickets.ticket", "id": str(ticket.pk)}
    assert payload["ticket"]["id"] == ticket.pk
    assert payload["ticket"]["number"] == ticket.number
    assert payload["data"] == {}


def test_service_changes_reach_subscribed_endpoints_after_commit(
    agent: Any, ticket: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with Receiver([200]) as receiver:
        WebhookEndpoint.objects.create(name="只要回复", url=receiver.url, events=["ticket.replied"])
        with django_capture_on_commit_callbacks(execute=True):
            services.ticket_add_note(actor=agent, ticket=ticket, body="内部")
            services.ticket_reply(actor=agent, ticket=ticket, body="您好")
    assert [r["headers"]["X-Kefu-Event"] for r in receiver.received] == ["ticket.replied"]
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.DELIVERED


def test_failures_retry_with_growing_backoff_then_give_up(ticket: Any, settings: Any) -> None:
    settings.KEFU_WEBHOOK_MAX_ATTEMPTS = 4
    rng = random.Random(7)
    with Receiver([500]) as receiver:
        endpoint = WebhookEndpoint.objects.create(name="坏的", url=receiver.url)
        delivery = _delivery(endpoint, ticket)
        now = timezone.now()
        waits = []
        for attempt in range(1, 5):
            result = sender.webhook_attempt(delivery_id=delivery.pk, now=now, rng=rng)
            assert result is not None
            assert result.attempts == attempt
            assert result.last_status_code == 500
            if attempt < 4:
                assert result.state == WebhookDelivery.State.RETRYING
                wait = (result.next_attempt_at - now).total_seconds()
                base = sender.BACKOFF_SECONDS[attempt - 1]
                assert base * 0.8 <= wait <= base * 1.2
                waits.append(wait)
                # not due before its time: nobody may claim it early
                assert (
                    sender.webhook_attempt(delivery_id=delivery.pk, now=now + timedelta(seconds=wait - 1))
                    is None
                )
                now = result.next_attempt_at
        assert result.state == WebhookDelivery.State.GAVE_UP
        assert result.next_attempt_at is None
        assert len(receiver.received) == 4
    assert waits == sorted(waits)
    assert sender.webhook_attempt(delivery_id=delivery.pk, now=now + timedelta(days=30)) is None


def test_connection_refused_is_a_failed_attempt(ticket: Any) -> None:
    endpoint = WebhookEndpoint.objects.create(name="无人", url="http://127.0.0.1:9/hook")
    delivery = _delivery(endpoint, ticket)
    result = sender.webhook_attempt(delivery_id=delivery.pk)
    assert result is not None
    assert result.state == WebhookDelivery.State.RETRYING
    assert result.last_status_code is None
    assert result.last_error


def test_retry_due_sends_what_is_due_and_recovers(ticket: Any) -> None:
    with Receiver([503, 200]) as receiver:
        endpoint = WebhookEndpoint.objects.create(name="时好时坏", url=receiver.url)
        delivery = _delivery(endpoint, ticket)
        now = timezone.now()
        assert sender.webhook_retry_due(now=now) == 1
        delivery.refresh_from_db()
        assert delivery.state == WebhookDelivery.State.RETRYING
        assert sender.webhook_retry_due(now=now) == 0  # not due yet
        assert sender.webhook_retry_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert delivery.attempts == 2
    assert (
        receiver.received[0]["headers"]["X-Kefu-Delivery"]
        == receiver.received[1]["headers"]["X-Kefu-Delivery"]
    )


def test_a_claimed_delivery_cannot_be_claimed_again(ticket: Any) -> None:
    endpoint = WebhookEndpoint.objects.create(name="x", url="http://127.0.0.1:9/hook")
    delivery = _delivery(endpoint, ticket)
    now = timezone.now()
    assert sender.claim(delivery.pk, now=now) is True
    assert sender.claim(delivery.pk, now=now) is False  # leased to the first worker
    assert sender.claim(delivery.pk, now=now + timedelta(minutes=5)) is True  # lease expired: a dead worker


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_delivery(agent: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("needs a database with real concurrent connections: runs on PostgreSQL")
    # the deliveries are made by the relay but not sent: four workers below race to send the one delivery
    monkeypatch.setattr("kefu.integrations.services._queue_after_commit", lambda ids: None)
    with Receiver([200], delay=0.2) as receiver:
        endpoint = WebhookEndpoint.objects.create(name="慢", url=receiver.url)
        ticket = services.ticket_create(actor=agent, subject="并发投递")
        delivery = _delivery(endpoint, ticket)
        barrier = threading.Barrier(4)

        def work() -> None:
            try:
                barrier.wait()
                sender.webhook_attempt(delivery_id=delivery.pk)
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_redeliver_starts_over_and_is_audited(
    ticket: Any, admin_user: Any, manager: Any, settings: Any
) -> None:
    settings.KEFU_WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = WebhookEndpoint.objects.create(name="x", url="http://127.0.0.1:9/hook")
    delivery = _delivery(endpoint, ticket)
    assert sender.webhook_attempt(delivery_id=delivery.pk).state == WebhookDelivery.State.GAVE_UP
    from kefu.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        webhook_redeliver(actor=manager, delivery_id=delivery.pk)
    with Receiver([200]) as receiver:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)
        webhook_redeliver(actor=admin_user, delivery_id=delivery.pk)
        result = sender.webhook_attempt(delivery_id=delivery.pk)
    assert result.state == WebhookDelivery.State.DELIVERED
    assert result.attempts == 1
    assert AuditLog.objects.filter(action="webhook.redelivered", object_id=str(delivery.pk)).exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/x",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
    ],
)
def test_refused_addresses(url: str) -> None:
    with pytest.raises(BlockedAddress):
        check_url(url)


def test_a_refused_address_gives_up_at_once(ticket: Any) -> None:
    endpoint = WebhookEndpoint.objects.create(name="元数据", url="http://169.254.169.254/latest/")
    delivery = _delivery(endpoint, ticket)
    result = sender.webhook_attempt(delivery_id=delivery.pk)
    assert result.state == WebhookDelivery.State.GAVE_UP
    assert "blocked" in result.last_error


def test_loopback_and_private_addresses_are_allowed() -> None:
    check_url("http://127.0.0.1:8080/hook")
    check_url("https://10.1.2.3/hook")


# --- the delivery log page ----------------------------------------------------------------------------------


def test_delivery_log_is_for_administrators(ticket: Any, admin_user: Any, manager: Any, agent: Any) -> None:
    endpoint = WebhookEndpoint.objects.create(name="CRM 系统", url="http://127.0.0.1:9/hook")
    delivery = _delivery(endpoint, ticket)
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/webhooks/")
    assert page.status_code == 200
    assert "CRM 系统" in page.content.decode()
    assert "ticket.created" in page.content.decode()
    detail = client.get(f"/admin/webhooks/deliveries/{delivery.pk}/")
    assert detail.status_code == 200
    assert str(delivery.event_id) in detail.content.decode()
    assert client.get("/admin/webhooks/", {"state": "delivered"}).content.decode().count("CRM 系统") <= 1
    for outsider in (manager, agent):
        other = Client()
        other.force_login(outsider)
        assert other.get("/admin/webhooks/").status_code == 403
        assert other.post(f"/admin/webhooks/deliveries/{delivery.pk}/redeliver/").status_code == 403
    assert Client().get("/admin/webhooks/").status_code == 302


def test_redeliver_button(ticket: Any, admin_user: Any, settings: Any) -> None:
    settings.KEFU_WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = WebhookEndpoint.objects.create(name="x", url="http://127.0.0.1:9/hook")
    delivery = _delivery(endpoint, ticket)
    sender.webhook_attempt(delivery_id=delivery.pk)
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/admin/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.PENDING
    assert delivery.attempts == 0
    assert client.post("/admin/webhooks/deliveries/999999/redeliver/").status_code == 404
