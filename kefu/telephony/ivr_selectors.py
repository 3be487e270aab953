"""Reads of the IVR (语音导航): flows and their menu trees, what is wrong with a tree, the blacklist, and the "next
step" the PBX asks for at each turn of a call.

The next step is a function of the request (call, caller, called number, menu, digits, attempt), the flow as
configured, the blacklist and the clock: it changes nothing, so a PBX that retries gets the same answer. The rows
it adds are records: the audit log's — the order-status lookup reads a customer's orders, and each such read is
recorded (who asked, which customer, which call), as every read of personal data is — and, in a menu that takes
spoken questions, the consultation library's (once per call, menu and turn; docs/knowledge-import.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.core.actors import system_actor
from kefu.core.audit import audit_record
from kefu.core.calendar_specs import spec_from_model
from kefu.core.calendars import is_open
from kefu.core.models import CalendarDay
from kefu.telephony.choices import IVR_EXITS, ClosedAction, IvrAction
from kefu.telephony.models import BlacklistEntry, IvrChoice, IvrFlow, IvrNode
from kefu.telephony.regions import dial_digits

IVR_ACTOR = system_actor("ivr", gettext_lazy("系统：语音导航"))
DIGITS = "123456789*0#"  # a phone keypad's order
ORDERS_SPOKEN = 3  # the most recent open orders read out by the order-status lookup
ORDERS_READ = "customer.orders_read_by_ivr"  # the audit action of an order-status lookup


@dataclass(frozen=True)
class Asker:
    """Who asks for the next step, for the audit row of an order-status lookup: the PBX's account and its API
    token (`POST /api/v1/ivr/next`), or the administrator trying a flow out in its editor (no token)."""

    actor: Any
    token_id: int | None = None
    token_name: str = ""
    ip: str | None = None


# --- flows and trees --------------------------------------------------------------------------------------------


def flow_list() -> QuerySet[IvrFlow]:
    return IvrFlow.objects.select_related("calendar", "entry").annotate(node_count=Count("nodes")).order_by("name")


def flow_tree(flow_id: int) -> IvrFlow | None:
    """A flow with its menus and their choices (targets included) loaded: three queries."""
    choices = IvrChoice.objects.select_related("target_node", "queue").order_by("digit")
    nodes = (IvrNode.objects.select_related("target_node", "queue", "kb_queue")
             .prefetch_related(Prefetch("choices", queryset=choices)).order_by("id"))
    return (IvrFlow.objects.select_related("calendar", "entry").prefetch_related(Prefetch("nodes", queryset=nodes))
            .filter(pk=flow_id).first())


def flow_for_number(called: str) -> IvrFlow | None:
    digits = dial_digits(called)
    if not digits:
        return None
    return IvrFlow.objects.select_related("calendar", "entry").filter(number=digits).first()


@dataclass(frozen=True)
class Problem:
    """Something wrong with a tree, said with the menu (and digit) it is at."""

    message: str
    node: str = ""  # the menu's key
    digit: str = ""  # "" for the menu itself or its timeout rule

    def as_dict(self) -> dict[str, str]:
        return {"node": self.node, "digit": self.digit, "message": self.message}


def _where(node: IvrNode, digit: str) -> str:
    if digit:
        return _("菜单“%(key)s”的按键 %(digit)s") % {"key": node.key, "digit": digit}
    return _("菜单“%(key)s”的超时规则") % {"key": node.key}


def _target_problems(flow: IvrFlow, node: IvrNode, target: Any, digit: str) -> list[Problem]:
    where = _where(node, digit)
    if target.action == IvrAction.MENU and (target.target_node is None or target.target_node.flow_id != flow.pk):
        return [Problem(_("%(where)s指向的子菜单不存在") % {"where": where}, node.key, digit)]
    if target.action == IvrAction.QUEUE:
        if target.queue is None:
            return [Problem(_("%(where)s没有选择队列") % {"where": where}, node.key, digit)]
        if not target.queue.is_active:
            return [Problem(_("%(where)s转入的队列“%(queue)s”已停用") % {"where": where, "queue": target.queue.code},
                            node.key, digit)]
    if target.action == IvrAction.TRANSFER and not target.number:
        return [Problem(_("%(where)s没有填写转接号码") % {"where": where}, node.key, digit)]
    if not digit and target.action in (IvrAction.REPEAT, IvrAction.ORDER_STATUS):
        return [Problem(_("%(where)s不能是“%(action)s”：不按键的来电者会一直听下去")
                        % {"where": where, "action": IvrAction(target.action).label}, node.key)]
    return []


def _targets(node: IvrNode) -> list[tuple[str, Any]]:
    return [(c.digit, c) for c in node.choices.all()] + [("", node)]


def flow_problems(flow: IvrFlow) -> list[Problem]:
    """Everything that keeps a tree from being served: a digit or timeout rule pointing nowhere (a missing menu,
    a stopped queue, no number), menus no caller can reach, menus with no way out (every path only leads to
    more menus), and timeout rules that send a silent caller round in a circle. Expects `flow_tree`'s loading."""
    nodes: list[IvrNode] = list(flow.nodes.all())
    by_id = {n.pk: n for n in nodes}
    problems: list[Problem] = []
    if flow.entry_id is None or flow.entry_id not in by_id:
        problems.append(Problem(_("还没有设置首个菜单")))
    for node in nodes:
        for digit, target in _targets(node):
            problems += _target_problems(flow, node, target, digit)
        if node.ask_kb and node.kb_queue is not None and not node.kb_queue.is_active:
            problems.append(Problem(_("菜单“%(key)s”的知识库转人工队列“%(queue)s”已停用")
                                    % {"key": node.key, "queue": node.kb_queue.code}, node.key))
    # menus a caller can reach from the first one
    reached: set[int] = set()
    todo = [flow.entry_id] if flow.entry_id in by_id else []
    while todo:
        current = todo.pop()
        if current in reached:
            continue
        reached.add(current)
        todo += [t.target_node_id for _d, t in _targets(by_id[current])
                 if t.action == IvrAction.MENU and t.target_node_id in by_id]
    if flow.entry_id in by_id:
        problems += [Problem(_("菜单“%(key)s”无法到达：没有按键或超时规则指向它") % {"key": n.key}, n.key)
                     for n in nodes if n.pk not in reached]
    # menus from which some path ends the call (queue, voicemail, transfer, hang-up)
    good: set[int] = set()
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if node.pk not in good and any(t.action in IVR_EXITS or (t.action == IvrAction.MENU
                                                                     and t.target_node_id in good)
                                           for _d, t in _targets(node)):
                good.add(node.pk)
                changed = True
    problems += [Problem(_("菜单“%(key)s”没有出口：来电者无法转人工、留言、转接或挂机") % {"key": n.key}, n.key)
                 for n in nodes if n.pk not in good]
    # the silent caller: timeout rules followed from each menu must end the call
    seen_cycles: set[frozenset[int]] = set()
    for node in nodes:
        path: list[int] = []
        current: IvrNode | None = node
        while current is not None and current.action == IvrAction.MENU and current.pk not in path:
            path.append(current.pk)
            current = by_id.get(current.target_node_id or 0)
        if current is not None and current.pk in path:
            cycle = path[path.index(current.pk):]
            if frozenset(cycle) not in seen_cycles:
                seen_cycles.add(frozenset(cycle))
                names = " → ".join(by_id[pk].key for pk in [*cycle, cycle[0]])
                problems.append(Problem(_("超时规则形成循环（%(path)s）：不按键的来电者永远无法结束通话")
                                        % {"path": names}, by_id[cycle[0]].key))
    return problems


