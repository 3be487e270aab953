"""Builds the demo company. Deterministic for a given seed; running it again changes nothing.

History older than a few days is bulk-inserted with a consistent story per work order (created, assigned,
answered, dispatched, resolved, closed, SLA met or breached); the last days' orders go through the real
services so their SLA clocks, due times and escalations are live.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from kefu.accounts.choices import Role
from kefu.accounts.models import Department, Team, User
from kefu.clocks.models import Clock
from kefu.customers.choices import ContactKind, CustomerKind, Tier
from kefu.customers.models import ContactPoint, Customer, Site, Tag
from kefu.demo import names
from kefu.tickets.choices import (
    Channel,
    DispatchStatus,
    EventKind,
    MessageKind,
    Priority,
    SlaClockState,
    SlaMetric,
    SlaStanding,
    Status,
    TicketType,
)
from kefu.tickets.models import Category, Dispatch, SlaPolicy, Ticket, TicketEvent, TicketMessage

DEMO_PASSWORD = "kefu-demo-2026"
MARKER_CODE = "C000001"
# The demo's channels (published like the demo password: never use them outside the demo). `web` is the chat widget
# on any site (/chat/web/widget.js); `app` an app / mini-program webhook (POST /api/v1/inbound/app).
DEMO_WEBHOOK_SECRET = "kefu-demo-webhook-secret"
DEMO_IDENTITY_SECRET = "kefu-demo-identity-secret"


@dataclass(frozen=True)
class DemoSize:
    customers: int
    days: int
    orders_per_weekday: float


FULL = DemoSize(customers=2000, days=182, orders_per_weekday=62.0)
SMALL = DemoSize(customers=150, days=21, orders_per_weekday=14.0)

TYPE_MIX = [(TicketType.INQUIRY, 0.44), (TicketType.REPAIR, 0.26), (TicketType.COMPLAINT, 0.11),
            (TicketType.SUGGESTION, 0.07), (TicketType.PRAISE, 0.05), (TicketType.OTHER, 0.07)]
CHANNEL_MIX = [(Channel.PHONE, 0.52), (Channel.WECHAT, 0.2), (Channel.CHAT, 0.14), (Channel.EMAIL, 0.07),
               (Channel.WEB, 0.07)]
# Share of the day's orders starting in each hour (08:00–21:00): a morning peak and an afternoon peak.
HOUR_PROFILE = {8: 4, 9: 10, 10: 13, 11: 11, 12: 6, 13: 7, 14: 11, 15: 11, 16: 9, 17: 7, 18: 4, 19: 3, 20: 2,
                21: 1}
WEEKDAY_FACTOR = [1.12, 1.0, 0.97, 0.95, 1.02, 0.62, 0.5]  # Monday busiest, weekends quieter

STAFF: list[tuple[str, str, Role, str | None, str]] = [
    # username, name, role, team, department code
    ("admin", "系统管理员", Role.ADMIN, None, "service-center"),
    ("manager", "刘建国", Role.MANAGER, None, "service-center"),
    ("manager2", "何晓燕", Role.MANAGER, None, "service-center"),
    ("shiftlead", "陈海燕", Role.SHIFT_LEAD, None, "service-center"),
    ("shiftlead2", "郭志强", Role.SHIFT_LEAD, None, "service-center"),
    ("qa", "周雅琴", Role.QA, None, "service-center"),
    ("qa2", "吴思远", Role.QA, None, "service-center"),
    ("lead1", "王芳", Role.TEAM_LEAD, "客服一组", "service-center"),
    ("lead2", "杨磊", Role.TEAM_LEAD, "客服二组", "service-center"),
    ("lead3", "林静", Role.TEAM_LEAD, "VIP 专席组", "service-center"),
    ("agent1", "李娜", Role.AGENT, "客服一组", "service-center"),
    ("agent2", "张伟", Role.AGENT, "客服一组", "service-center"),
    ("agent3", "赵敏", Role.AGENT, "客服一组", "service-center"),
    ("agent4", "孙丽", Role.AGENT, "客服一组", "service-center"),
    ("agent5", "马超", Role.AGENT, "客服一组", "service-center"),
    ("agent6", "朱婷", Role.AGENT, "客服二组", "service-center"),
    ("agent7", "胡杰", Role.AGENT, "客服二组", "service-center"),
    ("agent8", "高娟", Role.AGENT, "客服二组", "service-center"),
    ("agent9", "罗明", Role.AGENT, "客服二组", "service-center"),
    ("agent10", "郑欣怡", Role.AGENT, "客服二组", "service-center"),
    ("agent11", "梁佳怡", Role.AGENT, "VIP 专席组", "service-center"),
    ("agent12", "谢宇轩", Role.AGENT, "VIP 专席组", "service-center"),
    ("agent13", "宋嘉欣", Role.AGENT, "VIP 专席组", "service-center"),
    ("agent14", "唐一鸣", Role.AGENT, "VIP 专席组", "service-center"),
    ("agent15", "许诗涵", Role.AGENT, "VIP 专席组", "service-center"),
    ("repair1", "韩师傅", Role.DEPARTMENT, None, "repair"),
    ("repair2", "冯师傅", Role.DEPARTMENT, None, "repair"),
    ("eng1", "邓工", Role.DEPARTMENT, None, "engineering"),
    ("eng2", "曹工", Role.DEPARTMENT, None, "engineering"),
    ("finance1", "彭会计", Role.DEPARTMENT, None, "finance"),
    ("security1", "曾队长", Role.DEPARTMENT, None, "security"),
]
DEPARTMENTS = [("service-center", "客服中心", True), ("repair", "维修部", False), ("engineering", "工程部", False),
               ("finance", "财务部", False), ("security", "保安部", False)]
CATEGORIES = {
    TicketType.REPAIR: [("水电维修", "Plumbing and electrics", "repair"), ("门窗维修", "Doors and windows", "repair"),
                        ("公共设施", "Shared facilities", "engineering"), ("电梯", "Lifts", "engineering")],
    TicketType.COMPLAINT: [("服务态度", "Service attitude", None), ("维修质量", "Repair quality", "repair"),
                           ("环境卫生", "Cleaning", None), ("噪音扰民", "Noise", "security")],
    TicketType.INQUIRY: [("缴费", "Payments", "finance"), ("办理手续", "Procedures", None),
                         ("社区服务", "Community services", None)],
}
TAGS = [("业主", "#2563eb"), ("租户", "#0891b2"), ("商户", "#7c3aed"), ("老客户", "#059669"),
        ("高频报修", "#d97706"), ("敏感客户", "#dc2626")]


@dataclass
class DemoSummary:
    created: bool
    users: int = 0
    customers: int = 0
    tickets: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)


@contextmanager
def _manual_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Let bulk inserts carry historical timestamps instead of "now"."""
    saved = []
    for model in model_classes:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
                saved.append((f, f.auto_now_add, f.auto_now))
                f.auto_now_add = False
                f.auto_now = False
    try:
        yield
    finally:
        for f, add, now in saved:
            f.auto_now_add = add
            f.auto_now = now


