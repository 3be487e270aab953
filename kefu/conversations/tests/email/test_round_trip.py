"""The e-mail round trip through REAL local servers: a customer's mail put into a dovecot mailbox (IMAP APPEND) is
polled into a conversation and an order; the agent's reply goes through `message_send` and the deliver task to
aiosmtpd, threaded; the customer's answer to it continues the same conversation; the same mail twice is one
message; an auto-reply is stored as automated, never answered, and opens no order; inline images point at the
stored attachments."""

from __future__ import annotations

import base64
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest

from kefu.conversations import mailboxes, services
from kefu.conversations.models import Channel, Conversation, Message
from kefu.conversations.tests.email.conftest import Dovecot, SmtpServer

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("dovecot")]

CUSTOMER = "=?UTF-8?B?" + base64.b64encode("张伟".encode()).decode() + "?= <Zhang.Wei@Example.CN>"


def first_mail(to: str) -> bytes:
    subject = "=?GBK?B?" + base64.b64encode("订单发货问题".encode("gbk")).decode() + "?="
    return (f"From: {CUSTOMER}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <first.1@mail.example.cn>\r\n"
            "Date: Sat, 05 Dec 2026 10:15:00 +0800\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode("您好，我的订单还没有发货。".encode("gbk")).decode() + "\r\n").encode()


def answer(to: str, message_id: str, in_reply_to: str, subject: str, extra: str = "",
           text: str = "收到，谢谢！") -> bytes:
    return (f"From: {CUSTOMER}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            f"In-Reply-To: <{in_reply_to}>\r\nReferences: <first.1@mail.example.cn> <{in_reply_to}>\r\n{extra}"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text + "\r\n").encode()


def poll(channel: Channel) -> mailboxes.PollResult:
    channel.refresh_from_db()
    result = mailboxes.mailbox_poll(channel=channel)
    assert result.error == ""
    return result


def test_mail_in_reply_out_answer_in_one_conversation_duplicates_and_auto_replies(
        mailbox_channel: Channel, dovecot: Dovecot, smtp: SmtpServer, agent: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    address = mailbox_channel.config["address"]
    dovecot.append(address, first_mail(address))
    assert poll(mailbox_channel).stored == 1

    # the customer's mail: a conversation, a customer found by the address, an order (e-mail channels open one)
    conversation = Conversation.objects.get()
    assert conversation.identity_kind == "email"
    assert conversation.identity_value == "zhang.wei@example.cn"
    assert conversation.subject == "订单发货问题"
    assert conversation.customer.name == "张伟"
    assert conversation.ticket is not None
    number = conversation.ticket.number
    (inbound,) = conversation.messages.all()
    assert inbound.body == "您好，我的订单还没有发货。"
    assert inbound.external_id == "first.1@mail.example.cn"

    # the agent answers: through the worker to the SMTP server, threaded, with the order number in the subject
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.message_send(actor=agent, conversation=conversation, text="您好，已为您加急处理。")
    reply.refresh_from_db()
    assert reply.delivery_state == "sent", reply.last_error
    (envelope,) = smtp.messages
    assert envelope.rcpt_tos == ["zhang.wei@example.cn"]
    sent = message_from_bytes(envelope.content, policy=email_policy.default)
    assert sent["In-Reply-To"] == "<first.1@mail.example.cn>"
    assert "<first.1@mail.example.cn>" in sent["References"]
    assert str(sent["Subject"]) == f"Re: 订单发货问题 [{number}]"
    assert sent["Message-ID"] == f"<{reply.external_id}>"
    assert sent["X-Kefu-Loop"] == address
    assert str(sent["From"]) == f"客服中心 <{address}>"

    # the customer answers our reply (another subject, threaded by In-Reply-To): the same conversation
    dovecot.append(address, answer(address, "second.2@mail.example.cn", reply.external_id, "Re: 发货"))
    assert poll(mailbox_channel).stored == 1
    assert Conversation.objects.count() == 1
    assert list(conversation.messages.values_list("direction", flat=True)) == ["in", "out", "in"]

    # the same mail delivered twice: one message
    again = answer(address, "third.3@mail.example.cn", reply.external_id, "Re: 发货", text="还有一个问题")
    dovecot.append(address, again)
    dovecot.append(address, again)
    result = poll(mailbox_channel)
    assert (result.stored, result.duplicates) == (1, 1)
    assert Message.objects.filter(external_id="third.3@mail.example.cn").count() == 1

    # an out-of-office to our reply: stored as automated in the conversation; nothing answers it
    tickets_before = type(conversation.ticket).objects.count()
    dovecot.append(address, answer(address, "oof.4@mail.example.cn", reply.external_id, "自动回复: Re: 发货",
                                   extra="Auto-Submitted: auto-replied\r\n", text="我正在休假。"))
    with django_capture_on_commit_callbacks(execute=True):
        assert poll(mailbox_channel).stored == 1
    oof = Message.objects.get(external_id="oof.4@mail.example.cn")
    assert oof.automated == "auto_reply"
    assert oof.conversation_id == conversation.pk
    assert len(smtp.messages) == 1  # nothing was sent back
    assert not Message.objects.filter(direction="out", seq__gt=oof.seq).exists()
    assert type(conversation.ticket).objects.count() == tickets_before


def test_an_auto_reply_out_of_any_thread_opens_no_order(mailbox_channel: Channel, dovecot: Dovecot,
                                                       smtp: SmtpServer) -> None:
    from kefu.tickets.models import Ticket

    address = mailbox_channel.config["address"]
    dovecot.append(address, (f"From: robot@example.org\r\nTo: {address}\r\nSubject: Out of Office\r\n"
                             "Message-ID: <oof-alone@example.org>\r\nAuto-Submitted: auto-generated\r\n\r\n"
                             "I am away.\r\n").encode())
    assert poll(mailbox_channel).stored == 1
    message = Message.objects.get()
    assert message.automated == "auto_reply"
    assert not Ticket.objects.exists()
    assert not smtp.messages
    # kept (the customer's timeline, search) but not waiting in the inbox for somebody to answer it
    conversation = message.conversation
    assert (conversation.status, conversation.close_reason, conversation.closed_by) == ("closed", "automated", None)
    from kefu.clocks.models import Clock

    assert not Clock.objects.filter(subject_type="conversations.conversation", subject_id=conversation.pk).exists()

    # the same robot writing again about the same thing continues nothing open: another closed conversation
    dovecot.append(address, (f"From: robot@example.org\r\nTo: {address}\r\nSubject: Out of Office\r\n"
                             "Message-ID: <oof-again@example.org>\r\nAuto-Submitted: auto-generated\r\n\r\n"
                             "I am still away.\r\n").encode())
    assert poll(mailbox_channel).stored == 1
    assert not Conversation.objects.filter(status="open").exists()


def test_a_bounce_of_our_reply_lands_in_its_conversation(mailbox_channel: Channel, dovecot: Dovecot,
                                                         smtp: SmtpServer, agent: Any,
                                                         django_capture_on_commit_callbacks: Any) -> None:
    address = mailbox_channel.config["address"]
    dovecot.append(address, first_mail(address))
    poll(mailbox_channel)
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.message_send(actor=agent, conversation=conversation, text="您好")
    reply.refresh_from_db()
    returned = smtp.messages[0].content.decode()
    bounce = (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.cn>\r\nTo: {address}\r\n"
              "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.example.cn>\r\n"
              "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
              "--b\r\nContent-Type: text/plain\r\n\r\nMailbox full.\r\n"
              "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.cn\r\n\r\n"
              "Final-Recipient: rfc822; zhang.wei@example.cn\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n"
              f"--b\r\nContent-Type: message/rfc822\r\n\r\n{returned}\r\n--b--\r\n")
    dovecot.append(address, bounce.encode())
    with django_capture_on_commit_callbacks(execute=True):
        assert poll(mailbox_channel).stored == 1
    message = Message.objects.get(external_id="dsn.1@mx.example.cn")
    assert message.automated == "bounce"
    assert message.conversation_id == conversation.pk
    assert len(smtp.messages) == 1


def test_inline_images_point_at_the_stored_attachments(mailbox_channel: Channel, dovecot: Dovecot) -> None:
    address = mailbox_channel.config["address"]
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
    dovecot.append(address, (
        f"From: chen@example.com\r\nTo: {address}\r\nSubject: Screenshot\r\nMessage-ID: <img.1@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=r\r\n\r\n"
        "--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p>See:</p><img src="cid:shot@example.com" onerror="alert(1)"><script>alert(2)</script>\r\n'
        "--r\r\nContent-Type: image/png; name=shot.png\r\nContent-ID: <shot@example.com>\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n--r--\r\n").encode())
    assert poll(mailbox_channel).stored == 1
    message = Message.objects.get()
    (image,) = message.attachments.all()
    assert image.content_id == "shot@example.com"
    assert f'src="/conversations/attachments/{image.pk}/"' in message.body_html
    assert "alert" not in message.body_html
    assert "cid:" not in message.body_html


def test_replies_are_kept_in_the_mailboxs_sent_folder_when_asked(
        mailbox_channel: Channel, dovecot: Dovecot, smtp: SmtpServer, agent: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    """Exmail, Aliyun, QQ and NetEase keep no copy of mail sent over SMTP: with `sent_folder` Kefu puts each
    reply there itself (a Chinese folder name written the IMAP way; the folder made when missing), read."""
    from kefu.conversations.adapters.imap import encode_folder

    address = mailbox_channel.config["address"]
    mailbox_channel.config = {**mailbox_channel.config, "sent_folder": "已发送"}
    mailbox_channel.save(update_fields=["config"])
    dovecot.append(address, first_mail(address))
    poll(mailbox_channel)
    conversation = Conversation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.message_send(actor=agent, conversation=conversation, text="您好，已为您加急处理。")
    reply.refresh_from_db()
    assert reply.delivery_state == "sent", reply.last_error
    with dovecot.connect(address) as client:
        status, _data = client.select(f'"{encode_folder("已发送")}"')
        assert status == "OK"
        _status, found = client.uid("SEARCH", "ALL")
        (uid,) = found[0].split()
        _status, fetched = client.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
    assert b"\\Seen" in fetched[0][0]
    kept = message_from_bytes(fetched[0][1], policy=email_policy.default)
    assert kept["Message-ID"] == f"<{reply.external_id}>"
    assert "已为您加急处理" in kept.get_body(("plain",)).get_content()
    assert len(smtp.messages) == 1


def test_a_copy_that_cannot_be_kept_does_not_fail_the_reply(mailbox_channel: Channel, dovecot: Dovecot,
                                                            smtp: SmtpServer, caplog: Any) -> None:
    from kefu.conversations.adapters.base import Identity, OutboundMessage
    from kefu.conversations.adapters.registry import adapter_for
    from kefu.conversations.tests.email.conftest import free_port

    mailbox_channel.config = {**mailbox_channel.config, "sent_folder": "Sent Messages", "imap_port": free_port()}
    sent = adapter_for("email").send(mailbox_channel, OutboundMessage(
        message_id=5, conversation_id=2, text="您好", subject="问题",
        to=Identity(kind="email", value="li.na@example.cn", name="李娜")))
    assert sent.ok, sent.error
    assert len(smtp.messages) == 1
    assert "no copy kept in 'Sent Messages'" in caplog.text