# --- the blacklist ----------------------------------------------------------------------------------------------


def blacklist_list(*, q: str = "") -> QuerySet[BlacklistEntry]:
    """The entries, newest first; `q` finds numbers containing the digits typed."""
    qs = BlacklistEntry.objects.select_related("created_by")
    digits = "".join(ch for ch in q if ch.isdigit())[:40]
    if digits:
        qs = qs.filter(number__contains=digits)
    return qs.order_by("-created_at", "-id")


def blacklist_match(number: str, *, now: datetime | None = None) -> BlacklistEntry | None:
    """The entry in force that refuses `number` (the number itself, or the longest prefix of it). One query."""
    digits = dial_digits(number)
    if not digits:
        return None
    now = now or timezone.now()
    prefixes = [digits[:i] for i in range(1, len(digits) + 1)]
    rows = list(BlacklistEntry.objects.filter(Q(number=digits, is_prefix=False)
                                              | Q(number__in=prefixes, is_prefix=True))
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)))
    rows.sort(key=lambda e: (e.is_prefix, -len(e.number)))
    return rows[0] if rows else None


# --- the next step ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextStepIn:
    """One question of the PBX (POST /api/v1/ivr/next). `node` empty: the call has just arrived. `digits` None:
    play `node`; "" : the caller pressed nothing in time; else the keys pressed (the first counts)."""

    call_id: str
    caller: str
    called: str
    node: str = ""
    digits: str | None = None
    attempt: int = 0  # how many times this menu was replayed after no or a wrong key (the answer's, sent back)
    speech: str = ""  # what the caller said in `node`, as the PBX's speech recognition heard it