def _pick(rng: random.Random, mix: list[tuple[Any, float]]) -> Any:
    return rng.choices([k for k, _ in mix], weights=[w for _, w in mix])[0]


def _poisson(rng: random.Random, mean: float) -> int:
    # Normal approximation is plenty for daily means of 10–100.
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


def build_demo(*, size: DemoSize = FULL, seed: int = 2026, now: datetime | None = None) -> DemoSummary:
    """Create the demo company unless it is already there; always make sure the demo logins work."""
    now = now or timezone.now()
    rng = random.Random(seed)
    summary = DemoSummary(created=False)
    with transaction.atomic():
        users = _ensure_staff()
        _ensure_channels()
        summary.logins = [(u.username, str(u), u.get_role_display()) for u in users.values()]
        if Customer.objects.filter(code=MARKER_CODE).exists():
            summary.users = len(users)
            summary.customers = Customer.objects.count()
            summary.tickets = Ticket.objects.count()
            return summary
        from kefu.tickets.defaults import sla_install_defaults

        sla_install_defaults()
        categories = _ensure_categories()
        customers = _make_customers(rng, size, users, now)
        history_end = now - timedelta(days=3)
        _make_history(rng, size, users, customers, categories, now, history_end)
    # Recent orders go through the services, each in its own transaction as in real use.
    _make_recent(rng, size, users, customers, categories, now, now - timedelta(days=3))
    _make_conversations(rng, customers)
    _make_floor(rng, customers, now)
    _make_call_history(seed, size, customers, now)
    from kefu.demo.knowledge import make_knowledge  # the knowledge base: articles, intake, questions asked, gaps

    make_knowledge(users=users, now=now, seed=seed)
    summary.created = True
    summary.users = len(users)
    summary.customers = Customer.objects.count()
    summary.tickets = Ticket.objects.count()
    return summary


def _ensure_staff() -> dict[str, User]:
    departments = {}
    for code, name, is_center in DEPARTMENTS:
        departments[code], _ = Department.objects.get_or_create(
            code=code, defaults={"name": name, "is_service_center": is_center})
    teams = {}
    for team_name in ("客服一组", "客服二组", "VIP 专席组"):
        teams[team_name], _ = Team.objects.get_or_create(name=team_name,
                                                         defaults={"department": departments["service-center"]})
    users: dict[str, User] = {}
    # One hash for the shared, published demo password: hashing it 31 times took ~12 s of the load. It meets the
    # password policy like any other (checked here, so a stricter policy cannot leave the demo unable to sign in).
    validate_password(DEMO_PASSWORD)
    demo_password = make_password(DEMO_PASSWORD)
    for number, (username, display, role, team_name, dept) in enumerate(STAFF, start=1):
        user = User.objects.filter(username=username).first() or User(username=username)
        user.display_name = display
        user.role = role
        user.team = teams[team_name] if team_name else None
        user.department = departments[dept]
        user.employee_no = user.employee_no or f"{8000 + number}"
        user.phone = user.phone or f"139{number:08d}"
        user.email = user.email or f"{username}@demo.kefu.local"
        user.is_active = True
        user.is_staff = role == Role.ADMIN
        user.is_superuser = role == Role.ADMIN
        user.password = demo_password
        user.save()
        users[username] = user
    for team_name, lead in (("客服一组", "lead1"), ("客服二组", "lead2"), ("VIP 专席组", "lead3")):
        Team.objects.filter(pk=teams[team_name].pk).update(lead=users[lead])
    for code, head in (("repair", "repair1"), ("engineering", "eng1"), ("finance", "finance1"),
                       ("security", "security1"), ("service-center", "manager")):
        Department.objects.filter(code=code).update(manager=users[head])
    return users


