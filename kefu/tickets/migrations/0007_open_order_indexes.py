"""Indexes for the home pages and counters (kefu.tickets.selectors): open orders by team, category, assignee and
SLA standing are counted from a small partial index without reading the table; "most urgent" walks open orders in
due order; "resolved today" and the daily chart read resolved_at from an index.

Written as SQL (both SQLite and PostgreSQL take partial indexes) so the model's state is unchanged; the open
statuses are those of kefu.tickets.choices.OPEN_STATUSES.
"""

from django.db import migrations

OPEN = "('new', 'assigned', 'in_progress', 'waiting_customer', 'waiting_department', 'reopened')"

INDEXES = {
    "tickets_ticket_open_counts": f"(team_id, category_id, assignee_id, sla_standing) WHERE status IN {OPEN}",
    "tickets_ticket_open_due": f"(sla_due_at) WHERE status IN {OPEN}",
    "tickets_ticket_resolved_at": "(resolved_at)",
}


class Migration(migrations.Migration):
    dependencies = [("tickets", "0006_catalog_defaults")]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON tickets_ticket {definition}",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
