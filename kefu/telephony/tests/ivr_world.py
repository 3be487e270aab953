"""A hotline's voice menus for the IVR tests: a main menu (1 order status, 2 an agent, 3 voicemail, 4 after-sales,
0 repeat; silence → an agent) and an after-sales menu (1 transfer to the repair line, * back; silence → hang up),
open 09:00–18:00 on weekdays, closed on 2027-01-01."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kefu.core.calendar_admin import CalendarData, DayData, calendar_create, calendar_day_set
from kefu.routing.services import QueueData, queue_create
from kefu.telephony.ivr_services import (
    ChoiceData,
    FlowData,
    NodeData,
    TargetData,
    choice_set,
    flow_create,
    flow_update,
    node_create,
    node_update,
)
from kefu.telephony.models import IvrFlow

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
MONDAY_20 = datetime(2026, 12, 7, 20, 0, tzinfo=SHANGHAI)
NEW_YEAR_10 = datetime(2027, 1, 1, 10, 0, tzinfo=SHANGHAI)
HOTLINE_NUMBER = "4008001234"
MAIN_PROMPT = "您好，欢迎致电客服热线。查询工单请按1，人工服务请按2，留言请按3，售后维修请按4，重听请按0。"


def flow_settings(flow: IvrFlow, **changes: Any) -> FlowData:
    values = {"name": flow.name, "number": flow.number, "calendar_id": flow.calendar_id, "language": flow.language,
              "out_of_hours_prompt": flow.out_of_hours_prompt, "holiday_prompt": flow.holiday_prompt,
              "closed_action": flow.closed_action, "entry": flow.entry.key if flow.entry else "",
              "is_active": flow.is_active}
    values.update(changes)
    return FlowData(**values)


def build_hotline(admin: Any, team: Any = None, *, active: bool = True) -> IvrFlow:
    queue_create(actor=admin, data=QueueData(code="hotline", name="服务热线", team=team))
    week = [[["09:00", "18:00"]]] * 5 + [[], []]
    calendar = calendar_create(actor=admin, data=CalendarData(name="热线日历", week=week))
    calendar_day_set(actor=admin, calendar=calendar, data=DayData(date=date(2027, 1, 1), kind="holiday",
                                                                  name="元旦"))
    flow = flow_create(actor=admin, data=FlowData(name="服务热线导航", number=HOTLINE_NUMBER))
    flow = flow_update(actor=admin, flow=flow, expected_version=flow.version, data=flow_settings(
        flow, calendar_id=calendar.pk,
        out_of_hours_prompt="您好，现在是非工作时间，我们的工作时间是工作日九点到十八点。",
        holiday_prompt="节日快乐，节假日期间人工服务暂停。"))
    main = flow.entry
    main = node_update(actor=admin, node=main, expected_version=flow.version, data=NodeData(
        key="main", name="主菜单", prompt=MAIN_PROMPT, fallback=TargetData(action="queue", queue="hotline")))
    flow.refresh_from_db()
    after = node_create(actor=admin, flow=flow, expected_version=flow.version, data=NodeData(
        key="after-sales", name="售后维修", prompt="报修请按1，返回上一级请按星号。", timeout_seconds=4,
        retries=1, fallback=TargetData(action="hangup")))
    choices = [
        (main, "1", TargetData(action="order_status"), "查询工单"),
        (main, "2", TargetData(action="queue", queue="hotline"), "人工服务"),
        (main, "3", TargetData(action="voicemail"), "留言"),
        (main, "4", TargetData(action="menu", node="after-sales"), "售后维修"),
        (main, "0", TargetData(action="repeat"), "重听"),
        (after, "1", TargetData(action="transfer", number="020-8888 6666"), "报修专线"),
        (after, "*", TargetData(action="menu", node="main"), "返回"),
    ]
    for node, digit, target, label in choices:
        flow.refresh_from_db()
        choice_set(actor=admin, node=node, expected_version=flow.version,
                   data=ChoiceData(digit=digit, target=target, label=label))
    flow.refresh_from_db()
    if active:
        flow = flow_update(actor=admin, flow=flow, expected_version=flow.version,
                           data=flow_settings(flow, is_active=True))
    return flow