def _ensure_channels() -> None:
    """The chat widget `web` for the hotline team (客服一组) on the standard business calendar, any site allowed to
    embed it; the app webhook `app` for 客服二组. Created once through the service; left alone afterwards."""
    from kefu.conversations.models import Channel
    from kefu.conversations.services import channel_create
    from kefu.core.actors import system_actor
    from kefu.core.models import BusinessCalendar
    from kefu.tickets.defaults import STANDARD_CALENDAR

    actor = system_actor("demo", gettext_lazy("系统：演示数据"))
    teams = {t.name: t for t in Team.objects.filter(name__in=["客服一组", "客服二组"])}
    if not Channel.objects.filter(code="web").exists():
        channel_create(actor=actor, kind="chat", code="web", name="在线客服", team=teams.get("客服一组"),
                       config={"allowed_origins": ["*"]}, secrets_={"identity_secret": DEMO_IDENTITY_SECRET},
                       calendar=BusinessCalendar.objects.filter(name=STANDARD_CALENDAR).first())
    if not Channel.objects.filter(code="app").exists():
        channel_create(actor=actor, kind="webhook", code="app", name="业主 App", team=teams.get("客服二组"),
                       secrets_={"secret": DEMO_WEBHOOK_SECRET})
    if not Channel.objects.filter(code="web-bot").exists():  # the answer bot answers first, then 客服一组
        from kefu.conversations.services import ChannelChanges, channel_update

        bot = channel_create(actor=actor, kind="chat", code="web-bot", name="智能客服", team=teams.get("客服一组"),
                             config={"allowed_origins": ["*"], "prechat": [{"name": "question", "required": True}]})
        channel_update(actor=actor, channel=bot, expected_version=None, changes=ChannelChanges(bot_first=True))
    _ensure_queues(actor, teams)


def _ensure_queues(actor: Any, teams: dict[str, Any]) -> None:
    """The phone queue `hotline` (客服一组, 80/20) and the chat queue `chat` (客服一组, 90/30)."""
    from kefu.routing.models import Queue
    from kefu.routing.services import QueueData, queue_create

    if not Queue.objects.filter(code="hotline").exists():
        queue_create(actor=actor, data=QueueData(code="hotline", name="服务热线", kind="phone",
                                                 team=teams.get("客服一组")))
    if not Queue.objects.filter(code="chat").exists():
        queue_create(actor=actor, data=QueueData(code="chat", name="在线客服", kind="chat", team=teams.get("客服一组"),
                                                 target_seconds=30, target_percent=90))


