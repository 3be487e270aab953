"""Benchmark: work-order text search at 1,000,000 orders and 200,000 customers on PostgreSQL.

Times the two searches agents use, exactly as the server runs them: the workspace list (the one work-order
filter, `kefu.tickets.selectors.filter_tickets`, then one keyset page of 50 with the count up to 1,000) and the
API list (the same filter, one keyset page of 50, no count). Each search term runs as a manager (all orders) and
as an agent (the team's orders).

Two set-ups in the same run, on the same database:
- **before**: no trigram indexes, and the customer-name arm of the search as a join (`CUSTOMER_MATCH_CAP = -1`
  forces the join path), which is how search ran before the search indexes;
- **now**: the migrations' trigram indexes, and the matching customers looked up first as an id list.

Needs the benchmark database of `bench/helpdesk_compare.py` (`kefu_bench`, loaded by its first run, or by
`bench/helpdesk/load_kefu.py`). Server-side time only (no HTTP), best and median of 5 after one warm-up.

Run: `.venv/bin/python bench/search.py` (writes bench/results/search.json and .md).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT / "helpdesk"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu_settings")
os.environ.setdefault("KEFU_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kefu_bench")
os.environ.setdefault("KEFU_DATA_DIR", str(ROOT / ".work" / "kefu-helpdesk-bench"))
os.environ.setdefault("KEFU_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from kefu.accounts.models import User  # noqa: E402
from kefu.core.pagination import keyset_page  # noqa: E402
from kefu.customers.models import Customer  # noqa: E402
from kefu.tickets import selectors  # noqa: E402
from kefu.tickets.models import Ticket  # noqa: E402
from kefu.web.views.tickets import COUNT_CAP, PAGE_SIZE  # noqa: E402

RESULTS = ROOT / "results"
RUNS = 5
INDEXES = {
    "tickets_ticket_subject_trgm": ("tickets_ticket", "subject"),
    "customers_customer_name_trgm": ("customers_customer", "name"),
    "customers_customer_company_trgm": ("customers_customer", "company"),
}


def terms() -> list[tuple[str, str]]:
    """Search terms drawn from the loaded data, each with what it stands for."""
    common = Ticket.objects.order_by("pk").values_list("subject", flat=True).first() or "漏水"
    name = Customer.objects.order_by("pk").values_list("name", flat=True).first() or "李磊"
    number = Ticket.objects.order_by("-pk").values_list("number", flat=True).first() or "GD0"
    return [
        (common[:2], "two characters of a common subject"),
        (common, "a whole common subject"),
        (name, "a customer's name"),
        ("冰箱异响", "four characters, no order has them"),
        ("zzzz", "Latin letters, no match"),
        (number, "an order number"),
    ]


def timed(fn: Any) -> dict[str, float]:
    fn()  # warm-up
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {"best_ms": round(min(samples), 1), "median_ms": round(statistics.median(samples), 1)}


def workspace(user: User, scope: str, q: str) -> Any:
    qs = selectors.list_queryset(selectors.filter_tickets(user, selectors.TicketFilter(view=scope, q=q)))
    return keyset_page(qs, limit=PAGE_SIZE, count_cap=COUNT_CAP)


def api_list(user: User, q: str) -> Any:
    qs = selectors.list_queryset(selectors.filter_tickets(user, selectors.TicketFilter(q=q)))
    return keyset_page(qs, limit=50)


def set_indexes(present: bool) -> None:
    with connection.cursor() as cursor:
        for name, (table, column) in INDEXES.items():
            if present:
                cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER({column}) gin_trgm_ops)")
            else:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("ANALYZE tickets_ticket")
        cursor.execute("ANALYZE customers_customer")


def measure(setup: str) -> list[dict[str, Any]]:
    set_indexes(present=setup == "now")
    selectors.CUSTOMER_MATCH_CAP = -1 if setup == "before" else 500
    rows = []
    for username, scope in (("manager", "all"), ("agent1", "team")):
        user = User.objects.get(username=username)
        for q, meaning in terms():
            page = workspace(user, scope, q)
            rows.append({
                "setup": setup, "user": username, "scope": scope, "q": q, "meaning": meaning,
                "found": page.total, "capped": page.capped,
                "workspace": timed(lambda u=user, s=scope, q=q: workspace(u, s, q)),  # type: ignore[misc]
                "api": timed(lambda u=user, q=q: api_list(u, q)),  # type: ignore[misc]
            })
            print(setup, username, q, rows[-1]["workspace"], rows[-1]["api"], flush=True)
    return rows


def report(data: dict[str, Any]) -> str:
    before = {(r["user"], r["q"]): r for r in data["rows"] if r["setup"] == "before"}
    lines = [
        "# Work-order text search at 1,000,000 orders (PostgreSQL)",
        "",
        f"Run {data['started']} on {data['machine']}, {data['orders']:,} orders, {data['customers']:,} customers.",
        "Server-side time of one search, median of 5 (best in brackets), in ms. *Before*: no trigram indexes and",
        "the customer-name arm as a join. *Now*: trigram indexes, matching customers looked up first.",
        "Made by `.venv/bin/python bench/search.py`.",
        "",
        "| user (scope) | search | found | list page before | list page now | API before | API now |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in (r for r in data["rows"] if r["setup"] == "now"):
        old = before[(row["user"], row["q"])]
        found = f"{row['found']:,}{'+' if row['capped'] else ''}"

        def cell(part: dict[str, float]) -> str:
            return f"{part['median_ms']:,.0f} ({part['best_ms']:,.0f})"

        lines.append(
            f"| {row['user']} ({row['scope']}) | {row['q']} — {row['meaning']} | {found} | {cell(old['workspace'])} "
            f"| {cell(row['workspace'])} | {cell(old['api'])} | {cell(row['api'])} |"
        )
    lines += [
        "",
        "A trigram needs three characters: a two-character term (common in Chinese: 漏水, a two-character name)",
        "cannot be looked up in the subject's index, and a search that matches few orders then reads the table.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("bench/search.py needs the PostgreSQL benchmark database (KEFU_DATABASE_URL)")
    orders = Ticket.objects.count()
    if orders < 100_000:
        sys.exit(f"kefu_bench holds {orders:,} orders: load it first (bench/helpdesk_compare.py)")
    data: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "orders": orders,
        "customers": Customer.objects.count(),
        "rows": [],
    }
    try:
        data["rows"] += measure("before")
    finally:
        set_indexes(present=True)  # the database is left as the migrations make it
    data["rows"] += measure("now")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "search.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "search.md").write_text(report(data), encoding="utf-8")
    print((RESULTS / "search.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
