"""Commands out to the PBX named by KEFU_PBX_URL: click-to-dial (the agent's own extension rings first, then the
number) and transfer (the caller's leg to an extension, a number or a queue). The PBX is reached through its
adapter (kefu.telephony.adapters); a PBX that is not configured, unreachable or refuses is an ApplicationError with
a clear message, never a 500. A command that went out is audited; a transfer is also recorded on the call.

Nothing is written before the PBX accepts: there is nothing to roll back on a refusal, and an accepted command
is never lost for a database error after it (the PBX has acted: the audit row follows in its own transaction).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.core.audit import audit_record, lookup_digest
from kefu.core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from kefu.core.masking import mask_phone
from kefu.core.policy import can, can_see, has_right
from kefu.routing.selectors import queue_by_code
from kefu.telephony.adapters.base import PbxError, PbxRefused
from kefu.telephony.adapters.registry import PbxTarget, parse_pbx_url
from kefu.telephony.choices import CallState, CtiEvent
from kefu.telephony.contract import CtiEventIn
from kefu.telephony.models import Call
from kefu.telephony.permissions import TelephonyRight

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 5.0  # seconds: a person is waiting for the answer
_SEPARATORS = re.compile(r"[ \u3000\-().]")  # what people write between digits
_NUMBER = re.compile(r"^\+?[0-9*#]{3,32}$")
_EXTENSION = re.compile(r"^[0-9*#+]{1,20}$")
_QUEUE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
IN_PROGRESS = (CallState.TALKING, CallState.HELD)


class PbxNotConfigured(ApplicationError):
    status = 409
    code = "pbx_not_configured"


class PbxUnavailable(ApplicationError):
    status = 409
    code = "pbx_unavailable"


class PbxRefusedCommand(ApplicationError):
    status = 409
    code = "pbx_refused"


def pbx_target() -> PbxTarget | None:
    """The PBX of KEFU_PBX_URL, or None when unset or unusable (logged)."""
    url = getattr(settings, "KEFU_PBX_URL", "") or ""
    if not url:
        return None
    try:
        return parse_pbx_url(url)
    except ValueError as exc:
        log.warning("KEFU_PBX_URL is not usable: %s", exc)
        return None


def dial_available(user: Any) -> bool:
    """Whether to offer 拨打 to `user`: a PBX is configured, they may dial and have an extension."""
    return bool(getattr(user, "extension", "")) and has_right(user, TelephonyRight.DIAL) and pbx_target() is not None


def transfer_available(user: Any, call: Call) -> bool:
    """Whether to offer 转接 on `call`: it is answered and not over, the PBX named its caller's leg, and `user`
    may transfer it."""
    return (call.state in IN_PROGRESS and bool(call.pbx_channel) and pbx_target() is not None
            and can(user, TelephonyRight.TRANSFER, call))


def _configured() -> PbxTarget:
    url = getattr(settings, "KEFU_PBX_URL", "") or ""
    if not url:
        raise PbxNotConfigured(_("未配置电话系统（KEFU_PBX_URL），无法拨号或转接"))
    try:
        return parse_pbx_url(url)
    except ValueError as exc:
        raise PbxNotConfigured(_("电话系统地址（KEFU_PBX_URL）有误：%(reason)s") % {"reason": exc}) from None


def _send(target: PbxTarget, command: str, **arguments: str) -> str:
    try:
        with target.session(timeout=COMMAND_TIMEOUT) as pbx:
            reference: str = getattr(pbx, command)(**arguments)
            return reference
    except PbxRefused as exc:
        raise PbxRefusedCommand(_("电话系统拒绝了操作：%(reason)s") % {"reason": exc.reason}) from None
    except PbxError as exc:
        log.warning("PBX %s: %s failed: %s", target, command, exc)
        raise PbxUnavailable(_("电话系统未接通，请稍后再试（%(reason)s）") % {"reason": exc}) from None


def _number(value: str) -> str:
    number = _SEPARATORS.sub("", str(value or ""))
    if not number:
        raise ValidationFailed(_("请填写要拨打的号码"), details={"field": "number"})
    if not _NUMBER.match(number):
        raise ValidationFailed(_("号码只能包含数字、开头的 + 和 * #（3 到 32 位）"), details={"field": "number"})
    return number


@dataclass(frozen=True)
class Dialled:
    number: str
    extension: str
    reference: str  # the PBX's answer (AMI's message, FreeSWITCH's job id)


def call_dial(*, actor: Any, number: str, customer: Any = None) -> Dialled:
    """Click-to-dial: the PBX rings the actor's own extension; once they pick up it calls `number`. `customer` (the
    one being called, optional) is named in the audit row. Audited as `call.dialled` (the number masked, with its
    lookup digest)."""
    if not has_right(actor, TelephonyRight.DIAL):
        raise PermissionDenied(_("您没有权限拨打电话"))
    number = _number(number)
    extension = getattr(actor, "extension", "")
    if not extension:
        raise ValidationFailed(_("您还没有分机号：请管理员在员工资料中填写"), details={"field": "extension"})
    target = _configured()
    reference = _send(target, "originate", extension=extension, number=number, caller_id=target.caller_id)
    with transaction.atomic():
        audit_record(actor=actor, action="call.dialled", obj=customer, object_type="" if customer else "telephony.dial",
                     summary=_("拨打 %(n)s（分机 %(e)s）") % {"n": mask_phone(number), "e": extension},
                     data={"number": mask_phone(number), "number_digest": lookup_digest("phone", number),
                           "extension": extension, "reference": reference[:200]})
    return Dialled(number=number, extension=extension, reference=reference)


@dataclass(frozen=True)
class Transferred:
    call: Call
    to: str
    queue: str  # the queue's code when `to` is a queue
    reference: str


def _destination(to: str) -> tuple[str, str]:
    """(what the PBX dials, the queue code or "")."""
    value = str(to or "").strip()
    if not value:
        raise ValidationFailed(_("请填写转接目标：分机号、电话号码或队列代码"), details={"field": "to"})
    number = _SEPARATORS.sub("", value)
    if _EXTENSION.match(number):
        return number, ""
    value = value.lower()
    if not _QUEUE_CODE.match(value):
        raise ValidationFailed(_("转接目标只能是分机号、电话号码或队列代码"), details={"field": "to"})
    queue = queue_by_code(value)
    if queue is None:
        raise ValidationFailed(_("没有这个队列：%(code)s") % {"code": value}, details={"field": "to"})
    if queue.kind != "phone":
        raise ValidationFailed(_("队列 %(code)s 不是电话队列") % {"code": value}, details={"field": "to"})
    return value, value


def call_transfer(*, actor: Any, call: Call, to: str, now: datetime | None = None) -> Transferred:
    """Blind transfer of an answered call: the caller's leg goes to `to` (an extension, a number, or a phone queue's
    code, dialled in the PBX's context) and the agent's leg ends. Only the call's agent, or a lead who sees the
    call, may. Audited as `call.transferred`, and recorded on the call as a `transferred` event."""
    from kefu.telephony.services import PBX_ACTOR, cti_event_record

    if not has_right(actor, TelephonyRight.TRANSFER):
        raise PermissionDenied(_("您没有权限转接电话"))
    if not can(actor, TelephonyRight.TRANSFER, call):
        if can_see(actor, call):
            raise PermissionDenied(_("只有这通电话的坐席或其组长可以转接"))
        raise NotFound(_("通话不存在"))
    destination, queue_code = _destination(to)
    if call.state not in IN_PROGRESS:
        raise ApplicationError(_("只能转接已接通、尚未结束的通话"), code="call_not_in_progress", status=409)
    if not call.pbx_channel:
        raise ApplicationError(_("电话系统没有报告这通电话的通道，无法从 Kefu 转接"), code="no_pbx_channel", status=409)
    reference = _send(_configured(), "transfer", channel=call.pbx_channel, to=destination)
    with transaction.atomic():
        recorded = cti_event_record(actor=PBX_ACTOR, now=now, data=CtiEventIn(
            call_id=call.call_id, event=CtiEvent.TRANSFERRED, at=now or timezone.now()))
        audit_record(actor=actor, action="call.transferred", obj=call,
                     summary=_("转接到 %(to)s") % {"to": destination},
                     data={"to": destination, "queue": queue_code, "reference": reference[:200]})
    return Transferred(call=recorded.call, to=destination, queue=queue_code, reference=reference)


@dataclass(frozen=True)
class PutThrough:
    ok: bool
    code: str  # "" when sent; else why not (the error's code)
    message: str
    reference: str = ""


def call_put_through(*, call_id: str, agent: Any, contact_id: int | None = None) -> PutThrough:
    """Routing gave a waiting call to `agent` (they accepted its offer, committed): tell the PBX to send the
    caller's leg to the agent's extension. Runs after the accept's commit; never raises. Sent: audited as
    `call.put_through`. Not sent (no PBX configured, no extension, the PBX did not name the caller's leg, the
    caller hung up, the PBX refused or cannot be reached): audited as `call.put_through_failed` and announced
    to the agent (`call.put_through_failed`, a notice), since the call may still ring them through the PBX's
    own queue."""
    call = Call.objects.select_related("queue").filter(call_id=call_id).first()
    extension = str(getattr(agent, "extension", "") or "")
    failure: ApplicationError | None = None
    reference = ""
    if call is None:
        failure = ApplicationError(_("找不到这通电话"), code="no_call", status=409)
    elif call.ended_at is not None:
        failure = ApplicationError(_("来电已挂断"), code="call_ended", status=409)
    elif call.state in IN_PROGRESS:
        return PutThrough(ok=True, code="already_answered", message=_("电话已接通"))  # the PBX was quicker
    elif not extension:
        failure = ApplicationError(_("您还没有分机号：请管理员在员工资料中填写"), code="no_extension", status=409)
    elif not call.pbx_channel:
        failure = ApplicationError(_("电话系统没有报告这通电话的通道，无法从 Kefu 转接"), code="no_pbx_channel",
                                   status=409)
    if failure is None:
        try:
            reference = _send(_configured(), "transfer", channel=call.pbx_channel, to=extension)
        except ApplicationError as exc:
            failure = exc
        except Exception as exc:  # a bug in an adapter must not lose the record of the accept
            log.exception("putting call %s through to %s failed", call_id, extension)
            failure = PbxUnavailable(_("电话系统未接通，请稍后再试（%(reason)s）") % {"reason": type(exc).__name__})
    return _record_put_through(call, call_id=call_id, agent=agent, extension=extension, contact_id=contact_id,
                               failure=failure, reference=reference)


def _record_put_through(call: Call | None, *, call_id: str, agent: Any, extension: str, contact_id: int | None,
                        failure: ApplicationError | None, reference: str) -> PutThrough:
    from kefu.telephony import events

    data: dict[str, Any] = {"call_id": call_id, "extension": extension, "contact_id": contact_id}
    with transaction.atomic():
        if failure is None:
            audit_record(actor=agent, action="call.put_through", obj=call,
                         summary=_("来电转到分机 %(e)s") % {"e": extension},
                         data={**data, "reference": reference[:200]})
            return PutThrough(ok=True, code="", message=_("已转到分机 %(e)s") % {"e": extension},
                              reference=reference)
        log.warning("call %s not put through to %s: %s", call_id, getattr(agent, "username", agent), failure.message)
        audit_record(actor=agent, action="call.put_through_failed", obj=call, object_type="telephony.call",
                     object_id=call_id if call is None else "",
                     summary=_("来电未能转到分机：%(reason)s") % {"reason": failure.message},
                     data={**data, "code": failure.code, "error": str(failure.message)[:300]})
        if call is not None:
            events.announce_put_through_failed(call, agent_id=agent.pk, extension=extension, code=failure.code,
                                               error=str(failure.message)[:300])
    return PutThrough(ok=False, code=failure.code, message=str(failure.message))
