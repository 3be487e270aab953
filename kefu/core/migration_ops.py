"""Migration operations of our own: indexes only PostgreSQL has, skipped on SQLite.

`TrigramIndex` makes `icontains` searches indexable on PostgreSQL. Django writes `field__icontains=q` as
`UPPER(field) LIKE UPPER('%q%')`, so the GIN index is built on `UPPER(field)` with pg_trgm's operator class;
the planner then answers a search of three or more characters from the index instead of reading every row.
pg_trgm ships with PostgreSQL and is a trusted extension (a database owner may create it). Where it cannot be
created, the migration says so and goes on: searches still work, by scanning.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)


def _ensure_pg_trgm(schema_editor: Any) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            return True
    try:
        with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint: a refusal aborts nothing else
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        logger.warning("pg_trgm could not be created (%s): text search will scan instead of using an index", error)
        return False
    return True


class TrigramIndex(Operation):
    """A GIN trigram index on UPPER(column) of `table`, on PostgreSQL only (a no-op elsewhere)."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, *, table: str, column: str, name: str) -> None:
        self.table, self.column, self.name = table, column, name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {"table": self.table, "column": self.column, "name": self.name})

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # an index Django's model state does not describe

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql" or not _ensure_pg_trgm(schema_editor):
            return
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(self.name)} ON {quote(self.table)} "
            f"USING gin (UPPER({quote(self.column)}) gin_trgm_ops)"
        )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(self.name)}")

    def describe(self) -> str:
        return f"Trigram index {self.name} on UPPER({self.table}.{self.column}) (PostgreSQL only)"