def _make_floor(rng: random.Random, customers: list[Customer], now: datetime) -> None:
    """The phone floor as the demo opens: the hotline's last three hours of calls through the CTI service (so
    today's interval statistics and the wallboard have figures) and the first team's agents in their states."""
    from kefu.core.actors import system_actor
    from kefu.routing.services import StateChange, agent_state_set
    from kefu.telephony.services import CtiEventIn, cti_event_record

    actor = system_actor("demo", gettext_lazy("系统：演示数据"))
    phones = [c.value for c in ContactPoint.objects.filter(kind="phone", customer__in=customers[:60])][:40]
    start = now - timedelta(hours=3)
    for n in range(int(3 * 60 / 7)):  # one call every seven minutes or so
        offered = start + timedelta(minutes=7 * n, seconds=rng.randint(0, 300))
        if offered > now - timedelta(minutes=12):
            break
        call_id = f"demo-{offered:%Y%m%d%H%M%S}-{n}"
        caller = rng.choice(phones) if phones and rng.random() < 0.7 else f"1{rng.randint(3000000000, 9999999999)}"
        events = [("queued", 0, "")]
        wait = rng.choice([4, 8, 12, 15, 18, 25, 40, 65])
        # each answered call and voicemail becomes a phone conversation with its recording (docs/telephony.md);
        # the recordings' addresses stand for the PBX's
        recording = f"https://pbx.example.cn/recordings/{call_id}.wav"
        chance = rng.random()
        if chance < 0.1:
            events.append(("abandoned", wait, ""))
        elif chance < 0.16:
            events += [("voicemail", wait, ""), ("ended", wait + rng.randint(20, 60), "")]
        else:
            agent = rng.choice(["agent1", "agent2", "agent3", "agent4", "agent5"])
            talk = rng.randint(90, 420)
            events += [("ringing", max(1, wait - 3), agent), ("answered", wait, agent)]
            if rng.random() < 0.3:
                events += [("held", wait + talk // 3, ""), ("resumed", wait + talk // 3 + rng.randint(15, 60), "")]
            events += [("ended", wait + talk + 60, ""), ("recording", wait + talk + 65, "")]
        for event, seconds, agent in events:
            cti_event_record(actor=actor, data=CtiEventIn(
                call_id=call_id, event=event, at=offered + timedelta(seconds=seconds), caller=caller,
                called="4008001234", queue="hotline", agent=agent,
                recording_url=recording if event in ("recording", "voicemail") else ""))
    states = (("agent1", "available", ""), ("agent2", "on_contact", ""), ("agent3", "available", ""),
              ("agent4", "break", "午休"), ("agent5", "training", "新产品培训"), ("lead1", "available", ""))
    for username, state, note in states:
        user = User.objects.filter(username=username).first()
        if user is not None:
            agent_state_set(actor=actor, user=user, change=StateChange(
                state=state, source="system", note=note, at=now - timedelta(minutes=rng.randint(2, 40))))


# The hotline's call history for planning: weeks before today, calls per weekday at the full size (scaled with
# the demo's size), through the same bulk path as `kefu cdr import`.
CALL_HISTORY_WEEKS = 5  # 3 weeks + a 14-day horizon: enough for the forecast's backtest
CALLS_PER_WEEKDAY = 320.0
CALL_HOURS = (8, 22)  # the hotline's opening hours; HOUR_PROFILE gives the shape of the day


def _call_rate(hour: float) -> float:
    """The share of a day's calls per hour at `hour` (fractional): HOUR_PROFILE's hourly shares, joined linearly
    between the middles of the hours so that arrivals rise and fall smoothly."""
    total = sum(HOUR_PROFILE.values())
    points = sorted((h + 0.5, share / total) for h, share in HOUR_PROFILE.items())
    points = [(CALL_HOURS[0], points[0][1] / 2), *points, (CALL_HOURS[1], 0.0)]
    for (h0, r0), (h1, r1) in itertools.pairwise(points):
        if h0 <= hour <= h1:
            return r0 + (r1 - r0) * (hour - h0) / (h1 - h0)
    return 0.0


def _make_call_history(seed: int, size: DemoSize, customers: list[Customer], now: datetime) -> None:
    """The hotline's calls of the weeks before today (kefu stats intervals → kefu wfm forecast reads them):
    Poisson arrivals following the day's curve (thinning), Monday busiest and weekends quieter; waits longer as
    the hour gets busier, callers who give up when their patience (exponential, mean 2 min) runs out first,
    lognormal talk times (median ~3 min), some holds and voicemails. Its own random stream: the rest of the demo
    is the same with or without it."""
    from kefu.routing.models import Queue
    from kefu.telephony.cdr import CdrCall, calls_write

    queue = Queue.objects.filter(code="hotline").first()
    if queue is None:
        return
    rng = random.Random(f"{seed}-hotline-history")
    agents = list(User.objects.filter(username__in=[f"agent{n}" for n in range(1, 6)]).order_by("username"))
    phones = [c.value for c in ContactPoint.objects.filter(kind="phone", customer__in=customers[:400])]
    per_weekday = CALLS_PER_WEEKDAY * min(1.0, size.orders_per_weekday / FULL.orders_per_weekday)
    weeks = min(CALL_HISTORY_WEEKS, size.days // 7 - 1)  # the small demo (tests, quick looks): two weeks
    peak = max(_call_rate(h / 4) for h in range(CALL_HOURS[0] * 4, CALL_HOURS[1] * 4))
    local = timezone.get_current_timezone()
    today = now.astimezone(local).date()
    calls = []
    for back in range(weeks * 7, 0, -1):
        day = today - timedelta(days=back)
        daily = per_weekday * WEEKDAY_FACTOR[day.weekday()]
        hour = float(CALL_HOURS[0])
        while True:  # thinning: candidates at the peak rate, each kept with rate(t) / peak
            hour += rng.expovariate(daily * peak)
            if hour >= CALL_HOURS[1]:
                break
            load = _call_rate(hour) / peak
            if rng.random() > load:
                continue
            start = datetime(day.year, day.month, day.day, tzinfo=local) + timedelta(hours=hour)
            caller = rng.choice(phones) if phones and rng.random() < 0.6 else f"1{rng.randint(3000000000, 9999999999)}"
            wait = round(rng.expovariate(1 / (4 + 26 * load * load)), 1)
            patience = rng.expovariate(1 / 120)
            common = {"call_id": f"hist-{start:%Y%m%d%H%M%S}-{len(calls)}", "start": start, "queue": queue,
                      "caller": caller, "called": "4008001234"}
            if rng.random() < 0.015:
                calls.append(CdrCall(**common, disposition="voicemail", wait_seconds=wait,
                                     talk_seconds=float(rng.randint(8, 60))))
            elif patience < wait:
                calls.append(CdrCall(**common, disposition="abandoned", wait_seconds=round(patience, 1)))
            else:
                talk = round(min(1800.0, max(20.0, rng.lognormvariate(math.log(170), 0.6))))
                hold = round(rng.expovariate(1 / 45)) if rng.random() < 0.12 else 0
                calls.append(CdrCall(**common, disposition="answered", agent=rng.choice(agents) if agents else None,
                                     wait_seconds=wait, talk_seconds=float(talk), hold_seconds=float(hold)))
    calls_write(calls=calls)


# Conversations waiting in the inboxes when the demo opens: (channel, customer's lines, agent's replies or None for
# one nobody has picked up yet, closed with a rating?)
DEMO_CONVERSATIONS = [
    ("web", ["你好，我家卫生间天花板在渗水，楼上好像没人。", "已经滴了一上午了"], None, None),
    ("app", ["请问这个月的物业费账单什么时候出？"], None, None),
    ("web", ["停车卡丢了怎么补办？"], ["您好，补办停车卡请带身份证到物业前台，工本费 20 元。"], None),
    ("web", ["电梯 2 号梯今天一直停在 8 楼不动。"], ["收到，已通知维保单位，预计 40 分钟内到场。"], None),
    ("web", ["快递柜打不开了"], ["已为您远程开柜，请再试一次。"], 5),
    ("web", ["小区门禁能加一张卡吗？"], ["可以，带上房产证复印件到前台办理即可。"], 4),
]


def _make_conversations(rng: random.Random, customers: list[Customer]) -> None:
    """A few chats and app conversations through the services: some waiting to be picked up, some being
    answered, some closed and rated."""
    from kefu.accounts.choices import Role
    from kefu.conversations import services as conversations
    from kefu.conversations.adapters.base import Identity, InboundMessage
    from kefu.conversations.models import Channel as ConversationChannel

    channels = {c.code: c for c in ConversationChannel.objects.filter(code__in=["web", "app"])}
    people = [c for c in customers if c.contacts.filter(kind="phone").exists()][:40]
    for n, (code, lines, replies, rating) in enumerate(DEMO_CONVERSATIONS):
        channel = channels.get(code)
        if channel is None or not people:
            continue
        customer = rng.choice(people)
        phone = customer.contacts.filter(kind="phone").values_list("value", flat=True).first() or ""
        identity = Identity(kind="external", value=f"demo-{n}", name=customer.name, phone=phone)
        conversation = None
        for i, line in enumerate(lines):
            conversation = conversations.message_receive(channel=channel, inbound=InboundMessage(
                external_id=f"demo-{n}-{i}", identity=identity, text=line)).conversation
        if not replies or conversation is None:
            continue
        agent = User.objects.filter(team=channel.team, role=Role.AGENT, is_active=True).order_by("username").first()
        if agent is None:
            continue
        for line in replies:
            conversations.message_send(actor=agent, conversation=conversation, text=line, client_id=f"demo-{n}")
        if rating:
            conversations.conversation_close(actor=agent, conversation=conversation, reason="resolved")
            conversations.conversation_rate(conversation=conversation, score=rating)


def _ensure_categories() -> dict[str, list[Category]]:
    result: dict[str, list[Category]] = {}
    departments = {d.code: d for d in Department.objects.all()}
    for ticket_type, entries in CATEGORIES.items():
        for order, (name, name_en, dept) in enumerate(entries):
            category, _ = Category.objects.get_or_create(
                name=name, parent=None,
                defaults={"name_en": name_en, "ticket_type": ticket_type, "sort_order": order,
                          "default_department": departments.get(dept) if dept else None})
            result.setdefault(ticket_type, []).append(category)
    return result


def _person_name(rng: random.Random) -> str:
    return rng.choice(names.SURNAMES) + rng.choice(names.GIVEN)


def _make_customers(rng: random.Random, size: DemoSize, users: dict[str, User], now: datetime) -> list[Customer]:
    tags = [Tag.objects.get_or_create(name=n, defaults={"color": c})[0] for n, c in TAGS]
    vip_agents = [u for u in users.values() if u.team and u.team.name == "VIP 专席组" and u.role == Role.AGENT]
    customers, contacts, sites, tag_links = [], [], [], []
    used_phones: set[str] = set()
    with _manual_timestamps(Customer):
        for i in range(1, size.customers + 1):
            tier = _pick(rng, [(Tier.A, 0.08), (Tier.B, 0.22), (Tier.C, 0.45), (Tier.D, 0.25)])
            company_customer = rng.random() < 0.12
            if company_customer:
                name = rng.choice(names.COMPANY_WORDS) + rng.choice(names.COMPANY_KINDS)
            else:
                name = _person_name(rng)
            is_vip = (tier == Tier.A and rng.random() < 0.6) or rng.random() < 0.01
            created = now - timedelta(days=rng.randint(30, 900), minutes=rng.randint(0, 1440))
            customers.append(Customer(
                code=f"C{i:06d}", name=name,
                kind=CustomerKind.COMPANY if company_customer else CustomerKind.PERSON,
                company=name if company_customer else "",
                tier=tier, is_vip=is_vip,
                dedicated_agent=rng.choice(vip_agents) if is_vip else None,
                birthday=date(rng.randint(1950, 2002), rng.randint(1, 12), rng.randint(1, 28))
                if not company_customer and rng.random() < 0.7 else None,
                id_number=f"{rng.randint(110000, 659000)}{rng.randint(1950, 2002)}{rng.randint(101, 1228):04d}"
                          f"{rng.randint(100, 999)}{rng.choice('0123456789X')}" if rng.random() < 0.5 else "",
                notes="", created_at=created, updated_at=created,
            ))
        Customer.objects.bulk_create(customers, batch_size=1000)
    customers = list(Customer.objects.filter(code__startswith="C").order_by("code"))
    for customer in customers:
        while True:
            phone = f"1{rng.choice('35789')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"
            if phone not in used_phones:
                used_phones.add(phone)
                break
        contacts.append(ContactPoint(customer=customer, kind=ContactKind.PHONE, value=phone, normalized=phone,
                                     is_primary=True, label="手机"))
        if rng.random() < 0.4:
            email = f"{customer.code.lower()}@example.com"
            contacts.append(ContactPoint(customer=customer, kind=ContactKind.EMAIL, value=email, normalized=email))
        if rng.random() < 0.3:
            wx = f"wx_{customer.code.lower()}"
            contacts.append(ContactPoint(customer=customer, kind=ContactKind.WECHAT, value=wx, normalized=wx))
        province, cities = rng.choice(names.PROVINCES)
        sites.append(Site(customer=customer, label="住址" if customer.kind == CustomerKind.PERSON else "办公地址",
                          province=province, city=rng.choice(cities),
                          address=f"{rng.choice(names.STREETS)}{rng.randint(1, 999)}号{rng.choice(names.ESTATES)}"
                                  f"{rng.randint(1, 30)}栋{rng.randint(1, 30)}0{rng.randint(1, 4)}室"))
        for tag in rng.sample(tags, k=rng.choice([0, 1, 1, 2])):
            tag_links.append(Customer.tags.through(customer_id=customer.pk, tag_id=tag.pk))
    ContactPoint.objects.bulk_create(contacts, batch_size=2000)
    Site.objects.bulk_create(sites, batch_size=2000)
    Customer.tags.through.objects.bulk_create(tag_links, batch_size=2000)
    return customers


@dataclass
class _Story:
    ticket: Ticket
    events: list[TicketEvent]
    messages: list[TicketMessage]
    dispatches: list[Dispatch]
    clocks: list[Clock]


def _targets(policies: list[SlaPolicy], ticket_type: str, channel: str) -> SlaPolicy | None:
    best, best_score = None, -1
    for policy in policies:
        if policy.ticket_type and policy.ticket_type != ticket_type:
            continue
        if policy.channel and policy.channel != channel:
            continue
        if policy.priority or policy.customer_tier or policy.vip_only:
            continue
        score = bool(policy.ticket_type) + bool(policy.channel)
        if score > best_score:
            best, best_score = policy, score
    return best


def _make_history(rng: random.Random, size: DemoSize, users: dict[str, User], customers: list[Customer],
                  categories: dict[str, list[Category]], now: datetime, end: datetime) -> None:
    agents = [u for u in users.values() if u.role == Role.AGENT]
    departments = {d.code: d for d in Department.objects.all()}
    dept_staff = {code: [u for u in users.values() if u.department_id == d.pk and u.role == Role.DEPARTMENT]
                  for code, d in departments.items()}
    policies = list(SlaPolicy.objects.filter(is_active=True))
    weights = [1.0 / (i + 1) ** 0.6 for i in range(len(customers))]  # a few customers call often
    local = timezone.get_current_timezone()
    start_day = (end - timedelta(days=size.days)).astimezone(local).date()
    next_id = (Ticket.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1
    stories: list[_Story] = []
    day = start_day
    while day <= end.astimezone(local).date():
        growth = 1.0 + 0.08 * ((day - start_day).days / max(size.days, 1))
        volume = _poisson(rng, size.orders_per_weekday * WEEKDAY_FACTOR[day.weekday()] * growth)
        hours = rng.choices(list(HOUR_PROFILE), weights=list(HOUR_PROFILE.values()), k=volume)
        for hour in sorted(hours):
            created = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59),
                               tzinfo=local)
            if created >= end:
                continue
            stories.append(_story(rng, next_id, created, now, agents, customers, weights, categories,
                                  departments, dept_staff, policies))
            next_id += 1
        day += timedelta(days=1)
    with _manual_timestamps(Ticket, TicketEvent, TicketMessage, Dispatch):
        for start in range(0, len(stories), 1000):
            chunk = stories[start:start + 1000]
            Ticket.objects.bulk_create([s.ticket for s in chunk])
            TicketEvent.objects.bulk_create([e for s in chunk for e in s.events])
            TicketMessage.objects.bulk_create([m for s in chunk for m in s.messages])
            Dispatch.objects.bulk_create([d for s in chunk for d in s.dispatches])
            Clock.objects.bulk_create([c for s in chunk for c in s.clocks])
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Ticket]):
            cursor.execute(sql)


