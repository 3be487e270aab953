"""What a notification channel outside the app does: say whether it is set up, find the person's address on
it, and send one rendered notice. Adapters only move text; services decide who is told what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Rendered:
    """A notice in its recipient's language."""

    subject: str
    text: str  # plain text: the title, the link, a line of detail
    html: str = ""
    link: str = ""


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    permanent: bool = False  # retrying cannot help (refused address, a request the service will never take)


class ChannelAdapter(Protocol):
    code: str

    def is_configured(self) -> bool:
        """Whether the channel can send at all (settings, a robot…): the preferences page offers only these."""

    def address_for(self, user: Any) -> str:
        """The person's address on the channel, or "" when they have none (the delivery is then skipped)."""

    def send(self, *, address: str, user: Any, rendered: Rendered) -> SendResult: ...
