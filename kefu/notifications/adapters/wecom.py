"""企业微信 group robots: a notice for a person is posted as text to the robot of their team (else of their
department), @-mentioning them by mobile number. The HTTP transport is one small class, replaced in tests."""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx

from kefu.integrations.transport import BlockedAddress, check_url
from kefu.notifications.adapters.base import Rendered, SendResult

TIMEOUT_SECONDS = 10
TEXT_MAX = 2000  # the robot API takes at most 2,048 bytes of text content


class Transport(Protocol):
    def post(self, url: str, body: dict[str, Any], timeout: float) -> tuple[int | None, str]: ...


class HttpxTransport:
    def post(self, url: str, body: dict[str, Any], timeout: float) -> tuple[int | None, str]:
        try:
            check_url(url)  # every address the name resolves to, as webhooks do
        except BlockedAddress as exc:
            return 400, f"refused address: {exc}"
        try:
            response = httpx.post(url, content=json.dumps(body, ensure_ascii=False).encode(),
                                  headers={"Content-Type": "application/json"}, timeout=timeout)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, response.text[:1000]


def _transport() -> Transport:
    """httpx, unless KEFU_WECOM_TRANSPORT names another class (the browser tests record posts instead)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    name = getattr(settings, "KEFU_WECOM_TRANSPORT", "")
    return import_string(name)() if name else HttpxTransport()


TRANSPORT: Transport | None = None  # tests replace it; None: the configured one


def robot_for(user: Any) -> Any:
    from kefu.notifications.models import WecomRobot

    robots = WecomRobot.objects.filter(is_active=True)
    if user.team_id:
        found = robots.filter(team_id=user.team_id).order_by("id").first()
        if found is not None:
            return found
    if user.department_id:
        return robots.filter(department_id=user.department_id, team__isnull=True).order_by("id").first()
    return None


class WecomRobotAdapter:
    code = "wecom"

    def is_configured(self) -> bool:
        from kefu.notifications.models import WecomRobot

        return WecomRobot.objects.filter(is_active=True).exists()

    def address_for(self, user: Any) -> str:
        robot = robot_for(user)
        return robot.url if robot is not None else ""

    def send(self, *, address: str, user: Any, rendered: Rendered) -> SendResult:
        text = "\n".join(p for p in (rendered.subject, rendered.link) if p)[:TEXT_MAX]
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        if user.phone:
            body["text"]["mentioned_mobile_list"] = [user.phone]
        status, answer = (TRANSPORT or _transport()).post(address, body, TIMEOUT_SECONDS)
        if status is None:
            return SendResult(False, answer)
        if not 200 <= status < 300:
            return SendResult(False, f"HTTP {status}: {answer[:200]}", permanent=status in (400, 404))
        try:
            result = json.loads(answer or "{}")
        except ValueError:
            return SendResult(False, f"not JSON: {answer[:200]}")
        code = result.get("errcode", 0)
        if code == 0:
            return SendResult(True)
        # 45009: too many messages this minute → retry later; 93000/40008…: the robot or message is refused
        return SendResult(False, f"errcode {code}: {result.get('errmsg', '')}"[:500], permanent=code != 45009)
