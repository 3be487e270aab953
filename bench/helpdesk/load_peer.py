"""Loads django-helpdesk's benchmark database with the same volume and distributions as Kefu's (volume.py):
31 staff users (18 own orders), one queue per order type, M tickets whose submitters are N distinct customer
e-mail addresses (django-helpdesk has no customer model), 1..5 follow-ups per ticket and the status change.

Run with the peer's interpreter: `python bench/helpdesk/load_peer.py ORDERS CUSTOMERS`. Prints the counts.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")

import django

django.setup()

import volume as v  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

PASSWORD = "kefu-demo-2026"
# The same subjects as Kefu's demo, so titles and row widths match.
SUBJECTS = {
    "inquiry": ["咨询物业费缴纳方式", "询问停车位办理流程", "咨询装修申请所需材料", "询问快递代收时间",
                "咨询门禁卡补办", "询问小区开放时间", "咨询电梯年检安排", "询问发票开具", "咨询水电费账单明细"],
    "complaint": ["楼上噪音扰民", "保洁不及时，垃圾堆放", "维修人员迟到未联系", "电梯经常故障",
                  "保安态度不好", "停车场收费有误", "投诉漏水多次未修好", "快递丢失无人处理"],
    "repair": ["卫生间漏水", "厨房下水道堵塞", "客厅灯不亮", "空调不制冷", "门锁损坏", "窗户关不严",
               "热水器不出热水", "墙面渗水发霉", "电梯按键失灵", "楼道灯损坏"],
    "suggestion": ["建议增加儿童游乐设施", "建议延长健身房开放时间", "建议增设充电桩", "建议优化缴费小程序"],
    "praise": ["表扬维修师傅认真负责", "感谢客服耐心解答", "表扬保安拾金不昧", "感谢工程部及时处理"],
    "other": ["更改联系电话", "业主信息变更", "遗失物品登记", "活动报名"],
}
DESCRIPTION = "客户来电反映相关问题，希望尽快处理并回电说明。白天家中有人。"
REPLIES = ["您好，已收到您的反馈，我们会尽快为您处理。", "您好，已安排相关人员跟进，预计今天内与您联系。",
           "您好，问题已处理完毕，请您确认是否满意。", "感谢您的耐心等待，师傅已经上门处理完毕。",
           "您好，相关流程已通过短信发送给您，请查收。"]
QUEUES = [("inquiry", "咨询"), ("repair", "报修"), ("complaint", "投诉"), ("suggestion", "建议"),
          ("praise", "表扬"), ("other", "其他")]
STATUS_TITLE = {1: "Open", 2: "Reopened", 3: "Resolved", 4: "Closed"}


def counts() -> dict[str, int]:
    from helpdesk.models import FollowUp, Ticket

    with connection.cursor() as cur:
        cur.execute("SELECT count(DISTINCT submitter_email) FROM helpdesk_ticket")
        customers = cur.fetchone()[0]
    return {"orders": Ticket.objects.count(), "customers": customers, "messages": FollowUp.objects.count()}


def load(orders: int, customers: int) -> dict[str, int]:
    from helpdesk.models import Queue

    call_command("migrate", verbosity=0)
    password = make_password(PASSWORD)
    with transaction.atomic():
        staff = []
        for n in range(v.STAFF):
            username = "admin" if n == 0 else f"staff{n}"
            user = User.objects.filter(username=username).first() or User(username=username)
            user.email, user.is_staff, user.is_superuser = f"{username}@helpdesk.local", True, n == 0
            user.password = password
            user.save()  # django-helpdesk's signal creates the UserSettings row
            staff.append(user)
        queues = {}
        for slug, title in QUEUES:
            queues[slug], _ = Queue.objects.get_or_create(slug=slug, defaults={"title": title})
    agent_ids = [u.pk for u in staff[1:1 + v.ASSIGNABLE]]
    queue_ids = {slug: q.pk for slug, q in queues.items()}
    started = time.monotonic()
    status = v.case_sql("r_status", v.STATUS_MIX, v.PEER_STATUS)
    ttype = v.case_sql("r_type", v.TYPE_MIX)
    priority = v.case_sql("r_pri", v.PRIORITY_MIX, v.PEER_PRIORITY)
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.2026)")
        cur.execute(
            f"""
            WITH draws AS (
                SELECT g AS id, random() AS r_status, random() AS r_type, random() AS r_pri, random() AS r_ch,
                       random() AS r_ag, random() AS r_subj, random() AS r_cat, random() AS r_sla,
                       {v.customer_sql('g', customers)} AS k, random() AS r_age
                FROM generate_series(1, %(orders)s) g
            ), shaped AS (
                SELECT d.*, {status} AS status, {ttype} AS ticket_type, {priority} AS priority,
                       1 + floor(d.r_ag * %(na)s)::int AS ag,
                       now() - (d.r_age * (CASE WHEN d.r_status < 0.10 THEN {v.OPEN_DAYS} ELSE {v.HISTORY_DAYS}
                                          END) || ' days')::interval AS created
                FROM draws d
            )
            INSERT INTO helpdesk_ticket (id, title, created, modified, submitter_email, status, on_hold,
                description, resolution, priority, due_date, last_escalation, assigned_to_id, queue_id, secret_key)
            SELECT s.id,
                   (%(subjects)s::jsonb -> s.ticket_type ->> floor(s.r_subj * jsonb_array_length(
                        %(subjects)s::jsonb -> s.ticket_type))::int),
                   s.created, s.created + interval '2 hours', 'customer' || s.k || '@example.cn', s.status, false,
                   %(description)s, (CASE WHEN s.status IN (3, 4) THEN %(resolution)s END), s.priority,
                   NULL, NULL,
                   (CASE WHEN s.status = 1 AND s.r_status < 0.02 THEN NULL ELSE (%(agents)s::int[])[s.ag] END),
                   (%(queues)s::jsonb ->> s.ticket_type)::int, gen_random_uuid()::text
            FROM shaped s
            """,
            {"orders": orders, "na": len(agent_ids), "agents": agent_ids,
             "subjects": json.dumps(SUBJECTS, ensure_ascii=False), "description": DESCRIPTION,
             "resolution": REPLIES[2], "queues": json.dumps(queue_ids)})
        # Follow-ups: "Ticket Opened", then replies; the last one of a non-open ticket records the status change.
        cur.execute(
            f"""
            INSERT INTO helpdesk_followup (date, title, comment, public, new_status, ticket_id, user_id,
                                           message_id, time_spent, email_recipients)
            SELECT t.created + (m * 10 || ' minutes')::interval,
                   (CASE WHEN m = 1 THEN 'Ticket Opened' ELSE 'Comment' END),
                   (CASE WHEN m = 1 THEN t.description ELSE (%(replies)s::text[])[1 + mod(m, %(nr)s)] END),
                   mod(m, 3) <> 0,
                   (CASE WHEN m = 1 + mod(t.id, 5) AND t.status <> 1 THEN t.status END),
                   t.id, (CASE WHEN m = 1 THEN NULL ELSE t.assigned_to_id END), NULL, NULL, NULL
            FROM helpdesk_ticket t, {v.messages_sql('t')} m
            """, {"replies": REPLIES, "nr": len(REPLIES)})
        cur.execute(
            """
            INSERT INTO helpdesk_ticketchange (field, old_value, new_value, followup_id)
            SELECT 'Status', 'Open', (%(titles)s::jsonb ->> f.new_status::text), f.id
            FROM helpdesk_followup f WHERE f.new_status IS NOT NULL
            """, {"titles": json.dumps({str(k): t for k, t in STATUS_TITLE.items()})})
        cur.execute("SELECT setval(pg_get_serial_sequence('helpdesk_ticket', 'id'), "
                    "(SELECT max(id) FROM helpdesk_ticket))")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"peer: loaded in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return counts()


if __name__ == "__main__":
    print(json.dumps(load(int(sys.argv[1]), int(sys.argv[2]))))
