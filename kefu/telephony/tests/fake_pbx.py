"""Loopback fake PBXs for the adapter and command tests: an Asterisk Manager Interface and a FreeSWITCH event
socket on 127.0.0.1, each in a thread. They sign a client in, then either replay a recorded event stream once, or
answer commands (recording each one, as sent, for the tests to assert)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from kefu.telephony.adapters.ami import read_messages


class FakeAmi:
    """A loopback AMI: banner, sign-in (secret `s3cret`), then `stream` sent once; answers actions with
    `answers[action]` (Success by default) and records them."""

    def __init__(self, stream: bytes = b"", answers: dict[str, str] | None = None) -> None:
        self.stream = stream
        self.answers = answers or {}
        self.actions: list[dict[str, str]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"Asterisk Call Manager/5.0.1\r\n")
                reader = read_messages(iter(conn.makefile("r", encoding="utf-8", newline="")))
                login = next(reader)
                self.actions.append(login)
                ok = login.get("Secret") == "s3cret"
                conn.sendall((f"Response: {'Success' if ok else 'Error'}\r\nActionID: {login.get('ActionID')}\r\n"
                              f"Message: Authentication {'accepted' if ok else 'failed'}\r\n\r\n").encode())
                if not ok:
                    continue
                if self.stream:
                    conn.sendall(self.stream)
                    conn.shutdown(socket.SHUT_WR)
                    continue
                for action in reader:
                    self.actions.append(action)
                    if action.get("Action") == "Logoff":
                        break
                    answer = self.answers.get(action.get("Action", ""), "Success")
                    why = "Originate successfully queued" if answer == "Success" else "No such channel"
                    conn.sendall((f"Event: PeerStatus\r\nPeer: PJSIP/1002\r\n\r\n"
                                  f"Response: {answer}\r\nActionID: {action.get('ActionID')}\r\n"
                                  f"Message: {why}\r\n\r\n").encode())

    def sent(self, action: str) -> list[dict[str, str]]:
        return [a for a in self.actions if a.get("Action") == action]

    def close(self) -> None:
        self.server.close()


def _reply(text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def _api(body: str) -> bytes:
    data = body.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


HEARTBEAT = (b"Event-Name: HEARTBEAT\nCore-UUID: 4c7a4f0e-5b1d-4e0a-8f6c-2d9a1b3c5e7f\n"
             b"Event-Date-Timestamp: 1796349600000000\nUp-Time: 0%20years%2C%200%20days\n\n")
EVENT = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(HEARTBEAT) + HEARTBEAT


class FakeEsl:
    """A loopback event socket: `auth/request`, `auth ClueCon`, then either `stream` once (after the `event plain`
    subscription) or answers to commands: `bgapi` → `+OK Job-UUID: …`, `api` → `+OK` (or `refuse[verb]`, e.g.
    `{"uuid_transfer": "-ERR No such channel!"}`). An event arrives before each answer, as on a busy switch."""

    def __init__(self, stream: bytes = b"", refuse: dict[str, str] | None = None,
                 password: str = "ClueCon") -> None:  # noqa: S107 — FreeSWITCH's shipped default, in a test fake
        self.stream = stream
        self.refuse = refuse or {}
        self.password = password
        self.commands: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _commands(conn: socket.socket) -> Any:
        buffer = b""
        while True:
            while b"\n\n" not in buffer:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            line, buffer = buffer.split(b"\n\n", 1)
            yield line.decode()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"Content-Type: auth/request\n\n")
                commands = self._commands(conn)
                auth = next(commands, "")
                self.commands.append(auth)
                if auth != f"auth {self.password}":
                    conn.sendall(_reply("-ERR invalid"))
                    continue
                conn.sendall(_reply("+OK accepted"))
                for command in commands:
                    self.commands.append(command)
                    verb = command.split(" ")[1] if command.startswith(("api ", "bgapi ")) else command
                    if command == "exit":
                        conn.sendall(_reply("+OK bye"))
                        break
                    if command.startswith("event plain") and self.stream:
                        conn.sendall(_reply("+OK event listener enabled plain") + self.stream)
                        conn.shutdown(socket.SHUT_WR)
                        break
                    refusal = self.refuse.get(verb, "")
                    if command.startswith("bgapi "):
                        conn.sendall(EVENT + _reply(refusal or "+OK Job-UUID: 3b0a9c2e-1d4f-4e5a-8b6c-7d8e9f0a1b2c"))
                    elif command.startswith("api "):
                        conn.sendall(EVENT + _api((refusal or "+OK") + "\n"))
                    else:
                        conn.sendall(_reply("+OK"))

    def sent(self, prefix: str) -> list[str]:
        return [c for c in self.commands if c.startswith(prefix)]

    def close(self) -> None:
        self.server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (an unreachable PBX)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