def _story(rng: random.Random, ticket_id: int, created: datetime, now: datetime, agents: list[User],
           customers: list[Customer], weights: list[float], categories: dict[str, list[Category]],
           departments: dict[str, Department], dept_staff: dict[str, list[User]],
           policies: list[SlaPolicy]) -> _Story:
    ticket_type = _pick(rng, TYPE_MIX)
    channel = _pick(rng, CHANNEL_MIX)
    customer = rng.choices(customers, weights=weights)[0] if rng.random() < 0.93 else None
    owner = customer.dedicated_agent if customer and customer.dedicated_agent and rng.random() < 0.7 \
        else rng.choice(agents)
    priority = Priority.NORMAL
    if ticket_type == TicketType.COMPLAINT:
        priority = Priority.HIGH if rng.random() < 0.6 else Priority.URGENT if rng.random() < 0.2 else Priority.NORMAL
    elif customer and customer.is_vip:
        priority = Priority.HIGH
    elif rng.random() < 0.08:
        priority = Priority.LOW
    category_choices = categories.get(ticket_type, [])
    category = rng.choice(category_choices) if category_choices else None
    subject = rng.choice(names.SUBJECTS[ticket_type])
    ticket = Ticket(
        id=ticket_id, number=f"GD{created:%Y%m%d}{ticket_id:07d}", subject=subject,
        description=names.DESCRIPTIONS[ticket_type], ticket_type=ticket_type, category=category,
        priority=priority, channel=channel, customer=customer, first_contact_owner=owner, assignee=owner,
        team_id=owner.team_id, created_by=owner, created_at=created, status=Status.CLOSED,
    )
    events: list[TicketEvent] = []
    messages: list[TicketMessage] = []
    dispatches: list[Dispatch] = []
    clocks: list[Clock] = []

    def event(kind: str, at: datetime, actor: User | None, **kw: Any) -> None:
        events.append(TicketEvent(ticket_id=ticket_id, kind=kind, actor=actor, created_at=at, **kw))

    event(EventKind.CREATED, created, owner, to_status=Status.NEW,
          data={"channel": channel, "type": ticket_type, "priority": priority})
    t = created + timedelta(seconds=rng.randint(5, 120))
    event(EventKind.ASSIGNED, t, owner, from_status=Status.NEW, to_status=Status.ASSIGNED,
          data={"to": owner.pk, "to_name": str(owner)})
    # First response: median ~25 min, long tail past the 2-hour target for a few.
    response_minutes = min(rng.lognormvariate(math.log(25), 1.0), 60 * 30)
    first_response = t + timedelta(minutes=response_minutes)
    messages.append(TicketMessage(ticket_id=ticket_id, kind=MessageKind.REPLY, author=owner,
                                  body=rng.choice(names.REPLIES[:2]), channel=channel, created_at=first_response))
    event(EventKind.REPLIED, first_response, owner)
    ticket.first_responded_at = first_response
    event(EventKind.STATUS, first_response, owner, from_status=Status.ASSIGNED, to_status=Status.IN_PROGRESS)
    handler = owner
    cursor = first_response
    if rng.random() < 0.12:  # hand-over to a colleague; the first-contact owner stays
        colleague = rng.choice([a for a in agents if a.pk != owner.pk])
        cursor += timedelta(minutes=rng.randint(10, 240))
        event(EventKind.HANDOVER, cursor, owner, data={"from": owner.pk, "from_name": str(owner),
                                                       "to": colleague.pk, "to_name": str(colleague),
                                                       "reason": "交接班"})
        ticket.assignee = colleague
        handler = colleague
    if rng.random() < 0.2:
        cursor += timedelta(minutes=rng.randint(5, 60))
        messages.append(TicketMessage(ticket_id=ticket_id, kind=MessageKind.NOTE, author=handler,
                                      body=rng.choice(names.NOTES), created_at=cursor))
        event(EventKind.NOTED, cursor, handler)
    onsite_hours = None
    dispatch_code = (category.default_department.code if category and category.default_department_id else None)
    if ticket_type == TicketType.REPAIR or (dispatch_code and rng.random() < 0.5):
        code = dispatch_code or "repair"
        department = departments[code]
        staff = dept_staff.get(code) or dept_staff["repair"]
        sent = cursor + timedelta(minutes=rng.randint(5, 90))
        acknowledged = sent + timedelta(minutes=rng.lognormvariate(math.log(40), 0.8))
        onsite_hours = rng.lognormvariate(math.log(14), 0.9)
        done = acknowledged + timedelta(hours=onsite_hours)
        who = rng.choice(staff)
        dispatches.append(Dispatch(ticket_id=ticket_id, department=department, status=DispatchStatus.DONE,
                                   instructions="请尽快联系客户上门处理。", dispatched_by=handler, dispatched_at=sent,
                                   due_at=sent + timedelta(days=2), acknowledged_by=who,
                                   acknowledged_at=acknowledged, completed_by=who, completed_at=done,
                                   result=rng.choice(names.RESULTS)))
        event(EventKind.DISPATCHED, sent, handler, data={"department": department.pk,
                                                        "department_name": department.name})
        event(EventKind.STATUS, sent, handler, from_status=Status.IN_PROGRESS, to_status=Status.WAITING_DEPARTMENT)
        event(EventKind.DISPATCH_ACKNOWLEDGED, acknowledged, who, data={"department_name": department.name})
        event(EventKind.DISPATCH_COMPLETED, done, who, data={"department_name": department.name})
        event(EventKind.STATUS, done, who, from_status=Status.WAITING_DEPARTMENT, to_status=Status.IN_PROGRESS)
        cursor = done
    resolved = cursor + timedelta(minutes=rng.lognormvariate(math.log(90), 1.1))
    messages.append(TicketMessage(ticket_id=ticket_id, kind=MessageKind.REPLY, author=handler,
                                  body=names.REPLIES[2], channel=channel, created_at=resolved))
    event(EventKind.REPLIED, resolved, handler)
    event(EventKind.STATUS, resolved, handler, from_status=Status.IN_PROGRESS, to_status=Status.RESOLVED)
    ticket.resolved_at = resolved
    closed = resolved + timedelta(days=rng.choice([1, 2, 3]))
    if closed < now:
        event(EventKind.STATUS, closed, None, from_status=Status.RESOLVED, to_status=Status.CLOSED,
              data={"reason_code": "auto_close"})
        ticket.closed_at = closed
    else:
        ticket.status = Status.RESOLVED
    ticket.updated_at = ticket.closed_at or resolved
    policy = _targets(policies, ticket_type, channel)
    breached = False
    if policy is not None:
        # Historical outcomes are judged on elapsed wall-clock time; live orders use the business calendar.
        for metric, target, finished in (
            (SlaMetric.FIRST_RESPONSE, policy.first_response_seconds, first_response),
            (SlaMetric.RESOLUTION, policy.resolution_seconds, resolved),
            (SlaMetric.ONSITE, policy.onsite_seconds if onsite_hours else None,
             created + timedelta(hours=onsite_hours or 0)),
        ):
            if not target:
                continue
            due = created + timedelta(seconds=target)
            late = finished > due
            breached |= late
            clocks.append(Clock(subject_type="tickets.ticket", subject_id=ticket_id, metric=metric,
                                calendar_id=policy.calendar_id, origin=f"sla_policy:{policy.pk}",
                                warning_fraction=policy.warning_fraction, target_seconds=target,
                                state=SlaClockState.BREACHED if late else SlaClockState.MET, started_at=created,
                                due_at=due, stopped_at=finished, breached_at=due if late else None))
        ticket.sla_policy = policy
    ticket.sla_standing = SlaStanding.BREACHED if breached else SlaStanding.OK if clocks else SlaStanding.NONE
    ticket.escalation_level = 1 if breached and ticket_type == TicketType.COMPLAINT else 0
    ticket.version = len(events)
    return _Story(ticket, events, messages, dispatches, clocks)


