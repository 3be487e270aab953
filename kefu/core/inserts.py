"""Inserting many rows in one statement, with what the database gave them back: for the hot paths that write
rows in bulk inside a short transaction (the routing dispatcher's offers, the outbox's events).

Django's `bulk_create` compiles its statement anew each time (on PostgreSQL as arrays unnested: each value is
inspected to pick the array's type) and cannot say which rows an `ON CONFLICT DO NOTHING` skipped. `insert_rows`
writes `INSERT … VALUES (…), (…) [ON CONFLICT DO NOTHING] RETURNING id, key` with each value prepared by its field
as Django would, and marks the instances saved. On both databases (SQLite has RETURNING since 3.35).
"""

# ruff: noqa: S608 - the statement is put together from the model's table and column names; values are bound

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model


def insert_rows(objs: Sequence[Model], fields: Sequence[str], *, ignore_conflicts: bool = False,
                key: str | None = None) -> list[Model]:
    """Insert `objs` (unsaved instances of one model) with the values of `fields` (attribute names: "agent_id",
    "payload"); each gets its primary key. With `ignore_conflicts`, a row that breaks a unique constraint is
    skipped (`ON CONFLICT DO NOTHING`) and `key`, a field whose value is different in every row, says which were
    written. → the instances written, in the order given."""
    if not objs:
        return []
    if ignore_conflicts and key is None:
        raise ValueError("insert_rows(ignore_conflicts=True) needs a key field to tell the rows written")
    model = type(objs[0])
    meta = model._meta
    alias = router.db_for_write(model)
    connection = connections[alias]
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    key_field = meta.get_field(key) if key else None
    returning = [pk.column] + ([key_field.column] if key_field is not None else [])
    per_row = len(columns)
    size = max(1, connection.ops.bulk_batch_size(columns, objs) if connection.vendor == "sqlite" else 1000)
    written: dict[Any, Any] = {}
    ordered: list[Any] = []
    for start in range(0, len(objs), size):
        chunk = objs[start:start + size]
        row = "(" + ", ".join(["%s"] * per_row) + ")"
        sql = (f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "
               f"({', '.join(connection.ops.quote_name(f.column) for f in columns)}) "
               f"VALUES {', '.join([row] * len(chunk))}"
               f"{' ON CONFLICT DO NOTHING' if ignore_conflicts else ''} "
               f"RETURNING {', '.join(connection.ops.quote_name(c) for c in returning)}")
        params = [field.get_db_prep_save(getattr(obj, field.attname), connection)
                  for obj in chunk for field in columns]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if key_field is None:
            ordered += [r[0] for r in rows]
        else:
            for r in rows:
                written[r[1]] = r[0]
    done: list[Model] = []
    for index, obj in enumerate(objs):
        if key_field is None:
            obj.pk = ordered[index]
        else:
            value = key_field.get_db_prep_save(getattr(obj, key_field.attname), connection)
            if value not in written:
                continue
            obj.pk = written[value]
        obj._state.adding = False
        obj._state.db = alias
        done.append(obj)
    return done
