"""What every PBX adapter offers Kefu: its errors, and the two commands out (click-to-dial and transfer), so the
services talk to Asterisk and FreeSWITCH alike. Transport only: what a command means is the services'."""

from __future__ import annotations

from typing import Protocol


class PbxError(Exception):
    """The PBX cannot be used now (unreachable, refused sign-in, lost connection)."""


class PbxRefused(PbxError):
    """The PBX answered a command with a refusal; `reason` is its own words."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused: {reason}")
        self.reason = reason


class PbxCommands(Protocol):
    """A signed-in session that can send commands (`with session: session.originate(…)`)."""

    def __enter__(self) -> PbxCommands: ...

    def __exit__(self, *exc: object) -> None: ...

    def originate(self, *, extension: str, number: str, caller_id: str = "") -> str:
        """Ring the agent's `extension`; once they pick up, call `number`. Returns the PBX's reference."""
        ...

    def transfer(self, *, channel: str, to: str) -> str:
        """Send the caller's leg `channel` to `to` (an extension, or a queue's code, in the dial context)."""
        ...


def clean_argument(value: str) -> str:
    """A value for a command line or header: no line breaks (they would end the command and start another)."""
    return value.replace("\r", " ").replace("\n", " ").strip()
