"""The widget's HTTP side: the session (visitor token, host-signed identity valid / expired / forged, hours and
agents online, origin and CORS), uploads (limits and types, idempotent), files only for their own visitor, the
script and the frame (headers: frame-ancestors per channel, no X-Frame-Options), and leave-a-message → order."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.utils import timezone

from kefu.conversations.choices import CloseReason, ConversationStatus
from kefu.conversations.models import Conversation, Message
from kefu.widget.tests.conftest import IDENTITY_SECRET, SHOP
from kefu.widget.visitors import Visitor, new_visitor_id, sign_identity, token_for, visitor_from_token

pytestmark = pytest.mark.django_db

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def session(client: Client, code: str, body: Any, origin: str | None = SHOP, **headers: str) -> Any:
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    extra.update(headers)
    return client.post(f"/chat/{code}/session", data=json.dumps(body) if not isinstance(body, str) else body,
                       content_type="application/json", **extra)


def identity(external_id: str = "u-1001", *, secret: str = IDENTITY_SECRET, expires_in: int = 600,
             **claims: Any) -> str:
    return sign_identity(secret, {"external_id": external_id, "exp": int(time.time()) + expires_in, **claims})


# --- the session ----------------------------------------------------------------------------------------------


def test_a_new_visitor_gets_a_token_and_the_channels_state(client: Client, chat: Any) -> None:
    response = session(client, chat.code, {"token": None, "identity": None, "lang": "zh-hans"})
    assert response.status_code == 200
    body = response.json()
    visitor = visitor_from_token(body["token"], chat.code)
    assert visitor is not None
    assert (visitor.external_id, len(visitor.id)) == ("", 32)
    assert body["conversation_id"] is None
    assert body["open"] is True  # no calendar: always open
    assert body["online"] is False  # nobody signed in
    assert [(f["name"], f["required"]) for f in body["prechat"]] == [("name", False), ("question", True)]
    assert body["prechat"][0]["label"] == "您的称呼"
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in response["Vary"]
    assert response["Cache-Control"] == "no-store"


def test_a_returning_visitor_keeps_their_id_and_finds_their_open_conversation(client: Client, chat: Any,
                                                                              visitor: Visitor, token: str) -> None:
    from kefu.widget import inbound

    received = inbound.receive(channel=chat, visitor=visitor, client_id="c1", text="你好")
    body = session(client, chat.code, {"token": token}).json()
    assert visitor_from_token(body["token"], chat.code).id == visitor.id
    assert body["conversation_id"] == received.conversation.pk
    assert body["conversation"] == {"id": received.conversation.pk, "status": "open", "csat_score": None}


def test_a_host_signed_identity_makes_the_conversation_the_persons_from_any_browser(client: Client, chat: Any) -> None:
    from kefu.widget import inbound

    body = session(client, chat.code, {"identity": identity(name="王业主", phone="13912345678")}).json()
    visitor = visitor_from_token(body["token"], chat.code)
    assert body["identified"] is True
    assert (visitor.external_id, visitor.details) == ("u-1001", {"name": "王业主", "phone": "13912345678"})
    received = inbound.receive(channel=chat, visitor=visitor, client_id="c1", text="你好")
    conversation = Conversation.objects.select_related("customer").get(pk=received.conversation.pk)
    assert (conversation.identity_kind, conversation.identity_value) == ("external", "u-1001")
    assert conversation.customer.name == "王业主"
    # the same person in another browser (another visitor id) continues it
    other = session(Client(), chat.code, {"identity": identity()}).json()
    assert other["conversation_id"] == conversation.pk
    assert visitor_from_token(other["token"], chat.code).id != visitor.id


@pytest.mark.parametrize(("token", "status", "code"), [
    (lambda: identity(expires_in=-5), 401, "identity_expired"),
    (lambda: identity(secret="someone-elses-secret"), 400, "identity_invalid"),
    (lambda: identity()[:-4] + "0000", 400, "identity_invalid"),
    (lambda: "eyJleHRlcm5hbF9pZCI6ImFkbWluIn0.abc", 400, "identity_invalid"),
    (lambda: "no-dot-at-all", 400, "identity_invalid"),
    (lambda: sign_identity(IDENTITY_SECRET, {"exp": int(time.time()) + 60}), 400, "identity_invalid"),
    (lambda: sign_identity(IDENTITY_SECRET, {"external_id": "x"}), 400, "identity_invalid"),
    (lambda: sign_identity(IDENTITY_SECRET, ["not", "an", "object"]), 400, "identity_invalid"),  # type: ignore[arg-type]
    (lambda: 12345, 400, "identity_invalid"),
])
def test_an_identity_that_is_expired_or_forged_is_refused(client: Client, chat: Any, token: Any, status: int,
                                                          code: str) -> None:
    response = session(client, chat.code, {"identity": token()})
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["details"] == {"field": "identity"}


def test_identities_are_refused_while_the_channel_has_no_identity_secret(client: Client, chat: Any) -> None:
    chat.secrets = {}
    chat.save()
    response = session(client, chat.code, {"identity": identity()})
    assert (response.status_code, response.json()["code"]) == (400, "identity_invalid")


def test_the_session_refuses_other_origins_and_answers_preflights(client: Client, chat: Any) -> None:
    refused = session(client, chat.code, {}, origin="https://evil.example")
    assert (refused.status_code, refused.json()["code"]) == (403, "origin_refused")
    assert "Access-Control-Allow-Origin" not in refused
    assert session(client, chat.code, {}, origin=None).status_code == 403  # no origin: only with "*"
    assert session(client, chat.code, {}, origin="http://testserver").status_code == 200  # Kefu's own frame
    preflight = client.options(f"/chat/{chat.code}/session", HTTP_ORIGIN=SHOP,
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == SHOP
    assert "X-Kefu-Visitor" in preflight["Access-Control-Allow-Headers"]
    assert client.get(f"/chat/{chat.code}/session", HTTP_ORIGIN=SHOP).status_code == 405
    assert session(client, "nowhere", {}).status_code == 404
    chat.is_active = False
    chat.save()
    assert session(client, chat.code, {}).status_code == 404


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", json.dumps("text")])
def test_a_malformed_session_request_is_a_400(client: Client, chat: Any, body: str) -> None:
    response = session(client, chat.code, body)
    assert (response.status_code, response.json()["code"]) == (400, "bad_json")


def test_online_means_an_agent_of_the_team_active_in_the_last_15_minutes(client: Client, chat: Any, agent: Any,
                                                                         other_agent: Any) -> None:
    from kefu.accounts.models import UserSession

    def online() -> bool:
        return bool(session(client, chat.code, {}).json()["online"])

    assert not online()
    row = UserSession.objects.create(user=other_agent, session_key_hash="b" * 40)
    assert not online()  # another team's agent
    row = UserSession.objects.create(user=agent, session_key_hash="a" * 40,
                                     last_seen_at=timezone.now() - timedelta(minutes=16))
    assert not online()  # gone for 16 minutes
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=timezone.now() - timedelta(minutes=2))
    assert online()
    agent.is_active = False
    agent.save()
    assert not online()


def test_outside_the_calendars_hours_the_widget_is_closed_and_says_when_it_opens(client: Client, chat: Any) -> None:
    from kefu.core.models import BusinessCalendar

    chat.calendar = BusinessCalendar.objects.create(name="从不营业", week=[[]] * 7)
    chat.save()
    body = session(client, chat.code, {}).json()
    assert (body["open"], body["opens_at"]) == (False, None)
    now = timezone.localtime()
    week: list[list[list[str]]] = [[] for _ in range(7)]
    week[(now.weekday() + 1) % 7] = [["09:00", "18:00"]]
    week[now.weekday()] = []
    chat.calendar = BusinessCalendar.objects.create(name="明天营业", week=week)
    chat.save()
    body = session(client, chat.code, {}).json()
    assert body["open"] is False
    opens = timezone.localtime(timezone.datetime.fromisoformat(body["opens_at"]))
    assert (opens.date() - now.date()).days == 1
    assert opens.strftime("%H:%M") == "09:00"


def test_the_prechat_form_follows_the_channels_config(client: Client, chat: Any) -> None:
    chat.config = {**chat.config, "prechat": [{"name": "phone", "required": True}, "question"]}
    chat.save()
    body = session(client, chat.code, {"lang": "en"}, HTTP_ACCEPT_LANGUAGE="en").json()
    assert [(f["name"], f["required"]) for f in body["prechat"]] == [("phone", True), ("question", True)]
    chat.config = {**chat.config, "prechat": []}
    chat.save()
    assert session(client, chat.code, {}).json()["prechat"] == []


@override_settings(KEFU_RATE_LIMITS={"public.widget": "3/1m"})
def test_the_session_is_rate_limited_per_address(client: Client, chat: Any) -> None:
    answers = [session(client, chat.code, {}).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = session(client, chat.code, {})
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1


# --- uploads and files ----------------------------------------------------------------------------------------


def upload(client: Client, code: str, token: str | None, name: str, content: bytes, client_id: str = "up-1",
           origin: str = SHOP) -> Any:
    headers = {"HTTP_ORIGIN": origin}
    if token is not None:
        headers["HTTP_X_KEFU_VISITOR"] = token
    return client.post(f"/chat/{code}/upload", {"file": SimpleUploadedFile(name, content), "client_id": client_id},
                       **headers)


def test_an_image_upload_is_a_message_stored_once(client: Client, chat: Any, token: str) -> None:
    response = upload(client, chat.code, token, "漏水照片.png", PNG)
    assert response.status_code == 201
    ack = response.json()
    message = Message.objects.get(pk=ack["id"])
    assert (ack["type"], ack["client_id"], ack["seq"], message.kind) == ("ack", "up-1", 1, "image")
    attachment = message.attachments.get()
    assert (attachment.filename, attachment.content_type, attachment.size) == ("漏水照片.png", "image/png", len(PNG))
    assert ack["message"]["files"][0]["image"] is True
    assert ack["message"]["files"][0]["url"].startswith(f"/chat/{chat.code}/files/{attachment.pk}?token=")
    again = upload(client, chat.code, token, "漏水照片.png", PNG)
    assert again.status_code == 200
    assert again.json()["id"] == ack["id"]
    assert Message.objects.count() == 1


@pytest.mark.parametrize(("name", "content", "status", "code"), [
    ("virus.exe", b"MZ\x90\x00", 400, "file_type"),
    ("page.html", b"<script>alert(1)</script>", 400, "file_type"),
    ("noext", b"hello", 400, "file_type"),
    ("fake.png", b"<html>not an image</html>", 400, "file_type"),
    ("empty.txt", b"", 400, "file_empty"),
    ("big.pdf", b"%PDF-" + b"0" * 2048, 413, "file_size"),
])
@override_settings(KEFU_ATTACHMENT_MAX_BYTES=1024)
def test_uploads_outside_the_limits_and_types_are_refused(client: Client, chat: Any, token: str, name: str,
                                                          content: bytes, status: int, code: str) -> None:
    response = upload(client, chat.code, token, name, content)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert response.json()["details"] == {"field": "file"}
    assert not Message.objects.exists()


def test_an_upload_needs_the_visitor_token_a_client_id_and_a_file(client: Client, chat: Any, token: str) -> None:
    assert upload(client, chat.code, None, "a.txt", b"hello").status_code == 401
    assert upload(client, chat.code, "forged", "a.txt", b"hello").status_code == 401
    assert upload(client, chat.code, token, "a.txt", b"hello", client_id="../x").json()["code"] == "bad_client_id"
    missing = client.post(f"/chat/{chat.code}/upload", {"client_id": "x1"}, HTTP_ORIGIN=SHOP,
                          HTTP_X_KEFU_VISITOR=token)
    assert (missing.status_code, missing.json()["details"]) == (400, {"field": "file"})
    assert upload(client, chat.code, token, "a.txt", b"hello", origin="https://evil.example").status_code == 403


def test_a_file_is_served_to_its_own_visitor_only(client: Client, chat: Any, token: str, team: Any) -> None:
    from kefu.conversations.tests.factories import ChannelFactory

    ack = upload(client, chat.code, token, "说明.pdf", b"%PDF-1.4 test").json()
    attachment_id = ack["message"]["files"][0]["id"]
    url = f"/chat/{chat.code}/files/{attachment_id}"
    own = client.get(url, {"token": token})
    assert own.status_code == 200
    assert b"".join(own.streaming_content) == b"%PDF-1.4 test"
    assert own["Content-Type"] == "application/pdf"
    assert own["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in own["Content-Security-Policy"]
    stranger = token_for(Visitor(code=chat.code, id=new_visitor_id()))
    assert client.get(url, {"token": stranger}).status_code == 404
    assert client.get(url).status_code == 404
    assert client.get(url, {"token": "forged"}).status_code == 404
    other = ChannelFactory(chat=True, code="other-site", team=team)
    elsewhere = token_for(Visitor(code=other.code, id=visitor_from_token(token, chat.code).id))
    assert client.get(f"/chat/{other.code}/files/{attachment_id}", {"token": elsewhere}).status_code == 404
    assert client.get(f"/chat/{chat.code}/files/999999", {"token": token}).status_code == 404


def test_a_file_that_is_not_shown_inline_is_downloaded(client: Client, chat: Any, token: str) -> None:
    ack = upload(client, chat.code, token, "清单.xlsx", b"PK\x03\x04 fake").json()
    response = client.get(ack["message"]["files"][0]["url"])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")


# --- leave a message -------------------------------------------------------------------------------------------


def leave(client: Client, code: str, body: dict[str, Any]) -> Any:
    return client.post(f"/chat/{code}/leave", data=json.dumps(body), content_type="application/json",
                       HTTP_ORIGIN=SHOP)


def test_a_message_left_becomes_a_work_order_at_once(client: Client, chat: Any, token: str, team: Any) -> None:
    from kefu.tickets.models import Ticket

    body = {"token": token, "client_id": "leave-1", "name": "李四", "phone": "13700001234",
            "text": "晚上水管爆了，明天请尽快联系我"}
    response = leave(client, chat.code, body)
    assert response.status_code == 201, response.content
    answer = response.json()
    ticket = Ticket.objects.select_related("customer").get()
    assert answer["ticket_number"] == ticket.number
    assert ticket.channel == "chat"
    assert ticket.team_id == team.pk
    assert ticket.subject == "在线留言：晚上水管爆了，明天请尽快联系我"
    assert "晚上水管爆了" in ticket.description
    assert ticket.customer.name == "李四"
    assert ticket.first_contact_owner_id is None  # opened by the system: the first agent to take it owns it
    conversation = Conversation.objects.get(pk=answer["conversation_id"])
    assert (conversation.status, conversation.close_reason, conversation.ticket_id) == (
        ConversationStatus.CLOSED, CloseReason.TICKET, ticket.pk)
    again = leave(client, chat.code, body)
    assert again.status_code == 200
    assert again.json()["ticket_number"] == ticket.number
    assert Ticket.objects.count() == 1


def test_a_message_left_needs_a_way_to_answer_and_some_text(client: Client, chat: Any, token: str) -> None:
    from kefu.tickets.models import Ticket

    no_contact = leave(client, chat.code, {"token": token, "client_id": "l1", "text": "请回电"})
    assert (no_contact.status_code, no_contact.json()["details"]) == (400, {"field": "phone"})
    no_text = leave(client, chat.code, {"token": token, "client_id": "l1", "email": "a@example.com", "text": " "})
    assert (no_text.status_code, no_text.json()["details"]) == (400, {"field": "text"})
    bad_email = leave(client, chat.code, {"token": token, "client_id": "l1", "email": "nope", "text": "x"})
    assert bad_email.json()["details"] == {"field": "email"}
    assert leave(client, chat.code, {"token": "forged", "client_id": "l1", "email": "a@example.com",
                                     "text": "x"}).status_code == 401
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()


def test_an_identified_visitor_may_leave_a_message_without_typing_a_phone(client: Client, chat: Any) -> None:
    token = session(client, chat.code, {"identity": identity(phone="13911112222")}).json()["token"]
    response = leave(client, chat.code, {"token": token, "client_id": uuid.uuid4().hex, "text": "请回电"})
    assert response.status_code == 201


# --- the script and the frame ------------------------------------------------------------------------------------


def test_the_script_is_javascript_for_any_site(client: Client, chat: Any) -> None:
    response = client.get(f"/chat/{chat.code}/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "max-age=300" in response["Cache-Control"]
    text = response.content.decode()
    assert '"code": "web"' in text
    assert "\\u5728\\u7ebf\\u5ba2\\u670d" in text  # 在线客服, for a page in Chinese
    from django.utils import translation

    with translation.override("en"):
        assert translation.gettext("在线客服") in text  # and for a page in English
    assert "/frame?lang=" in text
    assert client.get("/chat/nowhere/widget.js").status_code == 404


def test_the_frame_may_be_framed_by_the_channels_sites_only(client: Client, chat: Any) -> None:
    response = client.get(f"/chat/{chat.code}/frame")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    policy = response["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {SHOP}" in policy
    assert "script-src 'self'" in policy
    chat.config = {"allowed_origins": ["*"]}
    chat.save()
    assert "frame-ancestors *" in client.get(f"/chat/{chat.code}/frame")["Content-Security-Policy"]
    # every other page still refuses to be framed
    assert "frame-ancestors 'none'" in client.get("/login/")["Content-Security-Policy"]
    assert client.get("/login/")["X-Frame-Options"] == "DENY"


def test_the_frame_speaks_the_language_asked_for_else_the_browsers(client: Client, chat: Any) -> None:
    assert client.get(f"/chat/{chat.code}/frame")["Content-Language"] == "zh-hans"
    assert client.get(f"/chat/{chat.code}/frame", {"lang": "en"})["Content-Language"] == "en"
    assert client.get(f"/chat/{chat.code}/frame", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")["Content-Language"] == "en"
    assert client.get(f"/chat/{chat.code}/frame", {"lang": "zh-hans"},
                      HTTP_ACCEPT_LANGUAGE="en-US")["Content-Language"] == "zh-hans"
    french_first = client.get(f"/chat/{chat.code}/frame", HTTP_ACCEPT_LANGUAGE="fr, zh-TW;q=0.5")
    assert french_first["Content-Language"] == "zh-hans"
    page = client.get(f"/chat/{chat.code}/frame", {"lang": "en"}).content.decode()
    assert "Send" in page
    assert 'lang="en"' in page


def test_the_frame_lays_out_the_channels_prechat_fields(client: Client, chat: Any) -> None:
    chat.config = {**chat.config, "prechat": ["phone", {"name": "question", "required": True}]}
    chat.save()
    page = client.get(f"/chat/{chat.code}/frame").content.decode()
    assert 'id="kw-pc-phone"' in page
    assert 'id="kw-pc-question"' in page
    assert 'id="kw-pc-name"' not in page


def test_each_language_of_the_frame_is_whole(client: Client, chat: Any) -> None:
    """No English in the Chinese widget (key names and the product's name aside), no Chinese in the English one —
    the page and the words its script shows."""
    import re

    from kefu.web.tests.test_i18n import CJK, visible_text

    chat.config = {**chat.config, "prechat": ["name", "phone", "email", "question"]}
    chat.name = "Help"
    chat.save()

    def words(lang: str) -> list[str]:
        page = client.get(f"/chat/{chat.code}/frame", {"lang": lang}).content.decode()
        config = json.loads(re.search(r'<script id="kw-config" type="application/json">(.*?)</script>', page,
                                      re.S)[1])
        strings = [v for value in config["strings"].values() for v in (value if isinstance(value, list) else [value])]
        return visible_text(page) + [re.sub(r"\{\w+\}", "", s) for s in strings]

    english = {w for text in words("zh-hans") for w in re.findall(r"[A-Za-z]{3,}", text)}
    assert english <= {"Kefu", "Enter", "Shift", "Help"}, english
    chinese = [text for text in words("en") if CJK.search(text)]
    assert not chinese, chinese
