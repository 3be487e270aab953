from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations.tests.factories import ChannelFactory


@pytest.fixture
def app_channel(team: Any) -> Any:
    return ChannelFactory(code="app", team=team, config={"outbound_url": "http://127.0.0.1:9/hook"})


@pytest.fixture
def chat_channel(team: Any) -> Any:
    return ChannelFactory(chat=True, code="web", team=team)


class FakeTransport:
    """The webhook transport double: records what would be POSTed and answers with the queued status codes."""

    def __init__(self, statuses: list[int | None] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def send(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Any:
        from kefu.integrations.transport import SendResult

        self.calls.append((url, body, headers))
        status = self.statuses.pop(0) if self.statuses else 200
        return SendResult(status, "" if status and 200 <= status < 300 else f"HTTP {status}")


@pytest.fixture
def transport() -> Any:
    from kefu.integrations import transport as module

    fake = FakeTransport()
    previous = module.set_transport(fake)
    yield fake
    module.set_transport(previous)