@dataclass
class Step:
    action: str  # play, queue, voicemail, transfer, hangup, reject
    reason: str
    prompt: str = ""
    notice: str = ""
    audio: str = ""
    node: str = ""
    attempt: int = 0
    timeout_seconds: int | None = None
    digits_allowed: str = ""
    queue: str | None = None
    number: str | None = None

    def as_dict(self, call_id: str) -> dict[str, Any]:
        return {"call_id": call_id, "action": self.action, "reason": self.reason, "prompt": self.prompt,
                "notice": self.notice, "audio": self.audio, "node": self.node, "attempt": self.attempt,
                "timeout_seconds": self.timeout_seconds, "digits_allowed": self.digits_allowed,
                "queue": self.queue, "number": self.number}


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def _play(node: IvrNode, *, reason: str, attempt: int = 0, notice: str = "") -> Step:
    keys = {c.digit for c in node.choices.all()}
    return Step(action="play", reason=reason, prompt=_join(notice, node.prompt), notice=notice, audio=node.audio,
                node=node.key, attempt=attempt, timeout_seconds=node.timeout_seconds,
                digits_allowed="".join(d for d in DIGITS if d in keys))


def order_status_sentence(caller: str, *, call_id: str = "", asker: Asker | None = None) -> str:
    """What the order-status lookup says: the caller's most recent open orders, each by its number and status
    only (nothing else of the record is read out), or that the number is not known. A customer found is a read
    of their orders: one audit row `customer.orders_read_by_ivr` naming the customer, the call, the orders read
    out and who asked (`asker`; none: the IVR itself)."""
    from kefu.core.masking import mask_contact
    from kefu.customers.selectors import customer_find_by_contact
    from kefu.tickets.choices import OPEN_STATUSES, Status
    from kefu.tickets.selectors import customer_ticket_history

    customer = customer_find_by_contact(IVR_ACTOR, caller, kind="phone").first() if caller else None
    if customer is None:
        return _("未能根据您的来电号码查到客户记录。")
    orders = [o for o in customer_ticket_history(IVR_ACTOR, customer.pk, limit=20)
              if o["status"] in OPEN_STATUSES][:ORDERS_SPOKEN]
    asker = asker or Asker(actor=IVR_ACTOR)
    data: dict[str, Any] = {"call_id": call_id[:100], "caller": mask_contact("phone", caller),
                            "orders": [o["number"] for o in orders], "token_id": asker.token_id}
    if asker.token_name:
        data["token"] = asker.token_name[:100]
    audit_record(actor=asker.actor, action=ORDERS_READ, obj=customer, ip_address=asker.ip, data=data,
                 summary=_("语音导航按来电号码查询了 %(c)s 的工单状态（通话 %(call)s）") % {
                     "c": customer.code, "call": call_id[:100]})
    if not orders:
        return _("您目前没有处理中的工单。")
    return "".join(_("您的工单 %(number)s 当前状态：%(status)s。") % {"number": o["number"],
                                                                  "status": Status(o["status"]).label}
                   for o in orders)


