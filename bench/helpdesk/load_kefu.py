"""Loads Kefu's benchmark database: demo staff, teams, categories and SLA policies from kefu.demo, then N
customers (with a mobile phone each) and M work orders with messages and history by INSERT … SELECT.

Run with Kefu's interpreter: `python bench/helpdesk/load_kefu.py ORDERS CUSTOMERS` (DJANGO_SETTINGS_MODULE and
KEFU_DATABASE_URL set by the driver). Prints the counts as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu_settings")

import django

django.setup()

import volume as v  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402


def counts() -> dict[str, int]:
    from kefu.customers.models import Customer
    from kefu.tickets.models import Ticket, TicketMessage

    return {"orders": Ticket.objects.count(), "customers": Customer.objects.count(),
            "messages": TicketMessage.objects.count()}


def load(orders: int, customers: int) -> dict[str, int]:
    from kefu.accounts.choices import Role
    from kefu.demo import builder, names
    from kefu.tickets.defaults import sla_install_defaults
    from kefu.tickets.models import Category

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        users = builder._ensure_staff()
        sla_install_defaults()
        builder._ensure_categories()
    assignable = [u for u in users.values() if u.role in (Role.AGENT, Role.TEAM_LEAD) and u.team_id]
    assert len(assignable) == v.ASSIGNABLE, len(assignable)
    agent_ids = [u.pk for u in assignable]
    agent_teams = [u.team_id for u in assignable]
    cats = {t: list(Category.objects.filter(ticket_type=t).values_list("pk", flat=True))
            for t in ("inquiry", "repair", "complaint")}
    subjects = {t: names.SUBJECTS[t] for t in names.SUBJECTS}
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.2026)")
        # Customers: code B0000001…, a person's name, tier and VIP mix, one mobile phone each.
        cur.execute(
            """
            INSERT INTO customers_customer (id, created_at, updated_at, code, name, kind, company, tier, is_vip,
                                            id_number, notes, version)
            SELECT g, now() - (random() * 900 || ' days')::interval, now(), 'B' || lpad(g::text, 7, '0'),
                   (%(surnames)s::text[])[1 + floor(random() * %(ns)s)::int]
                     || (%(given)s::text[])[1 + floor(random() * %(ng)s)::int],
                   'person', '',
                   (CASE WHEN random() < 0.05 THEN 'A' WHEN random() < 0.25 THEN 'B' ELSE 'C' END),
                   random() < 0.02, '', '', 1
            FROM generate_series(1, %(customers)s) g
            """,
            {"surnames": names.SURNAMES, "ns": len(names.SURNAMES), "given": names.GIVEN, "ng": len(names.GIVEN),
             "customers": customers})
        cur.execute(
            """
            INSERT INTO customers_contactpoint (kind, value, normalized, label, is_primary, customer_id)
            SELECT 'mobile', '13' || lpad(mod(g * 7919, 1000000000)::text, 9, '0'),
                   '13' || lpad(mod(g * 7919, 1000000000)::text, 9, '0'), '', true, g
            FROM generate_series(1, %(customers)s) g
            """, {"customers": customers})
        status = v.case_sql("r_status", v.STATUS_MIX)
        ttype = v.case_sql("r_type", v.TYPE_MIX)
        priority = v.case_sql("r_pri", v.PRIORITY_MIX)
        channel = v.case_sql("r_ch", v.CHANNEL_MIX)
        # Work orders, numbered as the services number them (GD + local date + id).
        cur.execute(
            f"""
            WITH draws AS (
                SELECT g AS id, random() AS r_status, random() AS r_type, random() AS r_pri, random() AS r_ch,
                       random() AS r_ag, random() AS r_subj, random() AS r_cat, random() AS r_sla,
                       {v.customer_sql('g', customers)} AS k, random() AS r_age
                FROM generate_series(1, %(orders)s) g
            ), shaped AS (
                SELECT d.*, {status} AS status, {ttype} AS ticket_type, {priority} AS priority,
                       {channel} AS channel, 1 + floor(d.r_ag * %(na)s)::int AS ag,
                       now() - (d.r_age * (CASE WHEN d.r_status < 0.10 THEN {v.OPEN_DAYS} ELSE {v.HISTORY_DAYS}
                                          END) || ' days')::interval AS created
                FROM draws d
            )
            INSERT INTO tickets_ticket (id, created_at, updated_at, number, subject, description, ticket_type,
                priority, channel, status, escalation_level, sla_standing, sla_due_at, first_responded_at,
                resolved_at, closed_at, reopen_count, external_ref, version, assignee_id, category_id,
                created_by_id, customer_id, first_contact_owner_id, team_id)
            SELECT s.id, s.created, s.created + interval '2 hours',
                   'GD' || to_char(s.created AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || lpad(s.id::text, 7, '0'),
                   (%(subjects)s::jsonb -> s.ticket_type ->> floor(s.r_subj * jsonb_array_length(
                        %(subjects)s::jsonb -> s.ticket_type))::int),
                   %(descriptions)s::jsonb ->> s.ticket_type,
                   s.ticket_type, s.priority, s.channel, s.status, 0,
                   (CASE WHEN s.status IN ('resolved', 'closed') THEN 'none'
                         WHEN s.r_sla < 0.7 THEN 'ok' WHEN s.r_sla < 0.8 THEN 'warning' ELSE 'breached' END),
                   (CASE WHEN s.status IN ('resolved', 'closed') THEN NULL
                         ELSE s.created + interval '1 day' END),
                   (CASE WHEN s.status = 'new' THEN NULL ELSE s.created + interval '12 minutes' END),
                   (CASE WHEN s.status IN ('resolved', 'closed') THEN s.created + interval '1 day' END),
                   (CASE WHEN s.status = 'closed' THEN s.created + interval '3 days' END),
                   (CASE WHEN s.status = 'reopened' THEN 1 ELSE 0 END), '', 3,
                   (CASE WHEN s.status = 'new' THEN NULL ELSE (%(agents)s::bigint[])[s.ag] END),
                   (CASE s.ticket_type
                        WHEN 'inquiry' THEN (%(cat_inq)s::bigint[])[1 + floor(s.r_cat * %(n_inq)s)::int]
                        WHEN 'repair' THEN (%(cat_rep)s::bigint[])[1 + floor(s.r_cat * %(n_rep)s)::int]
                        WHEN 'complaint' THEN (%(cat_com)s::bigint[])[1 + floor(s.r_cat * %(n_com)s)::int]
                    END),
                   (%(agents)s::bigint[])[s.ag], s.k, (%(agents)s::bigint[])[s.ag], (%(teams)s::bigint[])[s.ag]
            FROM shaped s
            """,
            {"orders": orders, "na": len(agent_ids), "agents": agent_ids, "teams": agent_teams,
             "subjects": json.dumps(subjects, ensure_ascii=False),
             "descriptions": json.dumps(names.DESCRIPTIONS, ensure_ascii=False),
             "cat_inq": cats["inquiry"], "n_inq": len(cats["inquiry"]), "cat_rep": cats["repair"],
             "n_rep": len(cats["repair"]), "cat_com": cats["complaint"], "n_com": len(cats["complaint"])})
        # Messages: the customer's message, replies, notes (1..5 per order, as the peer's follow-ups).
        cur.execute(
            f"""
            INSERT INTO tickets_ticketmessage (kind, body, channel, created_at, author_id, ticket_id)
            SELECT (CASE WHEN m = 1 THEN 'customer' WHEN mod(m, 3) = 0 THEN 'note' ELSE 'reply' END),
                   (CASE WHEN m = 1 THEN t.description WHEN mod(m, 3) = 0 THEN (%(notes)s::text[])[1 + mod(m, %(nn)s)]
                         ELSE (%(replies)s::text[])[1 + mod(m, %(nr)s)] END),
                   (CASE WHEN mod(m, 3) = 0 THEN '' ELSE t.channel END),
                   t.created_at + (m * 10 || ' minutes')::interval,
                   (CASE WHEN m = 1 THEN NULL ELSE t.first_contact_owner_id END), t.id
            FROM tickets_ticket t, {v.messages_sql('t')} m
            """,
            {"notes": names.NOTES, "nn": len(names.NOTES), "replies": names.REPLIES, "nr": len(names.REPLIES)})
        # History: created, and the last status change for orders past "new".
        cur.execute(
            """
            INSERT INTO tickets_ticketevent (kind, from_status, to_status, data, created_at, actor_id, actor_system,
                                             ticket_id)
            SELECT 'created', '', 'new', '{}'::jsonb, t.created_at, t.created_by_id, '', t.id FROM tickets_ticket t
            """)
        cur.execute(
            """
            INSERT INTO tickets_ticketevent (kind, from_status, to_status, data, created_at, actor_id, actor_system,
                                             ticket_id)
            SELECT 'status', 'new', t.status, '{}'::jsonb, t.updated_at, t.assignee_id, '', t.id
            FROM tickets_ticket t WHERE t.status <> 'new'
            """)
        for table in ("customers_customer", "tickets_ticket"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"kefu: loaded in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return counts()


if __name__ == "__main__":
    print(json.dumps(load(int(sys.argv[1]), int(sys.argv[2]))))
