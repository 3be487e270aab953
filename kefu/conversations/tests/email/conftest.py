"""Real local mail servers for the e-mail channel's tests: an SMTP server (aiosmtpd, optionally with TLS and
sign-in) and an IMAP server (Debian's dovecot-imapd) on free loopback ports, with temporary configuration and
mail folders; no system service, no system configuration. Without dovecot the IMAP tests are skipped and say why
(scripts/setup.sh --dev installs it).

OAuth 2.0 sign-in (what Microsoft 365 requires) is checked end to end: `TokenAuthority` plays the provider's
identity platform — its token endpoint answers Kefu's client-credentials grant through the HTTP transport double,
and both servers accept exactly the tokens it issued and has not revoked: aiosmtpd through an XOAUTH2 handler,
dovecot through its own oauth2 passdb, which asks a loopback introspection endpoint about every token."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import grp
import http.server
import imaplib
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from kefu.conversations.tests.factories import ChannelFactory

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
MAILBOX_PASSWORD = "mailbox-app-password"
START_SECONDS = 30  # how long a server may take to answer on a busy machine (the wait ends as soon as it does)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- TLS: a throwaway authority trusted through SSL_CERT_FILE -------------------------------------------------


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A certificate for 127.0.0.1 and the file that makes clients trust it (SSL_CERT_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return {"cert": folder / "cert.pem", "key": folder / "key.pem"}


# --- OAuth 2.0: the provider's identity platform ------------------------------------------------------------------


class TokenAuthority:
    """The token endpoint of one tenant (client-credentials grant, as Microsoft's identity platform answers it) and
    the set of tokens it has issued and not revoked. `client_secret` can be changed to make Kefu's secret wrong;
    `outage` makes the endpoint answer 503. Like Exchange Online's application access policy, its tokens open one
    `mailbox` (dovecot checks the user Kefu names against it)."""

    TENANT = "kefu-test.onmicrosoft.com"
    CLIENT_ID = "0f9c6f2e-5d1b-4c43-9a55-2f4e8b7c1d20"
    CLIENT_SECRET = "app-client-secret~value"
    SCOPE = "https://outlook.office365.com/.default"
    PATH = f"/{TENANT}/oauth2/v2.0/token"

    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.reset()

    def reset(self) -> None:
        self.mailbox = ""  # the mailbox the application has been given access to
        self.client_secret = self.CLIENT_SECRET
        self.outage = False
        self.issued: list[str] = []
        self.requests: list[dict[str, str]] = []

    def revoke_all(self) -> None:
        self.valid.clear()

    @staticmethod
    def _error(status: int, error: str, code: int, text: str) -> httpx.Response:
        return httpx.Response(status, json={
            "error": error, "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 0c5e\r\nTimestamp: 2026-12-05",
            "error_codes": [code]})

    def token_endpoint(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append(form)
        if request.method != "POST" or request.url.host != "login.microsoftonline.com" \
                or request.url.path != self.PATH:
            return self._error(400, "invalid_request", 90002, "Tenant not found.")
        if self.outage:
            return self._error(503, "temporarily_unavailable", 50196, "The server is busy.")
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != self.CLIENT_ID or form.get("client_secret") != self.client_secret:
            return self._error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") != self.SCOPE:
            return self._error(400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24)
        self.valid.add(token)
        self.issued.append(token)
        return httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                         "access_token": token})

    def bearer(self, xoauth2: bytes) -> tuple[str, str]:
        """(user, token) of a SASL XOAUTH2 initial response."""
        fields = dict(part.split("=", 1) for part in xoauth2.decode().split("\x01") if "=" in part)
        return fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")


class _Introspection(http.server.BaseHTTPRequestHandler):
    """What dovecot's oauth2 passdb asks (introspection_mode = auth): is the bearer token of this request active?"""

    authority: TokenAuthority

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        active = token in self.authority.valid
        body = json.dumps({"active": active, "username": self.authority.mailbox}).encode()
        self.send_response(200 if active else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def token_authority() -> Iterator[tuple[TokenAuthority, int]]:
    """The authority and the port of its introspection endpoint (for dovecot)."""
    authority = TokenAuthority()
    handler = type("Introspection", (_Introspection,), {"authority": authority})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield authority, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def authority(token_authority: tuple[TokenAuthority, int]) -> Iterator[TokenAuthority]:
    """The token endpoint reached through the provider-API transport double (no network), reset for the test."""
    from kefu.conversations.adapters import apiclient

    authority = token_authority[0]
    authority.reset()
    previous = apiclient.use_transport(httpx.MockTransport(authority.token_endpoint))
    yield authority
    apiclient.use_transport(previous)


# --- SMTP ------------------------------------------------------------------------------------------------------


class SmtpServer:
    """aiosmtpd on a free loopback port in a thread. `answer` is what DATA answers ("250 OK", "451 …", "554 …");
    `rcpt_answer` refuses recipients when set. `tls`: "starttls" or "ssl"; `logins` records AUTH (user and
    password, or user and "XOAUTH2" for a token `authority` issued and has not revoked)."""

    def __init__(self, *, tls: str = "", tls_files: dict[str, Path] | None = None,
                 authority: TokenAuthority | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.logins: list[tuple[str, str]] = []
        self.authority = authority
        self.answer = "250 OK"
        self.rcpt_answer = ""
        server = self

        class Handler:
            async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str,
                                  rcpt_options: list[str]) -> str:
                if server.rcpt_answer:
                    return server.rcpt_answer
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                if server.answer.startswith("250"):
                    server.messages.append(envelope)
                return server.answer

            async def auth_XOAUTH2(self, smtp: Any, args: list[str]) -> Any:
                from aiosmtpd.smtp import AuthResult

                if len(args) > 1:  # the initial response came with the command
                    response = base64.b64decode(args[1])
                else:
                    answer = await smtp.challenge_auth("")
                    if not isinstance(answer, bytes):
                        return AuthResult(success=False, handled=True)
                    response = answer
                user, token = server.authority.bearer(response) if server.authority else ("", "")
                if server.authority and token in server.authority.valid:
                    server.logins.append((user, "XOAUTH2"))
                    return AuthResult(success=True)
                # the refusal as the providers send it: an error report the client answers with an empty line
                await smtp.challenge_auth(json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"}))
                return AuthResult(success=False, handled=False)  # not handled: aiosmtpd answers 535

        def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            from aiosmtpd.smtp import AuthResult

            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
            password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
            server.logins.append((login, password))
            return AuthResult(success=password == MAILBOX_PASSWORD, handled=False)  # refused: answer 535

        self.port = free_port()
        # implicit TLS is invisible to aiosmtpd's "TLS before AUTH" check: only STARTTLS servers require it
        kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_require_tls": tls == "starttls"}
        context = None
        if tls:
            assert tls_files is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls_files["cert"], tls_files["key"])
        if tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     ssl_context=context if tls == "ssl" else None, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


@pytest.fixture
def smtp(token_authority: tuple[TokenAuthority, int]) -> Iterator[SmtpServer]:
    with SmtpServer(authority=token_authority[0]) as server:
        yield server


# --- IMAP ------------------------------------------------------------------------------------------------------


class Dovecot:
    """A dovecot IMAP server of our own. Any user name signs in with MAILBOX_PASSWORD (a static passdb), so each
    test takes a mailbox of its own (`new_user`)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def xoauth2(self, user: str, token: str) -> None:
        """Sign in with a bearer token (raises imaplib.IMAP4.error when dovecot refuses it)."""
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=START_SECONDS)
        try:
            client.authenticate("XOAUTH2", lambda _c: f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def new_user(self) -> str:
        return f"support-{uuid.uuid4().hex[:10]}@kefu.test"

    @contextlib.contextmanager
    def connect(self, user: str) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=START_SECONDS)
        try:
            client.login(user, MAILBOX_PASSWORD)
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def append(self, user: str, raw: bytes, folder: str = "INBOX", *, seen: bool = False) -> int:
        """Deliver a message into a user's folder (IMAP APPEND, unread unless `seen`); returns its UID."""
        with self.connect(user) as client:
            status, data = client.append(folder, r"(\Seen)" if seen else None, None, raw)
            assert status == "OK", data
            line = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
            return int(line.split("APPENDUID", 1)[1].split()[1].rstrip("]"))

    def flags(self, user: str, uid: int) -> str:
        with self.connect(user) as client:
            client.select("INBOX")
            _status, data = client.uid("FETCH", str(uid), "(FLAGS)")
            return data[0].decode() if data and isinstance(data[0], bytes) else ""


def _dovecot_config(folder: Path, port: int, introspection_port: int) -> Path:
    if os.geteuid() == 0:
        # dovecot refuses root for logins and mail: its own accounts (made by the package) do that work
        login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        mail_user, mail_group = "dovecot", "dovecot"
    else:
        me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        login_user = internal_user = mail_user = me
        internal_group = mail_group = group
    homes = folder / "homes"
    homes.mkdir()
    if os.geteuid() == 0:
        shutil.chown(homes, mail_user, mail_group)
    lines = f"""
base_dir = {folder / "run"}
state_dir = {folder / "state"}
log_path = {folder / "dovecot.log"}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
passdb {{
  driver = static
  args = password={MAILBOX_PASSWORD}
  mechanisms = plain login
}}
# a bearer token is good when the authority says it is active and the mailbox it opens is the user named
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {folder / "oauth2.conf.ext"}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={homes}/%u
}}
mail_location = maildir:~/Maildir
# no growing wait (anvil's auth penalty) after the refused sign-ins some tests make on purpose
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    if os.geteuid() != 0:  # without root there is no chroot: the login and anvil processes run unconfined
        lines += "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n"
    (folder / "oauth2.conf.ext").write_text(
        f"introspection_mode = auth\nintrospection_url = http://127.0.0.1:{introspection_port}/introspect\n"
        "username_attribute = username\nactive_attribute = active\nactive_value = true\n")
    path = folder / "dovecot.conf"
    path.write_text(lines)
    return path


@pytest.fixture(scope="session")
def dovecot(token_authority: tuple[TokenAuthority, int]) -> Iterator[Dovecot]:
    if DOVECOT is None:
        reason = "dovecot is not installed (apt-get install dovecot-imapd, or scripts/setup.sh --dev)"
        print(f"\nSKIPPED IMAP tests: {reason}")
        pytest.skip(reason)
    # not under pytest's 0700 temporary folder: dovecot's own accounts must reach the mail folders
    folder = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
    folder.chmod(0o755)
    port = free_port()
    config = _dovecot_config(folder, port, token_authority[1])
    log = (folder / "stdout.log").open("w")
    # -F: stay in the foreground (no fork, no pid file games)
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=log,  # noqa: S603
                               stderr=subprocess.STDOUT)
    server = Dovecot(port)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with server.connect("probe@kefu.test"):
                    break
            except (OSError, imaplib.IMAP4.error):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (folder / "stdout.log").read_text()
                    if (folder / "dovecot.log").exists():
                        output += (folder / "dovecot.log").read_text()
                    raise RuntimeError("dovecot did not start: " + output) from None
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mailbox_channel(dovecot: Dovecot, smtp: SmtpServer, team: Any) -> Any:
    """An e-mail channel reading its own fresh dovecot mailbox and sending through the aiosmtpd server."""
    user = dovecot.new_user()
    return ChannelFactory(email=True, code="support-mail", team=team, config={
        "address": user, "display_name": "客服中心", "username": user,
        "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_security": "none",
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none",
        "folder": "INBOX", "timeout": 10,
    }, secrets={"password": MAILBOX_PASSWORD})


@pytest.fixture
def oauth_channel(dovecot: Dovecot, smtp: SmtpServer, authority: TokenAuthority, team: Any) -> Any:
    """A mailbox that signs in the Microsoft 365 way: OAuth 2.0 application tokens, no password at all."""
    user = dovecot.new_user()
    authority.mailbox = user
    return ChannelFactory(email=True, code="m365-mail", team=team, config={
        "address": user, "display_name": "客服中心", "username": user,
        "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_security": "none",
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_security": "none",
        "folder": "INBOX", "timeout": 10,
        "auth": "oauth2", "oauth_tenant": authority.TENANT, "oauth_client_id": authority.CLIENT_ID,
    }, secrets={"oauth_client_secret": authority.CLIENT_SECRET})
