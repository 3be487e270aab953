"""Install the default business calendars (with the 2026 holidays and 调休 days) and SLA policies."""

from django.db import migrations


def install(apps, schema_editor):
    from kefu.tickets.defaults import sla_install_defaults

    sla_install_defaults(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        ("tickets", "0002_slaclock_resumed_at"),
    ]

    operations = [
        # Reversing keeps the rows: policies may already be referenced by work orders.
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