def _make_recent(rng: random.Random, size: DemoSize, users: dict[str, User], customers: list[Customer],
                 categories: dict[str, list[Category]], now: datetime, start: datetime) -> None:
    """The last days' orders, through the real services: live SLA clocks, some due soon, some breached."""
    from kefu.tickets import services

    agents = [u for u in users.values() if u.role == Role.AGENT]
    departments = {d.code: d for d in Department.objects.all()}
    local = timezone.get_current_timezone()
    moment = start
    while moment < now - timedelta(minutes=10):
        local_moment = moment.astimezone(local)
        rate = size.orders_per_weekday * WEEKDAY_FACTOR[local_moment.weekday()] * \
            HOUR_PROFILE.get(local_moment.hour, 0) / sum(HOUR_PROFILE.values())
        moment += timedelta(minutes=rng.randint(1, 10))
        if rate <= 0 or rng.random() > rate / 6:
            continue
        ticket_type = _pick(rng, TYPE_MIX)
        owner = rng.choice(agents)
        category_choices = categories.get(ticket_type, [])
        ticket = services.ticket_create(
            actor=owner, subject=rng.choice(names.SUBJECTS[ticket_type]),
            description=names.DESCRIPTIONS[ticket_type], ticket_type=ticket_type,
            priority=Priority.HIGH if ticket_type == TicketType.COMPLAINT else Priority.NORMAL,
            channel=_pick(rng, CHANNEL_MIX), customer=rng.choice(customers),
            category=rng.choice(category_choices) if category_choices else None, assignee=owner, at=moment,
        )
        age_hours = (now - moment).total_seconds() / 3600
        roll = rng.random()
        if roll < 0.75 or age_hours > 30:
            services.ticket_reply(actor=owner, ticket=ticket, body=rng.choice(names.REPLIES[:2]),
                                  at=moment + timedelta(minutes=rng.randint(3, 50)))
            services.ticket_transition(actor=owner, ticket=ticket, to_status=Status.IN_PROGRESS,
                                       at=moment + timedelta(minutes=rng.randint(50, 60)))
            if ticket_type == TicketType.REPAIR and rng.random() < 0.7:
                services.ticket_dispatch(actor=owner, ticket=ticket, department=departments["repair"],
                                         instructions="请尽快联系客户上门处理。",
                                         due_at=max(now, moment) + timedelta(days=2))
            elif age_hours > 20 and rng.random() < 0.5:
                services.ticket_transition(actor=owner, ticket=ticket, to_status=Status.RESOLVED,
                                           at=moment + timedelta(hours=rng.randint(2, 12)))
            elif rng.random() < 0.15:
                services.ticket_transition(actor=owner, ticket=ticket, to_status=Status.WAITING_CUSTOMER,
                                           at=moment + timedelta(hours=1))
    from kefu.tickets.sla import sla_sweep

    sla_sweep(now=now)  # and the escalations it causes
