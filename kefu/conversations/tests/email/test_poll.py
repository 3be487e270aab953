"""Polling a mailbox on a REAL IMAP server (dovecot, see conftest.py): unread mail taken on the first poll, new
mail after, each flagged seen; the position kept in the channel's state; bad mail skipped and logged, the others
going on; a crash between storing and recording the position storing nothing twice; bounded batches."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.utils import timezone

from kefu.conversations import mailboxes
from kefu.conversations.models import Channel, Conversation, Message
from kefu.conversations.tests.email.conftest import MAILBOX_PASSWORD, Dovecot
from kefu.conversations.tests.factories import ChannelFactory

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("dovecot")]


def mail(n: int, *, sender: str = "customer@example.com", extra: str = "", body: str = "") -> bytes:
    return (f"From: Customer <{sender}>\r\nTo: support@kefu.test\r\nSubject: Question {n}\r\n"
            f"Message-ID: <q{n}.{sender}>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0800\r\n{extra}\r\n"
            f"{body or f'Question number {n}.'}\r\n").encode()


def user(channel: Channel) -> str:
    return str(channel.config["username"])


def poll(channel: Channel) -> mailboxes.PollResult:
    channel.refresh_from_db()
    return mailboxes.mailbox_poll(channel=channel)


def test_the_first_poll_takes_the_unread_mail_and_flags_it_seen(mailbox_channel: Channel, dovecot: Dovecot) -> None:
    dovecot.append(user(mailbox_channel), mail(1, sender="read@example.com"), seen=True)  # handled before Kefu
    unread = dovecot.append(user(mailbox_channel), mail(2))
    result = poll(mailbox_channel)
    assert (result.fetched, result.stored, result.skipped, result.error) == (1, 1, 0, "")
    (message,) = Message.objects.all()
    assert message.external_id == "q2.customer@example.com"
    assert message.meta["uid"] == unread
    assert "\\Seen" in dovecot.flags(user(mailbox_channel), unread)
    mailbox_channel.refresh_from_db()
    state = mailbox_channel.state
    assert state["last_uid"] == unread
    assert state["uidvalidity"] > 0
    assert state["backlog"] is False
    assert state["last_error"] == ""
    assert poll(mailbox_channel).fetched == 0  # nothing new


def test_new_mail_after_the_first_poll_is_taken_even_if_someone_read_it_first(
        mailbox_channel: Channel, dovecot: Dovecot) -> None:
    poll(mailbox_channel)
    dovecot.append(user(mailbox_channel), mail(3), seen=True)
    dovecot.append(user(mailbox_channel), mail(4))
    result = poll(mailbox_channel)
    assert (result.fetched, result.stored) == (2, 2)
    assert Conversation.objects.count() == 2  # two new mails without thread: two conversations


def test_a_bad_mail_is_skipped_and_logged_with_its_uid_and_the_others_go_on(
        mailbox_channel: Channel, dovecot: Dovecot, caplog: pytest.LogCaptureFixture) -> None:
    poll(mailbox_channel)
    mbox = user(mailbox_channel)
    dovecot.append(mbox, mail(5))
    bad = dovecot.append(mbox, b"Subject: no sender at all\r\n\r\nwho wrote this?\r\n")
    dovecot.append(mbox, mail(6))
    with caplog.at_level(logging.WARNING, logger="kefu.conversations.mailboxes"):
        result = poll(mailbox_channel)
    assert (result.fetched, result.stored, result.skipped) == (3, 2, 1)
    assert f"UID {bad} skipped" in caplog.text
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["q5.customer@example.com",
                                                                            "q6.customer@example.com"]
    assert "\\Seen" in dovecot.flags(mbox, bad)
    assert poll(mailbox_channel).fetched == 0  # not tried again


def test_a_mail_the_services_refuse_is_skipped_and_nothing_of_it_is_stored(
        mailbox_channel: Channel, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from kefu.conversations import services

    poll(mailbox_channel)
    real = services.message_receive

    def receive(**kwargs: Any) -> Any:
        received = real(**kwargs)  # stored …
        if kwargs["inbound"].external_id.startswith("q7."):
            raise RuntimeError("boom after storing")  # … then a failure: the whole mail is rolled back
        return received

    monkeypatch.setattr(services, "message_receive", receive)
    dovecot.append(user(mailbox_channel), mail(7))
    dovecot.append(user(mailbox_channel), mail(8))
    with caplog.at_level(logging.ERROR, logger="kefu.conversations.mailboxes"):
        result = poll(mailbox_channel)
    assert (result.stored, result.skipped) == (1, 1)
    assert list(Message.objects.values_list("external_id", flat=True)) == ["q8.customer@example.com"]
    assert Conversation.objects.count() == 1
    assert "could not be stored" in caplog.text


def test_a_database_outage_stops_the_round_without_moving_on(
        mailbox_channel: Channel, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.conversations import services

    poll(mailbox_channel)
    first = dovecot.append(user(mailbox_channel), mail(9))
    mailbox_channel.refresh_from_db()
    before = mailbox_channel.state["last_uid"]

    def down(**kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "message_receive", down)
    result = poll(mailbox_channel)
    assert (result.fetched, result.more) == (0, True)
    mailbox_channel.refresh_from_db()
    assert mailbox_channel.state["last_uid"] == before
    assert "\\Seen" not in dovecot.flags(user(mailbox_channel), first)
    monkeypatch.undo()
    assert poll(mailbox_channel).stored == 1  # taken once the database is back


def test_a_crash_after_storing_but_before_the_position_was_saved_stores_nothing_twice(
        mailbox_channel: Channel, dovecot: Dovecot) -> None:
    poll(mailbox_channel)
    start = Channel.objects.get(pk=mailbox_channel.pk).state["last_uid"]
    dovecot.append(user(mailbox_channel), mail(10))
    dovecot.append(user(mailbox_channel), mail(11))
    assert poll(mailbox_channel).stored == 2
    state = {**Channel.objects.get(pk=mailbox_channel.pk).state, "last_uid": start}
    Channel.objects.filter(pk=mailbox_channel.pk).update(state=state)  # as if the position were lost
    result = poll(mailbox_channel)
    assert (result.fetched, result.stored, result.duplicates) == (2, 0, 2)
    assert Message.objects.count() == 2


def test_a_rebuilt_mailbox_new_uidvalidity_starts_again_without_duplicates(
        mailbox_channel: Channel, dovecot: Dovecot) -> None:
    dovecot.append(user(mailbox_channel), mail(12))
    assert poll(mailbox_channel).stored == 1
    state = {**Channel.objects.get(pk=mailbox_channel.pk).state, "uidvalidity": 1, "last_uid": 999}
    Channel.objects.filter(pk=mailbox_channel.pk).update(state=state)
    dovecot.append(user(mailbox_channel), mail(13))  # arrives while the position is wrong: still unread
    result = poll(mailbox_channel)
    assert (result.stored, result.duplicates) == (1, 0)
    mailbox_channel.refresh_from_db()
    assert mailbox_channel.state["uidvalidity"] != 1
    assert Message.objects.count() == 2


def test_batches_are_bounded_and_the_worker_goes_on_with_the_rest(mailbox_channel: Channel,
                                                                   dovecot: Dovecot) -> None:
    from kefu.conversations.tasks import mailbox_poll_task

    poll(mailbox_channel)
    mailbox_channel.config = {**mailbox_channel.config, "batch_size": 2}
    mailbox_channel.save()
    for n in range(20, 25):
        dovecot.append(user(mailbox_channel), mail(n))
    result = poll(mailbox_channel)
    assert (result.stored, result.more) == (2, True)
    mailbox_poll_task.call_local(mailbox_channel.pk)  # continues until the mailbox is read
    assert Message.objects.count() == 5


def test_mail_over_the_size_limit_is_skipped(mailbox_channel: Channel, dovecot: Dovecot,
                                             caplog: pytest.LogCaptureFixture) -> None:
    poll(mailbox_channel)
    mailbox_channel.config = {**mailbox_channel.config, "max_message_bytes": 2048}
    mailbox_channel.save()
    big = dovecot.append(user(mailbox_channel), mail(30, body="x" * 4000))
    dovecot.append(user(mailbox_channel), mail(31))
    with caplog.at_level(logging.WARNING, logger="kefu.conversations.mailboxes"):
        result = poll(mailbox_channel)
    assert (result.stored, result.skipped) == (1, 1)
    assert f"UID {big} skipped" in caplog.text


def test_a_refused_login_is_reported_not_raised(mailbox_channel: Channel, dovecot: Dovecot) -> None:
    mailbox_channel.secrets = {"password": "wrong"}
    mailbox_channel.save()
    result = poll(mailbox_channel)
    assert result.fetched == 0
    assert "LOGIN" in result.error or "AUTHENTICATIONFAILED" in result.error
    mailbox_channel.refresh_from_db()
    assert mailbox_channel.state["last_error"] == result.error


def test_an_unknown_folder_is_reported(mailbox_channel: Channel) -> None:
    mailbox_channel.config = {**mailbox_channel.config, "folder": "Nope"}
    mailbox_channel.save()
    assert "SELECT Nope" in poll(mailbox_channel).error


def test_a_poll_already_running_is_not_doubled(mailbox_channel: Channel) -> None:
    from django.core.cache import cache

    cache.add(f"kefu:mailbox-poll:{mailbox_channel.pk}", "other", 60)
    assert poll(mailbox_channel).error == "a poll of this mailbox is already running"


def test_polls_are_due_by_each_mailbox_interval(db: Any) -> None:
    now = timezone.now()
    fresh = ChannelFactory(email=True, config={"address": "a@kefu.test"})
    recent = ChannelFactory(email=True, config={"address": "b@kefu.test"},
                            state={"polled_at": (now - timedelta(seconds=30)).isoformat()})
    slow = ChannelFactory(email=True, config={"address": "c@kefu.test", "poll_minutes": 10},
                          state={"polled_at": (now - timedelta(minutes=5)).isoformat()})
    late = ChannelFactory(email=True, config={"address": "d@kefu.test"},
                          state={"polled_at": (now - timedelta(seconds=58)).isoformat()})
    ChannelFactory(email=True, is_active=False, config={"address": "e@kefu.test"})
    ChannelFactory(code="app-x")
    assert sorted(mailboxes.mailboxes_due(now=now)) == sorted([fresh.pk, late.pk])
    assert recent.pk not in mailboxes.mailboxes_due(now=now)
    assert slow.pk not in mailboxes.mailboxes_due(now=now)


def test_kefu_channel_poll(mailbox_channel: Channel, dovecot: Dovecot, capsys: pytest.CaptureFixture[str]) -> None:
    dovecot.append(user(mailbox_channel), mail(40))
    call_command("channel", "poll", mailbox_channel.code)
    assert "1 fetched, 1 stored, 0 duplicates, 0 skipped" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no e-mail channel"):
        call_command("channel", "poll", "nope")


def test_kefu_channel_add_email(db: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KEFU_MAILBOX_PASSWORD", MAILBOX_PASSWORD)
    call_command("channel", "add", "email", "exmail", "--address", "kefu@example.cn", "--imap-host",
                 "imap.exmail.qq.com", "--smtp-host", "smtp.exmail.qq.com", "--display-name", "客服中心")
    channel = Channel.objects.get(code="exmail")
    assert channel.kind == "email"
    assert channel.config == {"address": "kefu@example.cn", "imap_host": "imap.exmail.qq.com",
                              "smtp_host": "smtp.exmail.qq.com", "display_name": "客服中心"}
    assert channel.secret("password") == MAILBOX_PASSWORD
    assert channel.creates_tickets is True
    with pytest.raises(CommandError, match="imap_security"):
        call_command("channel", "add", "email", "bad", "--address", "kefu@example.cn", "--imap-host", "h.example",
                     "--smtp-host", "h.example", "--imap-security", "tls")
    assert not Channel.objects.filter(code="bad").exists()


def test_kefu_channel_secret_changes_a_mailbox_password(mailbox_channel: Channel, dovecot: Dovecot,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox_channel.secrets = {"password": "old"}
    mailbox_channel.save()
    assert poll(mailbox_channel).error
    monkeypatch.setenv("KEFU_MAILBOX_PASSWORD", MAILBOX_PASSWORD)
    call_command("channel", "secret", mailbox_channel.code)
    assert Channel.objects.get(pk=mailbox_channel.pk).secret("password") == MAILBOX_PASSWORD
    assert poll(mailbox_channel).error == ""
