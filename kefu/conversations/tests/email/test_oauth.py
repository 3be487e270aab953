"""Mailboxes that sign in with OAuth 2.0 (Microsoft 365 / Exchange Online): Kefu asks the token endpoint for an
application token (client-credentials grant), reads the mailbox with IMAP AUTHENTICATE XOAUTH2 from a REAL dovecot
that checks every token with the authority, and answers with SMTP AUTH XOAUTH2 through a REAL aiosmtpd. Tokens are
cached, a revoked one is replaced once, and a wrong secret or a token endpoint outage is named, never a crash."""

from __future__ import annotations

import imaplib
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kefu.conversations import mailboxes, services
from kefu.conversations.adapters import mailauth
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.models import Channel, Conversation
from kefu.conversations.tests.email.conftest import Dovecot, SmtpServer, TokenAuthority
from kefu.core.errors import ValidationFailed

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("dovecot")]


def mail(to: str, message_id: str, subject: str = "发票开错了", text: str = "请重新开一张发票。") -> bytes:
    return (f"From: 李娜 <li.na@example.cn>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text + "\r\n").encode()


def poll(channel: Channel) -> mailboxes.PollResult:
    channel.refresh_from_db()
    return mailboxes.mailbox_poll(channel=channel)


def test_the_servers_accept_only_tokens_the_authority_issued(dovecot: Dovecot, authority: TokenAuthority) -> None:
    """The test peers themselves: dovecot asks the introspection endpoint, so a made-up token is refused."""
    with pytest.raises(imaplib.IMAP4.error):
        dovecot.xoauth2(dovecot.new_user(), "made-up-token")


def test_a_microsoft_365_mailbox_is_read_and_answered_with_one_cached_token(
        oauth_channel: Channel, dovecot: Dovecot, smtp: SmtpServer, authority: TokenAuthority, agent: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    address = oauth_channel.config["address"]
    dovecot.append(address, mail(address, "invoice.1@example.cn"))

    result = poll(oauth_channel)
    assert (result.error, result.stored) == ("", 1)
    # the client-credentials grant, as Microsoft's identity platform expects it
    (asked,) = authority.requests
    assert asked == {"grant_type": "client_credentials", "client_id": authority.CLIENT_ID,
                     "client_secret": authority.CLIENT_SECRET, "scope": "https://outlook.office365.com/.default"}
    conversation = Conversation.objects.get()
    assert conversation.identity_value == "li.na@example.cn"
    assert conversation.messages.get().body == "请重新开一张发票。"

    with django_capture_on_commit_callbacks(execute=True):
        reply = services.message_send(actor=agent, conversation=conversation, text="已为您重新开具。")
    reply.refresh_from_db()
    assert reply.delivery_state == "sent", reply.last_error
    assert smtp.logins == [(address, "XOAUTH2")]
    (envelope,) = smtp.messages
    assert envelope.rcpt_tos == ["li.na@example.cn"]
    assert message_from_bytes(envelope.content, policy=email_policy.default)["In-Reply-To"] == \
        "<invoice.1@example.cn>"

    # the next poll and the reply used the token already held: one token for everything
    dovecot.append(address, mail(address, "invoice.2@example.cn", subject="Re: 发票开错了", text="谢谢"))
    assert poll(oauth_channel).stored == 1
    assert len(authority.issued) == 1


def test_a_revoked_token_is_replaced_once_and_the_mail_still_flows(
        oauth_channel: Channel, dovecot: Dovecot, smtp: SmtpServer, authority: TokenAuthority) -> None:
    address = oauth_channel.config["address"]
    dovecot.append(address, mail(address, "a.1@example.cn"))
    assert poll(oauth_channel).stored == 1
    authority.revoke_all()  # an administrator rotated the application's tokens; Kefu still holds the old one

    dovecot.append(address, mail(address, "a.2@example.cn", subject="又一个问题"))
    result = poll(oauth_channel)
    assert (result.error, result.stored) == ("", 1)
    assert len(authority.issued) == 2

    authority.revoke_all()
    sent = adapter_for("email").send(oauth_channel, _outbound(address))
    assert sent.ok, sent.error
    assert len(authority.issued) == 3
    assert smtp.logins == [(address, "XOAUTH2")]


def _outbound(address: str) -> Any:
    from kefu.conversations.adapters.base import Identity, OutboundMessage

    return OutboundMessage(message_id=9, conversation_id=3, text="您好", subject="问题",
                           to=Identity(kind="email", value="li.na@example.cn", name="李娜"))


def test_a_wrong_client_secret_is_named_and_no_mail_moves(
        oauth_channel: Channel, dovecot: Dovecot, smtp: SmtpServer, authority: TokenAuthority) -> None:
    address = oauth_channel.config["address"]
    uid = dovecot.append(address, mail(address, "b.1@example.cn"))
    authority.client_secret = "a-newer-secret"  # the secret was rotated at the provider, not in Kefu

    result = poll(oauth_channel)
    assert result.stored == 0
    assert "invalid_client" in result.error
    assert "AADSTS7000215" in result.error
    assert "Trace ID" not in result.error  # the first line of the provider's description only
    oauth_channel.refresh_from_db()
    assert oauth_channel.state["last_error"] == result.error
    assert "\\Seen" not in dovecot.flags(address, uid)

    # a reply cannot be signed in either: a settings problem, like a wrong password (permanent, named)
    sent = adapter_for("email").send(oauth_channel, _outbound(address))
    assert (sent.ok, sent.permanent) == (False, True)
    assert "invalid_client" in sent.error
    assert smtp.messages == []

    # the administrator stores the new secret: the next poll reads the mail
    call_command("channel", "secret", oauth_channel.code, stdout=_Sink())  # reads KEFU_MAILBOX_CLIENT_SECRET
    assert poll(oauth_channel).stored == 1


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _new_secret_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_MAILBOX_CLIENT_SECRET", "a-newer-secret")


def test_a_token_endpoint_outage_is_retried_later(
        oauth_channel: Channel, dovecot: Dovecot, smtp: SmtpServer, authority: TokenAuthority) -> None:
    address = oauth_channel.config["address"]
    dovecot.append(address, mail(address, "c.1@example.cn"))
    authority.outage = True

    result = poll(oauth_channel)
    assert result.stored == 0
    assert "503" in result.error
    assert "temporarily_unavailable" in result.error
    sent = adapter_for("email").send(oauth_channel, _outbound(address))
    assert (sent.ok, sent.permanent) == (False, False)  # the deliver task tries again with backoff

    authority.outage = False
    assert poll(oauth_channel).stored == 1


def test_tokens_live_as_long_as_the_endpoint_says_less_five_minutes(
        oauth_channel: Channel, authority: TokenAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.conversations.adapters import apiclient

    kept: list[int] = []
    real_set = apiclient.cache.set
    monkeypatch.setattr(apiclient.cache, "set", lambda key, value, timeout: (kept.append(timeout),
                                                                             real_set(key, value, timeout)))
    token = mailauth.TOKENS.get(oauth_channel)
    assert token == authority.issued[-1]
    assert kept == [3599 - 300]
    assert mailauth.TOKENS.get(oauth_channel) == token  # from the cache

    # a changed client secret never uses a token obtained with the old one
    oauth_channel.secrets = {"oauth_client_secret": "a-newer-secret"}
    authority.client_secret = "a-newer-secret"
    assert mailauth.TOKENS.get(oauth_channel) != token


@pytest.mark.parametrize(("answer", "permanent", "named"), [
    ({"token_type": "Bearer", "expires_in": 3599}, True, "no access_token"),
    ({"token_type": "MAC", "access_token": "x"}, True, "is not Bearer"),
    ("<html>sign in</html>", True, "HTTP 200"),
    (429, False, "HTTP 429"),
    (502, False, "HTTP 502"),
])
def test_odd_token_endpoint_answers_are_named(oauth_channel: Channel, answer: Any, permanent: bool,
                                             named: str) -> None:
    import httpx

    from kefu.conversations.adapters import apiclient

    def endpoint(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, int):
            return httpx.Response(answer, text="busy")
        if isinstance(answer, str):
            return httpx.Response(200, text=answer)
        return httpx.Response(200, json=answer)

    previous = apiclient.use_transport(httpx.MockTransport(endpoint))
    try:
        with pytest.raises(mailauth.SignInError) as caught:
            mailauth.TOKENS.get(oauth_channel)
    finally:
        apiclient.use_transport(previous)
    assert caught.value.permanent is permanent
    assert named in str(caught.value)


def test_an_unreachable_token_endpoint_is_retried() -> None:
    import httpx

    from kefu.conversations.adapters import apiclient
    from kefu.conversations.tests.factories import ChannelFactory

    def endpoint(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    channel = ChannelFactory(email=True, code="m365", config={
        "address": "kf@contoso.com", "imap_host": "outlook.office365.com", "smtp_host": "smtp.office365.com",
        "auth": "oauth2", "oauth_tenant": "contoso.onmicrosoft.com", "oauth_client_id": "abc"},
        secrets={"oauth_client_secret": "s"})
    previous = apiclient.use_transport(httpx.MockTransport(endpoint))
    try:
        sent = adapter_for("email").send(channel, _outbound("kf@contoso.com"))
    finally:
        apiclient.use_transport(previous)
    assert (sent.ok, sent.permanent) == (False, False)
    assert "ConnectError" in sent.error


BASE = {"address": "kf@contoso.com", "imap_host": "outlook.office365.com", "smtp_host": "smtp.office365.com",
        "smtp_security": "starttls"}


@pytest.mark.parametrize(("config", "secrets", "field"), [
    ({"auth": "kerberos"}, {}, "auth"),
    ({"auth": "oauth2", "oauth_client_id": "abc"}, {"oauth_client_secret": "s"}, "oauth_tenant"),
    ({"auth": "oauth2", "oauth_tenant": "contoso/../x", "oauth_client_id": "abc"}, {"oauth_client_secret": "s"},
     "oauth_tenant"),
    ({"auth": "oauth2", "oauth_tenant": "contoso.onmicrosoft.com"}, {"oauth_client_secret": "s"},
     "oauth_client_id"),
    ({"auth": "oauth2", "oauth_tenant": "contoso.onmicrosoft.com", "oauth_client_id": "abc"}, {},
     "oauth_client_secret"),
    ({"auth": "oauth2", "oauth_token_url": "http://idp.example.com/token", "oauth_client_id": "abc"},
     {"oauth_client_secret": "s"}, "oauth_token_url"),
    ({"auth": "oauth2", "oauth_tenant": 42, "oauth_client_id": "abc"}, {"oauth_client_secret": "s"},
     "oauth_tenant"),
])
def test_oauth_settings_are_checked_by_name(admin_user: Any, config: dict[str, Any],
                                            secrets: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.channel_create(actor=admin_user, kind="email", code="m365", config={**BASE, **config},
                                secrets_=secrets)
    assert caught.value.details["field"] == field
    assert not Channel.objects.exists()


def test_kefu_channel_add_sets_up_a_microsoft_365_mailbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_MAILBOX_CLIENT_SECRET", "the-client-secret")
    call_command("channel", "add", "email", "m365", "--address", "kf@contoso.com",
                 "--imap-host", "outlook.office365.com", "--smtp-host", "smtp.office365.com",
                 "--smtp-security", "starttls", "--auth", "oauth2", "--oauth-tenant", "contoso.onmicrosoft.com",
                 "--oauth-client-id", "0f9c6f2e", stdout=_Sink())
    channel = Channel.objects.get(code="m365")
    assert channel.config["auth"] == "oauth2"
    assert channel.secrets == {"oauth_client_secret": "the-client-secret"}
    settings = mailauth.oauth_settings(channel.config)
    assert settings.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"

    monkeypatch.delenv("KEFU_MAILBOX_CLIENT_SECRET")
    with pytest.raises(CommandError, match="oauth_client_secret"):
        call_command("channel", "add", "email", "m365b", "--address", "kf2@contoso.com",
                     "--imap-host", "outlook.office365.com", "--smtp-host", "smtp.office365.com",
                     "--auth", "oauth2", "--oauth-tenant", "contoso.onmicrosoft.com", "--oauth-client-id", "x",
                     stdout=_Sink())
    assert not Channel.objects.filter(code="m365b").exists()
