"""Steps of the outbox crash test (kefu/core/tests/test_outbox.py), each run in a process of its own against a
file database: `python outbox_scenario.py STEP`. Not a test module (no test_ prefix)."""

from __future__ import annotations

import json
import os
import signal
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.config.settings.base")


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the operating system would: no clean-up of any kind


def main(step: str) -> None:
    import django

    django.setup()
    from django.db import transaction

    from kefu.accounts.choices import Role
    from kefu.accounts.models import Department, Team, User
    from kefu.core.models import ConsumerCursor, OutboxEvent
    from kefu.core.relay import consumers, drain
    from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
    from kefu.tickets import services

    if step == "setup":
        centre = Department.objects.create(name="客服中心", code="service", is_service_center=True)
        team = Team.objects.create(name="客服一组", department=centre)
        User.objects.create(username="agent", display_name="李客服", role=Role.AGENT, team=team,
                            department=centre)
        WebhookEndpoint.objects.create(name="CRM", url="http://127.0.0.1:9/a")
        WebhookEndpoint.objects.create(name="ERP", url="http://127.0.0.1:9/b", events=["ticket.created"])
    elif step == "write-and-die":
        # Killed right after the commit, before anything is told of it (no relay wake-up, no push).
        agent = User.objects.get(username="agent")
        with transaction.atomic():
            transaction.on_commit(_kill)
            services.ticket_create(actor=agent, subject="断电前的工单", assignee=agent)
    elif step == "consume-and-die":
        # Killed inside a consumer, after it wrote its deliveries but before its transaction committed.
        consumer = consumers()["integrations.webhooks"]
        original = consumer.handle

        def handle_then_die(batch: list[OutboxEvent]) -> None:
            original(batch)
            _kill()

        object.__setattr__(consumer, "handle", handle_then_die)
        drain()
    elif step == "relay":
        drain()
    elif step == "report":
        print(json.dumps({
            "events": list(OutboxEvent.objects.order_by("id").values_list("type", flat=True)),
            "deliveries": sorted(WebhookDelivery.objects.values_list("endpoint__name", "event")),
            "cursors": dict(ConsumerCursor.objects.values_list("name", "last_id")),
        }))


if __name__ == "__main__":
    main(sys.argv[1])
