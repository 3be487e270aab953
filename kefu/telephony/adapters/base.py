"""What every PBX adapter offers Kefu: its errors, and the two commands out (click-to-dial and transfer), so the
services talk to Asterisk and FreeSWITCH alike. Transport only: what a command means is the services'."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Protocol, Self


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


class PbxSession:
    """The socket of one connection to a PBX's manager interface, shared by the adapters: connect with a timeout,
    read what arrives in chunks (a quiet PBX is waited for; a command waiting past its deadline is an error), keep
    the events read while a command waited for its answer, and say goodbye on close. Each adapter adds its own
    framing, sign-in and commands, and names its error class."""

    error: type[PbxError] = PbxError
    goodbye = b""  # sent before closing (the protocol's log-off), best effort

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self._deadline: float | None = None  # while a command waits for its answer
        self.pending: list[dict[str, str]] = []  # events read while waiting for a command's answer

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect and sign in: each adapter's own handshake (AMI Login, the event socket's auth)."""
        raise NotImplementedError

    def _connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            if self.goodbye:
                with contextlib.suppress(OSError):
                    sock.sendall(self.goodbye)
            with contextlib.suppress(OSError):
                sock.close()

    def _failed(self, exc: OSError) -> PbxError:
        return self.error(f"{type(exc).__name__}: {exc}")

    def _chunks(self) -> Iterator[bytes]:
        """What the PBX sends, until it closes the connection."""
        while self.sock is not None:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                if self._deadline is not None and time.monotonic() > self._deadline:
                    raise self.error(f"no answer from the PBX within {self.timeout:g} s") from None
                continue  # a quiet PBX: keep waiting for events (the socket stays open)
            except OSError as exc:  # reset by the peer: the listener reconnects
                raise self._failed(exc) from exc
            if not chunk:
                return
            yield chunk

    def _sendall(self, data: bytes) -> None:
        if self.sock is None:
            raise self.error("not connected")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise self._failed(exc) from exc

    def _waiting(self) -> contextlib.AbstractContextManager[None]:
        """While a command waits for its answer: a quiet PBX past the timeout is an error."""
        return _Deadline(self)

    def _pending_events(self) -> Iterator[dict[str, str]]:
        while self.pending:
            yield self.pending.pop(0)


class _Deadline(contextlib.AbstractContextManager[None]):
    def __init__(self, session: PbxSession) -> None:
        self.session = session

    def __enter__(self) -> None:
        self.session._deadline = time.monotonic() + self.session.timeout

    def __exit__(self, *exc: object) -> None:
        self.session._deadline = None
