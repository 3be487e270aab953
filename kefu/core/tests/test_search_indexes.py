"""Text search can use an index on PostgreSQL: the trigram indexes exist after migrating, and the search of the
work-order list (one filter for the web list, the API and the export) is written so the planner can use them
(each arm of its OR on its own index), which a join in the OR would prevent. On SQLite the operation is a no-op
and searches scan."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kefu.core.migration_ops import TrigramIndex
from kefu.tickets.selectors import TicketFilter, filter_tickets

TRIGRAM_INDEXES = {"tickets_ticket_subject_trgm", "customers_customer_name_trgm", "customers_customer_company_trgm"}

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's; SQLite searches by scanning"
)


def _plan(qs: Any) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        # a tiny test table is always cheaper to read whole: rule out the whole-table paths, so the plan shows
        # whether the search's own conditions can be answered from indexes
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@on_postgresql
@pytest.mark.django_db
def test_the_trigram_indexes_exist() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [list(TRIGRAM_INDEXES)])
        assert {row[0] for row in cursor.fetchall()} == TRIGRAM_INDEXES


@on_postgresql
def test_the_workspace_search_can_use_the_indexes(agent: Any, manager: Any) -> None:
    qs = filter_tickets(manager, TicketFilter(view="all", q="冰箱异响"))
    plan = _plan(qs.order_by())
    assert "tickets_ticket_subject_trgm" in plan, plan
    assert "customers_customer" not in plan, plan  # the customer arm is an id list, not a join


@on_postgresql
def test_the_api_search_can_use_the_indexes(manager: Any) -> None:
    plan = _plan(filter_tickets(manager, TicketFilter(q="EXT-2026-001")).order_by())
    assert "tickets_ticket_subject_trgm" in plan, plan
    assert "tickets_tic_externa_7983cd_idx" in plan, plan


def test_the_operation_is_described_and_deconstructs() -> None:
    op = TrigramIndex(table="t", column="c", name="t_c_trgm")
    assert op.deconstruct() == ("TrigramIndex", [], {"table": "t", "column": "c", "name": "t_c_trgm"})
    assert "PostgreSQL only" in op.describe()


@on_postgresql
def test_a_term_too_short_for_trigrams_keeps_off_the_index(manager: Any) -> None:
    # the index would hand back every row for "漏水": even when told to avoid reading the table, the plan reads it
    plan = _plan(filter_tickets(manager, TicketFilter(q="漏水")).order_by())
    assert "tickets_ticket_subject_trgm" not in plan, plan
