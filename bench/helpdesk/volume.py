"""The data both loaders produce: the same volume and the same distributions (standard library only, so the
peer's virtualenv imports it too).

Every work order gets a "customer number" k in 1..customers: orders 1..customers take k = their own number (so
every customer has at least one order), the rest a skewed draw (a few customers call often). In Kefu k is a
Customer row; django-helpdesk has no customer model, so there k is the submitter e-mail customer<k>@example.cn.
"""

from __future__ import annotations

# Shares of statuses. Kefu's five open statuses map to django-helpdesk's one "Open" (1).
STATUS_MIX = [("new", 0.02), ("assigned", 0.02), ("in_progress", 0.03), ("waiting_customer", 0.015),
              ("waiting_department", 0.015), ("reopened", 0.01), ("resolved", 0.09), ("closed", 0.80)]
PEER_STATUS = {"new": 1, "assigned": 1, "in_progress": 1, "waiting_customer": 1, "waiting_department": 1,
               "reopened": 2, "resolved": 3, "closed": 4}
KEFU_OPEN = ["new", "assigned", "in_progress", "waiting_customer", "waiting_department"]
TYPE_MIX = [("inquiry", 0.44), ("repair", 0.26), ("complaint", 0.11), ("suggestion", 0.07), ("praise", 0.05),
            ("other", 0.07)]
PRIORITY_MIX = [("low", 0.15), ("normal", 0.65), ("high", 0.15), ("urgent", 0.05)]
PEER_PRIORITY = {"urgent": 1, "high": 2, "normal": 3, "low": 4}
CHANNEL_MIX = [("phone", 0.52), ("wechat", 0.2), ("chat", 0.14), ("email", 0.07), ("web", 0.07)]
HISTORY_DAYS = 730  # closed orders spread over two years
OPEN_DAYS = 30      # open orders are recent
ASSIGNABLE = 18     # agents and team leads who own orders (of 31 staff)
STAFF = 31


def messages_sql(ticket_alias: str = "t") -> str:
    """Follow-ups per order: 1 + id % 5 (1..5, three on average), identical in both databases."""
    return f"generate_series(1, 1 + mod({ticket_alias}.id, 5)::int)"


def case_sql(column: str, mix: list[tuple[str, float]], mapping: dict[str, object] | None = None) -> str:
    """A SQL CASE turning a uniform random column into a draw from `mix` (optionally mapped to other values)."""
    parts, edge = [], 0.0
    for value, share in mix[:-1]:
        edge += share
        out = mapping[value] if mapping else value
        parts.append(f"WHEN {column} < {edge:.6f} THEN {out!r}")
    last = mapping[mix[-1][0]] if mapping else mix[-1][0]
    return f"(CASE {' '.join(parts)} ELSE {last!r} END)"


def customer_sql(id_column: str, customers: int) -> str:
    """Customer number k (1-based) of an order: its own number first, then a skewed draw."""
    return (f"(CASE WHEN {id_column} <= {customers} THEN {id_column} "
            f"ELSE 1 + floor(power(random(), 1.6) * {customers})::int END)")
