"""Sending an agent's reply: the MIME message (threading headers, our Message-ID, loop header, HTML alternative,
attachments from the storage) handed to a REAL SMTP server (aiosmtpd) on a loopback port — plain, STARTTLS and
implicit TLS with sign-in — and SMTP answers turned into sent, retry or permanent failure."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from kefu.conversations.adapters import email as mail
from kefu.conversations.adapters.base import Identity, OutboundAttachment, OutboundMessage
from kefu.conversations.adapters.registry import adapter_for
from kefu.conversations.tests.email.conftest import MAILBOX_PASSWORD, SmtpServer, free_port


def channel(port: int, **config: Any) -> Any:
    base = {"address": "support@kefu.test", "display_name": "客服中心", "imap_host": "127.0.0.1",
            "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "timeout": 10}
    secrets = {"password": MAILBOX_PASSWORD}
    return SimpleNamespace(config={**base, **config}, secrets=secrets, secret=lambda name: secrets.get(name, ""))


def outbound(**extra: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "message_id": 42, "conversation_id": 7, "text": "您好，\n\n您的订单已发货。",
        "to": Identity(kind="email", value="zhang.wei@example.cn", name="张伟"),
        "subject": "订单发货问题", "in_reply_to": "CAF2@mail.example.cn",
        "references": ("CAF1@mail.example.cn", "CAF2@mail.example.cn"),
        "context": {"ticket_number": "GD202612050001042"},
    }
    return OutboundMessage(**{**values, **extra})


def received(server: SmtpServer) -> Any:
    (envelope,) = server.messages
    return envelope, message_from_bytes(envelope.content, policy=email_policy.default)


def test_a_reply_reaches_the_smtp_server_threaded_with_our_message_id(smtp: SmtpServer) -> None:
    result = adapter_for("email").send(channel(smtp.port), outbound())
    assert result.ok, result.error
    envelope, msg = received(smtp)
    assert envelope.mail_from == "support@kefu.test"
    assert envelope.rcpt_tos == ["zhang.wei@example.cn"]
    assert smtp.logins == [("support@kefu.test", MAILBOX_PASSWORD)]
    assert str(msg["From"]) == "客服中心 <support@kefu.test>"
    assert str(msg["To"]) == "张伟 <zhang.wei@example.cn>"
    assert str(msg["Subject"]) == "Re: 订单发货问题 [GD202612050001042]"
    assert msg["In-Reply-To"] == "<CAF2@mail.example.cn>"
    assert msg["References"] == "<CAF1@mail.example.cn> <CAF2@mail.example.cn>"
    assert msg["Message-ID"] == f"<{result.external_id}>"
    assert result.external_id == mail.message_id_for(42, "kefu.test")
    assert mail.is_own_message_id(result.external_id)
    assert msg["X-Kefu-Loop"] == "support@kefu.test"
    assert msg["Auto-Submitted"] is None  # a person wrote it
    assert msg["Date"] is not None
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "您好，\n\n您的订单已发货。"
    html = msg.get_body(("html",)).get_content()
    assert "<p>您好，</p><p>您的订单已发货。</p>" in html


def test_the_message_id_is_the_same_on_every_attempt_and_our_own_mail_back_is_a_loop(smtp: SmtpServer) -> None:
    adapter = adapter_for("email")
    first = adapter.send(channel(smtp.port), outbound())
    again = adapter.send(channel(smtp.port), outbound())
    assert first.external_id == again.external_id
    bounced_back = mail.parse_message(smtp.messages[0].content)  # as if the recipient were our own mailbox
    assert bounced_back.automated == "loop"


def test_attachments_are_read_from_the_storage(smtp: SmtpServer) -> None:
    path = default_storage.save("conversations/7/invoice.pdf", ContentFile(b"%PDF-1.4 invoice"))
    message = outbound(attachments=(OutboundAttachment(filename="发票.pdf", content_type="application/pdf",
                                                       path=path, size=16),))
    assert adapter_for("email").send(channel(smtp.port), message).ok
    _envelope, msg = received(smtp)
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "发票.pdf"
    assert attachment.get_content() == b"%PDF-1.4 invoice"


def test_a_missing_attachment_fails_for_good(smtp: SmtpServer) -> None:
    message = outbound(attachments=(OutboundAttachment(filename="gone.pdf", content_type="application/pdf",
                                                       path="conversations/7/gone.pdf"),))
    result = adapter_for("email").send(channel(smtp.port), message)
    assert (result.ok, result.permanent) == (False, True)
    assert not smtp.messages


@pytest.mark.parametrize(("subject", "number", "expected"), [
    ("订单发货问题", "", "Re: 订单发货问题"),
    ("Re: RE: 回复：订单", "GD202612050001042", "Re: 订单 [GD202612050001042]"),
    ("Re: 订单 [GD202612050001042]", "GD202612050001042", "Re: 订单 [GD202612050001042]"),
    ("", "", "Re: 您的来信"),
])
def test_reply_subjects(subject: str, number: str, expected: str) -> None:
    assert mail.reply_subject(subject, number) == expected


def test_a_long_thread_keeps_the_first_and_the_nine_nearest_references(smtp: SmtpServer) -> None:
    refs = tuple(f"m{i}@x" for i in range(30))
    assert adapter_for("email").send(channel(smtp.port), outbound(references=refs, in_reply_to="m29@x")).ok
    _envelope, msg = received(smtp)
    assert msg["References"].split() == ["<m0@x>", *[f"<m{i}@x>" for i in range(21, 30)]]


def test_the_reply_goes_to_the_reply_to_address_when_the_mail_had_one(smtp: SmtpServer) -> None:
    message = outbound(context={"reply_to": ["orders@example.cn"]})
    assert adapter_for("email").send(channel(smtp.port), message).ok
    envelope, msg = received(smtp)
    assert envelope.rcpt_tos == ["orders@example.cn"]
    assert str(msg["To"]) == "orders@example.cn"


def test_mail_to_our_own_address_is_refused_before_smtp(smtp: SmtpServer) -> None:
    message = outbound(to=Identity(kind="email", value="SUPPORT@kefu.test"))
    result = adapter_for("email").send(channel(smtp.port), message)
    assert (result.ok, result.permanent) == (False, True)
    assert "loop" in result.error
    assert not smtp.messages


@pytest.mark.parametrize(("rcpt", "data", "permanent"), [
    ("550 5.1.1 No such user", "", True),
    ("450 4.2.0 Mailbox busy", "", False),
    ("", "554 5.7.1 Rejected as spam", True),
    ("", "451 4.3.0 Try again later", False),
])
def test_smtp_refusals_are_permanent_for_5xx_and_retried_for_4xx(smtp: SmtpServer, rcpt: str, data: str,
                                                                 permanent: bool) -> None:
    smtp.rcpt_answer = rcpt
    if data:
        smtp.answer = data
    result = adapter_for("email").send(channel(smtp.port), outbound())
    assert result.ok is False
    assert result.permanent is permanent
    assert (rcpt or data).split()[0] in result.error


def test_a_wrong_password_is_a_permanent_535(smtp: SmtpServer) -> None:
    target = channel(smtp.port)
    target.secrets["password"] = "wrong"
    result = adapter_for("email").send(target, outbound())
    assert (result.ok, result.permanent) == (False, True)
    assert "535" in result.error


def test_no_server_listening_is_retried() -> None:
    result = adapter_for("email").send(channel(free_port()), outbound())
    assert (result.ok, result.permanent) == (False, False)
    assert "ConnectionRefused" in result.error


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_implicit_tls_with_sign_in(security: str, tls_files: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files["cert"]))  # the test authority is trusted, nothing else
    with SmtpServer(tls=security, tls_files=tls_files) as server:
        result = adapter_for("email").send(channel(server.port, smtp_security=security), outbound())
        assert result.ok, result.error
        assert server.logins == [("support@kefu.test", MAILBOX_PASSWORD)]
        assert len(server.messages) == 1


def test_an_untrusted_certificate_is_not_accepted(tls_files: dict[str, Path]) -> None:
    with SmtpServer(tls="starttls", tls_files=tls_files) as server:
        result = adapter_for("email").send(channel(server.port, smtp_security="starttls"), outbound())
    assert result.ok is False
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert not server.messages


def test_a_separate_smtp_user_and_password(smtp: SmtpServer) -> None:
    target = channel(smtp.port, smtp_username="relay-user")
    target.secrets.update(password="imap-only", smtp_password=MAILBOX_PASSWORD)
    assert adapter_for("email").send(target, outbound()).ok
    assert smtp.logins == [("relay-user", MAILBOX_PASSWORD)]


# --- settings ---------------------------------------------------------------------------------------------------

GOOD = {"address": "support@kefu.test", "imap_host": "imap.exmail.qq.com", "smtp_host": "smtp.exmail.qq.com"}


def test_good_settings_have_no_problems_and_ports_follow_security() -> None:
    assert adapter_for("email").check_config(GOOD) == {}
    assert adapter_for("email").check_config({**GOOD, "aliases": ["kefu@example.cn"], "poll_minutes": 5}) == {}
    settings = mail.mailbox_settings(GOOD)
    assert (settings.imap_port, settings.smtp_port, settings.folder, settings.username) == (
        993, 465, "INBOX", "support@kefu.test")
    starttls = mail.mailbox_settings({**GOOD, "imap_security": "starttls", "smtp_security": "starttls"})
    assert (starttls.imap_port, starttls.smtp_port) == (143, 587)


@pytest.mark.parametrize(("change", "field"), [
    ({"address": "not an address"}, "address"),
    ({"address": None}, "address"),
    ({"imap_host": ""}, "imap_host"),
    ({"smtp_host": "smtp://smtp.example.com"}, "smtp_host"),
    ({"imap_security": "tls"}, "imap_security"),
    ({"smtp_security": True}, "smtp_security"),
    ({"imap_port": 0}, "imap_port"),
    ({"smtp_port": "99999"}, "smtp_port"),
    ({"smtp_port": "abc"}, "smtp_port"),
    ({"folder": ""}, "folder"),
    ({"folder": 'IN"BOX'}, "folder"),
    ({"username": 5}, "username"),
    ({"batch_size": 0}, "batch_size"),
    ({"message_id_domain": "bad domain"}, "message_id_domain"),
    ({"aliases": "kefu@example.cn"}, "aliases"),
    ({"aliases": ["kefu@example.cn", "nope"]}, "aliases"),
    ({"poll_minutes": 0}, "poll_minutes"),
])
def test_each_bad_setting_is_named(change: dict[str, Any], field: str) -> None:
    problems = adapter_for("email").check_config({**GOOD, **change})
    assert set(problems) == {field}
    assert problems[field]


def test_settings_that_are_not_an_object_are_refused() -> None:
    assert set(adapter_for("email").check_config([])) == {"config"}  # type: ignore[arg-type]
