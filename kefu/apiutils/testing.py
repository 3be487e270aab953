"""Test helpers for the REST API: a JSON client authenticated with a real personal API token."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.test import Client

BASE = "/api/v1"


class ApiClient:
    """Calls /api/v1 with `Authorization: Bearer <token>` (or anonymously) and JSON bodies."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        **query: Any,
    ) -> Any:
        url = path if path.startswith("/") and path.startswith(BASE) else f"{BASE}{path}"
        data: Any = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs: dict[str, Any] = {"headers": self._headers(headers)}
        if method == "get":
            return self.client.get(url, query or None, **kwargs)
        if data is not None:
            kwargs.update(data=data, content_type="application/json")
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path: str, **query: Any) -> Any:
        return self.request("get", path, **query)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("post", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("patch", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("delete", path, **kw)


def token_for(user: Any, name: str = "tests") -> str:
    from kefu.accounts.choices import TokenScope
    from kefu.accounts.services import api_token_create

    return api_token_create(actor=user, name=name, scopes=TokenScope.values).key  # every scope: the role decides


def api_as(user: Any | None) -> ApiClient:
    return ApiClient(token_for(user) if user is not None else None)


def assert_error_shape(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)
    if code is not None:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


# --- a small world for generated tests (permission matrix, bad input on every endpoint) ---------------------

PERSONAS = (
    "agent",
    "team_lead",
    "shift_lead",
    "qa",
    "manager",
    "admin_user",
    "department_user",
    "other_agent",
)


class _LazyTokens(dict):  # type: ignore[type-arg]
    """A token per persona, created on first use (most tests need one or two)."""

    def __init__(self, people: dict[str, Any]) -> None:
        super().__init__()
        self.people = people

    def __missing__(self, name: str) -> str:
        self[name] = token_for(self.people[name])
        return self[name]


class World:
    """Work orders in every relation to the personas: one of the agent's team, one of another team, and one
    dispatched to the repair department; plus a customer, an attachment, a webhook delivery."""

    def __init__(self, *, people: dict[str, Any], customer: Any, team: Any, repair_department: Any) -> None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        from kefu.integrations.models import WebhookDelivery, WebhookEndpoint
        from kefu.tickets import services

        self.people = people
        self.customer = customer
        self.team = team
        self.repair_department = repair_department
        agent, other = people["agent"], people["other_agent"]
        self.team_ticket = services.ticket_create(
            actor=agent, subject="本组工单", customer=customer, assignee=agent
        )
        self.other_team_ticket = services.ticket_create(actor=other, subject="二组工单", assignee=other)
        self.dispatched_ticket = services.ticket_create(
            actor=agent, subject="派给维修部", ticket_type="repair", assignee=agent, customer=customer
        )
        self.dispatch = services.ticket_dispatch(
            actor=agent, ticket=self.dispatched_ticket, department=repair_department, instructions="上门"
        )
        self.message = services.ticket_add_note(actor=agent, ticket=self.team_ticket, body="备注")
        self.attachment = services.attachment_add(
            actor=agent,
            ticket=self.team_ticket,
            upload=SimpleUploadedFile("说明.txt", b"hello", "text/plain"),
        )
        self.endpoint = WebhookEndpoint.objects.create(name="CRM", url="http://127.0.0.1:9/hook")
        self.delivery = WebhookDelivery.objects.create(
            endpoint=self.endpoint,
            event="ticket.created",
            payload={"event": "ticket.created"},
            state="gave_up",
        )
        from kefu.accounts.models import Skill
        from kefu.core.models import BusinessCalendar
        from kefu.notifications.models import WecomRobot
        from kefu.tickets.models import Category, SlaPolicy

        self.skill = Skill.objects.create(code="repair", name="报修")
        self.calendar = BusinessCalendar.objects.create(name="矩阵测试日历", week=[[["09:00", "18:00"]]] * 5 + [[], []])
        self.calendar.days.create(date=date(2027, 1, 1), kind="holiday", name="元旦")
        self.category = Category.objects.create(name="矩阵测试分类")
        self.policy = SlaPolicy.objects.create(name="矩阵测试策略", calendar=self.calendar, first_response_seconds=3600)

        self.robot = WecomRobot.objects.create(name="一组群", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x",
                                               team=team)
        from datetime import timedelta

        from django.utils import timezone

        from kefu.accounts.models import SignInLock

        self.lock = SignInLock.objects.create(kind=SignInLock.Kind.ACCOUNT, value="locked-out", failures=10,
                                              locked_until=timezone.now() + timedelta(minutes=15))

        from kefu.core.audit import audit_record

        self.audit_entry = audit_record(actor=people["admin_user"], action="customer.exported",
                                        object_type="customers.export", summary="导出客户 1 条")
        from kefu.privacy.services import erasure_request_create

        self.erasure = erasure_request_create(actor=people["manager"], customer=customer, asked_by="customer",
                                              reason="客户来电要求删除个人信息")
        from kefu.conversations.adapters.base import Identity, InboundMessage
        from kefu.conversations.models import Channel
        from kefu.conversations.services import message_receive

        self.channel = Channel.objects.create(code="matrix-app", kind="webhook", name="矩阵 App", team=team,
                                              secrets={"secret": "matrix"})
        self.conversation = message_receive(channel=self.channel, inbound=InboundMessage(
            external_id="matrix-1", identity=Identity(kind="external", value="matrix-user"), text="你好")).conversation
        from kefu.conversations.adapters.base import InboundAttachment
        from kefu.conversations.models import CannedReply

        picture = message_receive(channel=self.channel, inbound=InboundMessage(
            external_id="matrix-2", identity=Identity(kind="external", value="matrix-user"), text="",
            attachments=(InboundAttachment(filename="照片.png", content_type="image/png", content=b"\x89PNG"),)))
        self.conversation_attachment = picture.message.attachments.get()
        self.canned_reply = CannedReply.objects.create(team=team, shortcut="hello", title="问候", body="您好")
        self.chat_channel = Channel.objects.create(code="matrix-chat", kind="chat", name="矩阵在线客服", team=team,
                                                   config={"allowed_origins": ["*"]})
        from kefu.routing.services import QueueData, queue_create
        from kefu.telephony.services import CtiEventIn, cti_event_record

        self.queue = queue_create(actor=people["admin_user"], data=QueueData(code="matrix-line", name="矩阵热线",
                                                                             team=team))
        self.call = cti_event_record(actor=people["admin_user"], data=CtiEventIn(
            call_id="matrix-call-1", event="ringing", at=timezone.now(), caller="13800138000", called="4008001234",
            queue="matrix-line", agent=people["agent"].username)).call
        from kefu.telephony import ivr_services as ivr

        self.ivr_flow = ivr.flow_create(actor=people["admin_user"], data=ivr.FlowData(name="矩阵导航",
                                                                                     number="4008009999"))
        self.ivr_node = ivr.node_create(actor=people["admin_user"], flow=self.ivr_flow, expected_version=None,
                                        data=ivr.NodeData(key="sub", name="子菜单", prompt="请按键"))
        self.ivr_choice = ivr.choice_set(actor=people["admin_user"], node=self.ivr_node, expected_version=None,
                                         data=ivr.ChoiceData(digit="1", target=ivr.TargetData(action="hangup")))
        self.blacklist_entry = ivr.blacklist_add(actor=people["admin_user"], data=ivr.BlacklistData(
            number="13900000000", reason="矩阵测试"))
        self.tokens = _LazyTokens(people)
        for t in (self.team_ticket, self.other_team_ticket, self.dispatched_ticket):
            t.refresh_from_db()

    @property
    def tickets(self) -> dict[str, Any]:
        return {
            "team_ticket": self.team_ticket,
            "other_team_ticket": self.other_team_ticket,
            "dispatched_ticket": self.dispatched_ticket,
        }

    @property
    def portal(self) -> dict[str, Any]:
        """The public portal's pages (/help/…): a public category with a served public article and its file, made
        on first use and written directly (no search vectors: the portal's pages read them from the database)."""
        if not hasattr(self, "_portal"):
            from django.core.files.base import ContentFile
            from django.utils import timezone

            from kefu.knowledge.models import Article, ArticleVersion
            from kefu.knowledge.models import Attachment as KbAttachment
            from kefu.knowledge.models import Category as KbCategory

            category = KbCategory.objects.create(name="矩阵知识分类", slug="matrix-kb")
            article = Article.objects.create(title="矩阵文章", status="published", category=category,
                                             published_at=timezone.now())
            text = ArticleVersion.objects.create(article=article, number=1, title="矩阵文章", body="答案")
            Article.objects.filter(pk=article.pk).update(latest=text, published=text)
            file = KbAttachment(article=article, name="说明.txt", size=5)
            file.file.save("matrix.txt", ContentFile(b"hello"), save=True)
            self._portal = {"lang": "zh", "category_slug": category.slug, "public_article_id": article,
                            "public_file_id": file}
        return self._portal

    @property
    def knowledge(self) -> dict[str, Any]:
        if not hasattr(self, "_knowledge"):
            from kefu.knowledge.tests.matrix import knowledge_world

            self._knowledge = knowledge_world(self.people)
        return self._knowledge

    def owned(self, param: str, user: Any) -> Any:
        """Objects that belong to the requester (their own token, their own saved view)."""
        from kefu.accounts.models import ApiToken
        from kefu.tickets.models import SavedView

        if param == "token_id":
            if not ApiToken.objects.filter(user=user).exists():
                token_for(user)
            return ApiToken.objects.filter(user=user).first()
        if param == "download":  # the temporary passwords of an import, kept for the one who imported
            from django.core.cache import cache

            cache.set(f"kefu:staff-passwords:{user.pk}:matrix", b"xlsx", 60)
            return "matrix"
        if param == "notification_id":
            from kefu.notifications.models import Notification

            return Notification.objects.get_or_create(recipient=user, event_id=0, kind="ticket.assigned",
                                                      defaults={"params": {"number": "GD1", "subject": "x"}})[0]
        if param == "session_id":  # one of the requester's signed-in browsers
            from kefu.accounts.models import UserSession

            return UserSession.objects.get_or_create(session_key_hash=f"matrix-{user.pk}", defaults={"user": user})[0]
        if param == "offer_id":  # a contact offered to the requester by routing
            return _offer_for(user)
        if param == "view_id":
            return SavedView.objects.get_or_create(
                owner=user, name="我的视图", defaults={"query": "status=new"}
            )[0]
        raise KeyError(param)

    def objects_for(self, params: list[str], ticket_key: str | None) -> dict[str, Any]:
        """Path values for a route, and the object whose scope decides access (ticket, dispatch, customer)."""
        fixed = {
            "dispatch_id": self.dispatch,
            "customer_id": self.customer,
            "attachment_id": self.attachment,
            "message_id": self.message,
            "delivery_id": self.delivery,
            "endpoint_id": self.endpoint,
            "robot_id": self.robot,
            "skill_id": self.skill,
            "calendar_id": self.calendar,
            "category_id": self.category,
            "policy_id": self.policy,
            "entry_id": self.audit_entry,
            "uidb64": "MQ",  # a one-time link that is not valid: the page says so
            "token": "not-a-token",
            "user_id": self.people["agent"],
            "team_id": self.team,
            "department_id": self.repair_department,
            "day": "2027-01-01",
            "ticket_type": "repair",
            "lock_id": self.lock,
            "erasure_id": self.erasure,
            "retention_kind": "closed_tickets",
            "code": "matrix-app",
            "chat_code": "matrix-chat",  # the chat widget's pages (/chat/<chat_code>/…)
            "channel_id": self.chat_channel,  # the channel settings page (/admin/channels/<channel_id>/)
            "conversation_id": self.conversation,
            "call_id": self.call,
            "conversation_attachment_id": self.conversation_attachment,
            "canned_reply_id": self.canned_reply,
            "flow_id": self.ivr_flow,
            "node_id": self.ivr_node,
            "choice_id": self.ivr_choice,
            "blacklist_id": self.blacklist_entry,
            "queue_id": self.queue,
            "queue_code": "matrix-line",
        }
        values: dict[str, Any] = {}
        for param in params:
            if param == "ticket_id":
                values[param] = (
                    self.dispatch.ticket
                    if "dispatch_id" in params
                    else self.tickets[ticket_key or "team_ticket"]
                )
            elif param in fixed:
                values[param] = fixed[param]
            elif param in PORTAL_PARAMS:  # the public portal's objects, made on first use
                values[param] = self.portal[param]
            elif param in KNOWLEDGE_PARAMS:  # the knowledge base's objects, made on first use
                values[param] = self.knowledge[param]
            elif param in ("token_id", "view_id", "notification_id", "download", "session_id", "offer_id"):
                values[param] = None  # per requester, see owned()
            else:
                raise KeyError(param)
        return values


PORTAL_PARAMS = ("lang", "category_slug", "public_article_id", "public_file_id")
KNOWLEDGE_PARAMS = ("article_id", "number", "kb_attachment_id", "kb_category_id", "intake_id", "gap_id",
                    "kb_suspect_id")


def _offer_for(user: Any) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from kefu.routing.models import Offer, Queue, RoutedContact

    offer = Offer.objects.filter(agent=user, outcome="").first()
    if offer is not None:
        return offer
    queue, _created = Queue.objects.get_or_create(code="matrix-routed", defaults={"name": "矩阵分配", "routed": True})
    now = timezone.now()
    contact = RoutedContact.objects.create(ref=f"matrix:{user.pk}:{RoutedContact.objects.count()}", kind="phone",
                                           queue=queue, state="offered", enqueued_at=now, queue_entered_at=now)
    return Offer.objects.create(contact=contact, agent=user, offered_at=now, expires_at=now + timedelta(hours=1))


def scope_object(values: dict[str, Any]) -> Any:
    """The object `kefu.core.policy.permits` is asked about for a route with these path values."""
    if values.get("dispatch_id") is not None:
        return values["dispatch_id"]
    if values.get("ticket_id") is not None:
        return values["ticket_id"]
    for param in ("attachment_id", "message_id"):
        if values.get(param) is not None:
            return values[param].ticket
    if values.get("customer_id") is not None:
        return values["customer_id"]
    if values.get("conversation_id") is not None:
        return values["conversation_id"]
    if values.get("conversation_attachment_id") is not None:
        return values["conversation_attachment_id"].conversation
    if values.get("call_id") is not None:
        return values["call_id"]
    return None
