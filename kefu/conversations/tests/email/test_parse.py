"""Parsing mail into an InboundMessage, over hand-made messages in mail/ (multipart, HTML only, GBK, an inline
image, a bounce, an auto-reply, a loop, no Message-ID) and a few built in the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kefu.conversations.adapters import email as mail
from kefu.conversations.adapters.registry import adapter_for

MAIL = Path(__file__).parent / "mail"
CHANNEL = SimpleNamespace(config={"address": "support@kefu.test", "folder": "INBOX"}, secrets={})


def parse(name: str, **kwargs: Any) -> Any:
    return adapter_for("email").parse((MAIL / name).read_bytes(), channel=CHANNEL, **kwargs)


def test_the_adapter_is_registered_as_a_mailbox_the_worker_sends_for() -> None:
    adapter = adapter_for("email")
    assert isinstance(adapter, mail.EmailAdapter)
    assert adapter.kind == "email"
    assert adapter.live is False


def test_a_multipart_mail_gives_sender_text_html_thread_order_and_attachment() -> None:
    inbound = parse("multipart.eml", uid=17)
    assert inbound.identity.kind == "email"
    assert inbound.identity.value == "zhang.wei@example.cn"  # lower-cased
    assert inbound.identity.name == "张伟"
    assert inbound.external_id == "CAF1234567890@mail.example.cn"
    assert inbound.subject == "订单发货问题 [GD202612050001042]"
    assert inbound.ticket_number == "GD202612050001042"
    assert inbound.text == "您好，我的订单还没有发货，请帮忙查一下。\n谢谢！"
    assert "<p>谢谢！</p>" in inbound.html
    assert inbound.sent_at == datetime(2026, 12, 5, 10, 15, tzinfo=timezone(timedelta(hours=8)))
    (invoice,) = inbound.attachments
    assert (invoice.filename, invoice.content_type, invoice.content) == ("发票.pdf", "application/pdf",
                                                                         b"%PDF-1.4 fake invoice")
    assert invoice.content_id == ""
    assert inbound.automated == ""
    assert inbound.meta["message_id"] == inbound.external_id
    assert inbound.meta["to"] == ["support@kefu.test"]
    assert inbound.meta["cc"] == ["li.na@example.cn"]
    assert inbound.meta["uid"] == 17
    assert inbound.meta["folder"] == "INBOX"
    assert inbound.meta["reply_to"] == ["zhang.wei@example.cn"]


def test_an_html_only_mail_gets_its_text_from_the_html_without_scripts_or_styles() -> None:
    inbound = parse("html_only.eml")
    assert inbound.text.splitlines() == ["Hello,", "", "The zipper of my jacket broke & I want a refund.", "",
                                         "- Order GD202612010000007", "- Size M"]
    assert "alert" not in inbound.text
    assert "color" not in inbound.text
    assert "<script>" in inbound.html  # raw: the service sanitises before anybody sees it
    assert inbound.ticket_number == ""  # only the subject carries the order number


def test_gbk_and_gb2312_headers_and_body_are_decoded() -> None:
    inbound = parse("gbk.eml")
    assert inbound.identity.name == "王芳"
    assert inbound.subject == "商品破损，要求退换"
    assert inbound.text == "您好：\r\n\r\n我收到的商品有破损，请尽快处理。\r\n\r\n王芳" \
        or inbound.text == "您好：\n\n我收到的商品有破损，请尽快处理。\n\n王芳"


def test_raw_8bit_gbk_headers_and_gbk_characters_labelled_gb2312_are_decoded() -> None:
    inbound = parse("gbk_raw_headers.eml")
    assert inbound.identity.name == "朱镕"  # 镕 is in GBK, not in GB2312
    assert inbound.subject == "镕的发票"
    assert inbound.text.strip() == "发票抬头是朱镕。"


def test_an_inline_image_keeps_its_content_id_and_can_be_pointed_at_the_stored_file() -> None:
    inbound = parse("inline_image.eml")
    (image,) = inbound.attachments
    assert (image.filename, image.content_type, image.content_id) == ("shot.png", "image/png", "shot.1@example.com")
    assert image.content.startswith(b"\x89PNG")
    assert inbound.text == "See the error:\n\n[screenshot]"
    html = mail.rewrite_cid(inbound.html, {"shot.1@example.com": "/media/conversations/1/a.png?x=1&y=2"})
    assert 'src="/media/conversations/1/a.png?x=1&amp;y=2"' in html
    assert mail.rewrite_cid(inbound.html, {"other@x": "/y"}) == inbound.html


def test_rewrite_cid_matches_url_encoded_and_differently_cased_ids() -> None:
    html = '<img src="CID:Shot%201@Example.com"><img src=\'cid:unknown\'>'
    assert mail.rewrite_cid(html, {"<shot 1@example.com>": "/a.png"}) == '<img src="/a.png"><img src=\'cid:unknown\'>'


def test_a_delivery_status_report_is_a_bounce() -> None:
    inbound = parse("bounce_dsn.eml")
    assert inbound.automated == "bounce"
    assert inbound.meta["automated_reason"] == "multipart/report delivery-status"
    assert inbound.identity.value == "mailer-daemon@mx.example.net"
    assert "could not" in inbound.text
    assert [a.content_type for a in inbound.attachments] == ["message/delivery-status", "message/rfc822"]
    assert b"Status: 5.1.1" in inbound.attachments[0].content
    assert inbound.attachments[1].filename.endswith(".eml")
    assert inbound.thread_refs == ("kefu.7.0123456789abcdef@kefu.test",)  # the returned message's id


def test_a_bounce_with_only_the_returned_headers_threads_too() -> None:
    data = raw(BASE.replace("c@example.com", "MAILER-DAEMON@mx.example.net") + 'MIME-Version: 1.0\n'
               'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
               "--b\nContent-Type: text/plain\n\nFailed.\n"
               "--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <ours@kefu.test>\n"
               "In-Reply-To: <theirs@example.org>\n--b--")
    assert mail.parse_message(data).thread_refs == ("ours@kefu.test", "theirs@example.org")


def test_a_mail_with_only_a_subject_keeps_the_subject_as_its_text() -> None:
    assert mail.parse_message(raw(BASE, "")).text == "Help"


def test_an_out_of_office_is_an_auto_reply_by_its_headers() -> None:
    inbound = parse("auto_reply.eml")
    assert inbound.automated == "auto_reply"
    assert inbound.meta["automated_reason"] == "Auto-Submitted: auto-replied"
    assert inbound.subject == "自动回复: 订单发货问题"


def test_our_own_mail_coming_back_is_a_loop() -> None:
    inbound = parse("loop.eml")
    assert inbound.automated == "loop"
    assert inbound.meta["automated_reason"] == "from own address"


def test_a_mail_without_message_id_gets_a_stable_one_and_no_date() -> None:
    first, again = parse("no_message_id.eml"), parse("no_message_id.eml")
    assert first.external_id == again.external_id
    assert first.external_id.endswith("@no-message-id.kefu")
    assert len(first.external_id) == 40 + 19
    assert first.sent_at is None
    assert first.identity.value == "anon@example.org"
    assert first.identity.name == ""


def raw(headers: str, body: str = "Hello.") -> bytes:
    return (headers.strip() + "\n\n" + body + "\n").replace("\n", "\r\n").encode()


BASE = "From: Customer <c@example.com>\nTo: support@kefu.test\nSubject: Help\nMessage-ID: <m1@example.com>\n"


@pytest.mark.parametrize(("headers", "automated", "reason"), [
    ("Auto-Submitted: no", "", ""),
    ("Auto-Submitted: auto-generated", "auto_reply", "Auto-Submitted: auto-generated"),
    ("X-Autoreply: yes", "auto_reply", "X-Autoreply"),
    ("X-Autorespond: yes", "auto_reply", "X-Autorespond"),
    ("Precedence: bulk", "auto_reply", "Precedence: bulk"),
    ("Precedence: junk", "auto_reply", "Precedence: junk"),
    ("Precedence: auto_reply", "auto_reply", "Precedence: auto_reply"),
    ("X-Auto-Response-Suppress: OOF", "auto_reply", "X-Auto-Response-Suppress"),
    ("X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent", "auto_reply",
     "X-MS-Exchange-Generated-Message-Source"),
    ("X-MS-Exchange-Inbox-Rules-Loop: c@example.com", "auto_reply", "X-MS-Exchange-Inbox-Rules-Loop"),
    ("Return-Path: <>", "bounce", "Return-Path <>"),
    ("X-Failed-Recipients: x@example.org", "bounce", "X-Failed-Recipients"),
    ("X-Kefu-Loop: support@kefu.test", "loop", "X-Kefu-Loop"),
    ("X-Kefu-Loop: help@another-kefu.example", "", ""),  # another installation's agent wrote: a person
])
def test_machine_mail_is_recognised_by_its_headers(headers: str, automated: str, reason: str) -> None:
    inbound = mail.parse_message(raw(BASE + headers), own_addresses=frozenset({"support@kefu.test"}))
    assert (inbound.automated, inbound.meta.get("automated_reason", "")) == (automated, reason)


@pytest.mark.parametrize(("subject", "automated"), [
    ("自动回复：您好", "auto_reply"),
    ("=?UTF-8?B?6Ieq5Yqo562U5aSNOiDorqLljZU=?=", "auto_reply"),  # 自动答复: 订单
    ("Automatic reply: Help", "auto_reply"),
    ("Out of Office: Help", "auto_reply"),
    ("系统退信", "bounce"),
    ("Undeliverable: Help", "bounce"),
    ("Delivery Status Notification (Failure)", "bounce"),
    ("Re: 自动回复的设置问题", ""),  # a question about auto-replies is a person's mail
])
def test_subjects_decide_only_when_headers_did_not(subject: str, automated: str) -> None:
    headers = BASE.replace("Subject: Help", f"Subject: {subject}")
    data = headers.encode("utf-8").replace(b"\n", b"\r\n") + b"\r\nHello.\r\n"
    assert mail.parse_message(data).automated == automated


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.net", "postmaster@example.org"])
def test_mailer_daemon_and_postmaster_are_bounces(sender: str) -> None:
    inbound = mail.parse_message(raw(BASE.replace("c@example.com", sender)))
    assert inbound.automated == "bounce"


def test_a_read_receipt_report_is_an_auto_reply() -> None:
    data = raw(BASE + 'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=disposition-notification; '
               'boundary="b"', "--b\nContent-Type: text/plain\n\nRead.\n--b--")
    assert mail.parse_message(data).automated == "auto_reply"


def test_our_own_message_id_is_a_loop_and_a_forged_one_is_not(settings: Any) -> None:
    ours = mail.message_id_for(42, "kefu.test")
    assert mail.is_own_message_id(ours)
    forged = "kefu.42.0000000000000000@kefu.test"
    assert not mail.is_own_message_id(forged)
    assert mail.parse_message(raw(BASE.replace("<m1@example.com>", f"<{ours}>"))).automated == "loop"
    assert mail.parse_message(raw(BASE.replace("<m1@example.com>", f"<{forged}>"))).automated == ""


def test_thread_refs_list_in_reply_to_first_then_references_nearest_first() -> None:
    inbound = mail.parse_message(raw(BASE + "In-Reply-To: <c@x>\nReferences: <a@x>\n <b@x> <c@x>"))
    assert inbound.thread_refs == ("c@x", "b@x", "a@x")
    assert inbound.meta["in_reply_to"] == "c@x"
    assert inbound.meta["references"] == ["a@x", "b@x", "c@x"]


@pytest.mark.parametrize(("subject", "number"), [
    ("Re: 物流 [GD202612050001042]", "GD202612050001042"),
    ("回复：工单 gd202612050001042 的进展", "GD202612050001042"),
    ("[GD20261205000104211] bigger numbers", "GD20261205000104211"),
    ("GD2026120500010 too short", ""),
    ("XGD202612050001042 glued", ""),
])
def test_the_order_number_is_found_in_the_subject(subject: str, number: str) -> None:
    assert mail.ticket_number_in(subject) == number


def test_dates_without_zone_are_utc_and_bad_ones_none() -> None:
    no_zone = mail.parse_message(raw(BASE + "Date: Sat, 05 Dec 2026 10:15:00"))
    assert no_zone.sent_at == datetime(2026, 12, 5, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"Subject: nobody\r\n\r\nNo sender.\r\n",
                                  b"\x00\xff\xfe garbage without headers"])
def test_a_mail_without_a_sender_is_refused_with_a_parse_error(data: bytes) -> None:
    with pytest.raises(mail.EmailParseError):
        mail.parse_message(data)


def test_a_sender_falls_back_to_sender_then_return_path() -> None:
    inbound = mail.parse_message(raw("Sender: s@example.com\nReturn-Path: <r@example.com>\nSubject: x"))
    assert inbound.identity.value == "s@example.com"
    inbound = mail.parse_message(raw("Return-Path: <r@example.com>\nSubject: x"))
    assert inbound.identity.value == "r@example.com"


def test_attachment_names_are_made_safe_and_given_when_missing() -> None:
    data = raw(BASE + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
               '--b\nContent-Type: text/plain\n\nSee files.\n'
               '--b\nContent-Type: application/zip\nContent-Disposition: attachment; filename="../../etc/passwd"\n\n'
               'PK\n'
               '--b\nContent-Type: application/octet-stream\n\nxx\n--b--')
    inbound = mail.parse_message(data)
    assert inbound.text == "See files."
    assert [a.filename for a in inbound.attachments] == ["passwd", "attachment-2.bin"]
    assert inbound.kind == "text"


def test_a_mail_of_only_an_image_is_an_image_message() -> None:
    data = raw(BASE + "MIME-Version: 1.0\nContent-Type: image/png\nContent-Transfer-Encoding: base64",
               "iVBORw0KGgo=")
    inbound = mail.parse_message(data)
    assert inbound.kind == "image"
    assert inbound.text == ""
    assert inbound.attachments[0].filename == "attachment-1.png"
