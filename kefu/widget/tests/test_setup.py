"""Setting up a chat channel: `kefu channel add chat …` (origins, hours, pre-chat form, the identity secret shown
once) and the demo's channels (`web` for the hotline team on the standard calendar, the `app` webhook)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kefu.conversations.models import Channel

pytestmark = pytest.mark.django_db


def test_kefu_channel_add_chat(team: Any) -> None:
    out = StringIO()
    call_command("channel", "add", "chat", "shop", "--team", team.name, "--origin", "https://shop.example.com",
                 "--calendar", "标准工作日历", "--prechat", "name,phone*,question*", stdout=out)
    channel = Channel.objects.select_related("calendar").get(code="shop")
    assert channel.config == {"allowed_origins": ["https://shop.example.com"], "prechat": [
        {"name": "name", "required": False}, {"name": "phone", "required": True},
        {"name": "question", "required": True}]}
    assert channel.calendar.name == "标准工作日历"
    assert f"identity secret: {channel.secret('identity_secret')}" in out.getvalue()
    assert "/chat/shop/widget.js" in out.getvalue()
    call_command("channel", "add", "chat", "given", "--secret-value", "identity_secret=mine", stdout=out)
    assert Channel.objects.get(code="given").secrets == {"identity_secret": "mine"}


@pytest.mark.parametrize("args", [["--prechat", "name,age"], ["--calendar", "没有这个日历"],
                                  ["--origin", "shop.example.com"]])
def test_kefu_channel_add_chat_refuses_bad_settings(args: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("channel", "add", "chat", "bad", *args, stdout=StringIO())
    assert not Channel.objects.filter(code="bad").exists()


def test_the_demo_has_a_chat_widget_for_the_hotline_team_and_an_app_webhook() -> None:
    from kefu.demo.builder import DEMO_WEBHOOK_SECRET, _ensure_channels, _ensure_staff

    _ensure_staff()
    _ensure_channels()
    _ensure_channels()  # again: nothing new
    web = Channel.objects.select_related("team", "calendar").get(code="web")
    assert (web.kind, web.team.name, web.calendar.name) == ("chat", "客服一组", "标准工作日历")
    assert web.config["allowed_origins"] == ["*"]
    app = Channel.objects.get(code="app")
    assert (app.kind, app.secret("secret")) == ("webhook", DEMO_WEBHOOK_SECRET)
    bot = Channel.objects.get(code="web-bot")  # the answer bot answers first (kefu.conversations.services.bot)
    assert (bot.kind, bot.bot_first, bot.team.name) == ("chat", True, "客服一组")
    assert Channel.objects.count() == 3
