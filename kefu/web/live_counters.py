"""The counters a live push carries, per scope ("user.7", "team.3", "department.2", "centre"): the figures of
kefu.tickets.selectors.ticket_counters, the same ones the page header shows and the lists they link to hold."""

from __future__ import annotations

from kefu.tickets.selectors import Scope, ticket_counters_cached


def _scope(name: str) -> Scope | None:
    kind, _sep, key = name.partition(".")
    if kind == "centre" and not key:
        return ("centre", None)
    if kind in ("user", "team", "department") and key.isdigit():
        return (kind, int(key))
    return None


def scope_counters(scopes: list[str]) -> dict[str, dict[str, int]]:
    """Recount each scope (and refresh the copy every header reads), once per batch of events."""
    out: dict[str, dict[str, int]] = {}
    for name in scopes:
        scope = _scope(name)
        if scope is not None:
            out[name] = ticket_counters_cached(scope=scope, fresh=True)
    return out
