"""IMAP transport for e-mail channels: connect, select a folder, list and fetch messages by UID, flag them seen.
Bytes only — parsing is `adapters/email.py`'s, deciding is the services'."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import ssl
import time
from types import TracebackType
from typing import Any

from kefu.conversations.adapters.email import MailboxSettings
from kefu.conversations.adapters.mailauth import Credentials, PasswordCredentials, SignIn, SignInError


class ImapError(Exception):
    """The mailbox cannot be read now (refused login, unknown folder, connection lost): the poll stops and is
    tried again at the next round."""


_FETCH_UID = re.compile(rb"UID\s+(\d+)", re.IGNORECASE)
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE\s+(\d+)", re.IGNORECASE)


def encode_folder(name: str) -> str:
    """A folder name as IMAP writes it (RFC 3501 §5.1.3, "modified UTF-7"): printable ASCII as is ("&" as "&-"),
    every other run as "&" + base64 of its UTF-16 with "," for "/" + "-". "已发送" is "&XfJT0ZAB-"."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + encoded.replace("/", ",") + "-")
            run.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


def _quote(folder: str) -> str:
    folder = encode_folder(folder)
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _authenticate_xoauth2(client: imaplib.IMAP4, sign_in: SignIn) -> None:
    """AUTHENTICATE XOAUTH2: the token answers the server's first (empty) challenge; a refusal comes as a second
    challenge holding an error report, answered with an empty line, after which the server says NO."""
    if "AUTH=XOAUTH2" not in client.capabilities:
        raise ImapError("the server does not offer XOAUTH2 sign-in (AUTH=XOAUTH2)")
    answers = iter((sign_in.xoauth2().encode(),))
    _check(client.authenticate("XOAUTH2", lambda _challenge: next(answers, b"")), "AUTHENTICATE XOAUTH2")


def _check(result: tuple[str, Any], what: str) -> list[object]:
    status, data = result
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise ImapError(f"{what}: {status} {detail}".strip())
    return list(data)


class ImapMailbox:
    """One IMAP session on a mailbox's folder: `with ImapMailbox(settings, credentials) as box: …` (a plain
    string is a password)."""

    def __init__(self, settings: MailboxSettings, credentials: Credentials | str, *, select: bool = True) -> None:
        self.settings = settings
        self.select = select
        self.credentials = (PasswordCredentials(settings.username, credentials) if isinstance(credentials, str)
                            else credentials)
        self.client: imaplib.IMAP4 | None = None
        self.uidvalidity = 0
        self.uidnext = 0

    def __enter__(self) -> ImapMailbox:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        if s.imap_security == "ssl":
            return imaplib.IMAP4_SSL(s.imap_host, s.imap_port, ssl_context=ssl.create_default_context(),
                                     timeout=s.timeout)
        client = imaplib.IMAP4(s.imap_host, s.imap_port, timeout=s.timeout)
        if s.imap_security == "starttls":
            client.starttls(ssl_context=ssl.create_default_context())
        return client

    def _sign_in(self) -> imaplib.IMAP4:
        """A connected, signed-in client. A refused token is replaced once, on a new connection (servers close
        the connection after a failed AUTHENTICATE or count it against the client)."""
        while True:
            try:
                sign_in = self.credentials.sign_in()
            except SignInError as exc:
                raise ImapError(f"sign-in: {exc}") from exc
            client = self._connect()
            self.client = client
            try:
                if sign_in.oauth:
                    _authenticate_xoauth2(client, sign_in)
                else:
                    _check(client.login(sign_in.username, sign_in.password), "LOGIN")
                return client
            except imaplib.IMAP4.error:
                self.close()
                if not self.credentials.refused(sign_in):
                    raise

    def open(self) -> None:
        s = self.settings
        try:
            client = self._sign_in()
            if "ID" in client.capabilities:
                # NetEase (163/126) refuses SELECT from a client that has not said who it is (RFC 2971)
                with contextlib.suppress(imaplib.IMAP4.error):
                    client.xatom("ID", '("name" "Kefu")')
            if self.select:
                _check(client.select(_quote(s.folder)), f"SELECT {s.folder}")
        except (imaplib.IMAP4.error, OSError) as exc:
            self.close()
            raise ImapError(f"{type(exc).__name__}: {exc}") from exc
        except ImapError:
            self.close()
            raise
        if self.select:
            self.uidvalidity = self._response_number("UIDVALIDITY")
            self.uidnext = self._response_number("UIDNEXT")

    def _response_number(self, code: str) -> int:
        """A number the server sent with SELECT (`* OK [UIDVALIDITY 3857529045]`), 0 when it sent none."""
        assert self.client is not None
        _name, values = self.client.response(code)
        for value in values or []:
            if isinstance(value, bytes) and value.strip().isdigit():
                return int(value.strip())
        return 0

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError):
                client.shutdown()

    def _uid(self, command: str, *args: str) -> list[object]:
        if self.client is None:
            raise ImapError("not connected")
        try:
            return _check(self.client.uid(command, *args), f"UID {command}")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"{type(exc).__name__}: {exc}") from exc

    def search(self, criteria: str) -> list[int]:
        """UIDs matching an IMAP search (`UNSEEN`, `UID 41:*`), ascending."""
        data = self._uid("SEARCH", criteria)
        uids: set[int] = set()
        for chunk in data:
            if isinstance(chunk, bytes):
                uids.update(int(n) for n in chunk.split() if n.isdigit())
        return sorted(uids)

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than last_uid ("n:*" also matches the highest UID when it is below n: filtered)."""
        return [u for u in self.search(f"UID {last_uid + 1}:*") if u > last_uid]

    def sizes(self, uids: list[int]) -> dict[int, int]:
        if not uids:
            return {}
        data = self._uid("FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE)")
        sizes = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes):
                uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
                if uid and size:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def fetch(self, uid: int) -> bytes | None:
        """The raw message of a UID without marking it seen (None when it is gone)."""
        data = self._uid("FETCH", str(uid), "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
                found = _FETCH_UID.search(item[0]) if isinstance(item[0], bytes) else None
                if found is None or int(found.group(1)) == uid:
                    return item[1]
        return None

    def mark_seen(self, uids: list[int]) -> None:
        if uids:
            self._uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", r"(\Seen)")

    def append(self, folder: str, raw: bytes, *, seen: bool = True) -> None:
        """Put a message into a folder (flagged read unless `seen` is False), creating the folder when the server
        says it does not exist yet ([TRYCREATE])."""
        if self.client is None:
            raise ImapError("not connected")
        flags = r"(\Seen)" if seen else None
        when = imaplib.Time2Internaldate(time.time())
        try:
            status, data = self.client.append(_quote(folder), flags, when, raw)
            if status != "OK" and b"TRYCREATE" in b" ".join(d for d in data if isinstance(d, bytes)).upper():
                _check(self.client.create(_quote(folder)), f"CREATE {folder}")
                status, data = self.client.append(_quote(folder), flags, when, raw)
            _check((status, data), f"APPEND {folder}")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"{type(exc).__name__}: {exc}") from exc
