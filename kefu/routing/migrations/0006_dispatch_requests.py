"""The sequence each dispatch request takes a number from (PostgreSQL only): the dispatcher at work sees that
another pass was asked for while it went through the line (kefu/routing/services/acd.py, `routing_dispatch`)."""

from typing import Any

from django.db import migrations


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS routing_dispatch_requests")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS routing_dispatch_requests")


class Migration(migrations.Migration):

    dependencies = [("routing", "0005_acd_line_index")]

    operations = [migrations.RunPython(create, drop)]