def _act(flow: IvrFlow, node: IvrNode, target: Any, *, request: NextStepIn, reason: str,
         asker: Asker | None) -> Step:
    """The step a choice (or a menu's timeout rule) leads to."""
    action = target.action
    if action == IvrAction.MENU and target.target_node_id:
        sub = _node(flow, key=None, pk=target.target_node_id)
        if sub is not None:
            return _play(sub, reason=reason)
    if action == IvrAction.REPEAT:
        return _play(node, reason=reason)
    if action == IvrAction.ORDER_STATUS:
        return _play(node, reason="order_status", notice=order_status_sentence(request.caller, call_id=request.call_id,
                                                                         asker=asker))
    if action == IvrAction.QUEUE and target.queue is not None and target.queue.is_active:
        return Step(action="queue", reason=reason, prompt=_("正在为您转接人工服务，请稍候。"),
                    queue=target.queue.code)
    if action == IvrAction.TRANSFER and target.number:
        return Step(action="transfer", reason=reason, prompt=_("正在为您转接，请稍候。"), number=target.number)
    if action in (IvrAction.VOICEMAIL, IvrAction.QUEUE):  # a queue stopped since: the caller can still leave word
        return Step(action="voicemail", reason=reason, prompt=_("请在提示音后留言，留言完毕挂机即可。"))
    return Step(action="hangup", reason=reason, prompt=_("感谢您的来电，再见。"))


def _node(flow: IvrFlow, *, key: str | None, pk: int | None = None) -> IvrNode | None:
    qs = IvrNode.objects.filter(flow=flow).select_related("target_node", "queue", "kb_queue").prefetch_related(
        Prefetch("choices", queryset=IvrChoice.objects.select_related("target_node", "queue")))
    return (qs.filter(key=key) if key is not None else qs.filter(pk=pk)).first()


def _closed(flow: IvrFlow, now: datetime) -> Step | None:
    """The out-of-hours or holiday step, when the flow's calendar is closed at `now`."""
    if flow.calendar is None:
        return None
    spec = spec_from_model(flow.calendar)
    if is_open(spec, now):
        return None
    holiday = CalendarDay.objects.filter(calendar=flow.calendar, date=spec.local_date(now),
                                         kind=CalendarDay.Kind.HOLIDAY).exists()
    if holiday:
        message, reason = flow.holiday_prompt or _("节假日期间暂停人工服务。"), "holiday"
    else:
        message, reason = flow.out_of_hours_prompt or _("现在是非工作时间。"), "out_of_hours"
    if flow.closed_action == ClosedAction.VOICEMAIL:
        return Step(action="voicemail", reason=reason,
                    prompt=_join(message, _("请在提示音后留言，留言完毕挂机即可。")))
    return Step(action="hangup", reason=reason, prompt=message)


class NoFlow(Exception):
    """No active flow answers the called number (the PBX keeps its own dialplan)."""


def ivr_next_step(request: NextStepIn, *, flow: IvrFlow | None = None, now: datetime | None = None,
                  asker: Asker | None = None) -> Step:
    """What the PBX does next (docs/telephony.md, "IVR"). `flow`: serve this one whatever the called number and
    whether it is active (the editor's try-out); else the active flow of the called number, or NoFlow. `asker`:
    who is named in the audit row of an order-status lookup."""
    now = now or timezone.now()
    if blacklist_match(request.caller, now=now) is not None:
        return Step(action="reject", reason="blacklisted")
    if flow is None:
        flow = flow_for_number(request.called)
        if flow is None or not flow.is_active:
            raise NoFlow(request.called)
    with translation.override(flow.language):
        return _decide(flow, request, now, asker)


def _decide(flow: IvrFlow, request: NextStepIn, now: datetime, asker: Asker | None) -> Step:
    if not request.node:
        closed = _closed(flow, now)
        if closed is not None:
            return closed
        entry = _node(flow, key=None, pk=flow.entry_id) if flow.entry_id else None
        if entry is None:
            return Step(action="hangup", reason="no_menu", prompt=_("感谢您的来电，再见。"))
        return _play(entry, reason="start")
    node = _node(flow, key=request.node)
    if node is None:  # a menu deleted while the call was in it: start over
        entry = _node(flow, key=None, pk=flow.entry_id) if flow.entry_id else None
        if entry is None:
            return Step(action="hangup", reason="no_menu", prompt=_("感谢您的来电，再见。"))
        return _play(entry, reason="menu_gone")
    if node.ask_kb and request.speech.strip() and not request.digits:
        return _ask_knowledge(flow, node, request, asker)
    if request.digits is None:
        return _play(node, reason="menu", attempt=request.attempt)
    key = request.digits[:1]
    choice = next((c for c in node.choices.all() if c.digit == key), None) if key else None
    if choice is not None:
        return _act(flow, node, choice, request=request, reason="choice", asker=asker)
    if request.attempt < node.retries:
        notice = _("您的输入有误，请重新选择。") if key else _("没有收到您的按键。")
        return _play(node, reason="invalid" if key else "timeout", attempt=request.attempt + 1, notice=notice)
    return _act(flow, node, node, request=request, reason="retries_exhausted", asker=asker)


def _ask_knowledge(flow: IvrFlow, node: IvrNode, request: NextStepIn, asker: Asker | None) -> Step:
    """A question said in a menu that takes them: the knowledge base's spoken answer, then the menu again (the
    caller may ask another or press a key); not confident enough, the menu's queue for people. The question is
    recorded once per call, menu and turn (channel "phone"): a PBX retrying the same request is not counted twice."""
    import hashlib

    from django.core.cache import cache

    from kefu.core.errors import ValidationFailed
    from kefu.knowledge.choices import AskChannel
    from kefu.knowledge.services.bot import bot_ask, spoken_answer

    question = " ".join(request.speech.split())[:500]
    digest = hashlib.sha256(f"{request.call_id}|{node.key}|{request.attempt}|{question}".encode()).hexdigest()
    first_time = cache.add(f"kefu:ivr-kb:{digest}", 1, 6 * 3600)
    try:
        reply = bot_ask(question=question, channel=AskChannel.PHONE, record=first_time)
    except ValidationFailed:  # nothing usable was heard
        return _play(node, reason="menu", attempt=request.attempt)
    if not reply.handoff:
        return _play(node, reason="kb_answer", attempt=request.attempt, notice=spoken_answer(reply))
    if node.kb_queue is not None and node.kb_queue.is_active:
        return Step(action="queue", reason="kb_handoff", prompt=_("正在为您转接人工服务，请稍候。"),
                    queue=node.kb_queue.code)
    return _act(flow, node, node, request=request, reason="kb_handoff", asker=asker)


def try_path(flow: IvrFlow, *, caller: str, keys: Iterable[str], now: datetime | None = None,
             asker: Asker | None = None) -> list[Step]:
    """The steps a caller pressing `keys` in turn would hear ("" = no key in time): the editor's try-out, served
    from the flow as it is, active or not. Stops at the first step that leaves the menus. An order-status lookup
    with a real customer's number is audited with `asker` (the administrator trying it)."""
    request = NextStepIn(call_id="try", caller=caller, called=flow.number)
    steps = [ivr_next_step(request, flow=flow, now=now, asker=asker)]
    for key in keys:
        last = steps[-1]
        if last.action != "play" or len(steps) > 20:
            break
        request = NextStepIn(call_id="try", caller=caller, called=flow.number, node=last.node, digits=key,
                             attempt=last.attempt)
        steps.append(ivr_next_step(request, flow=flow, now=now, asker=asker))
    return steps
