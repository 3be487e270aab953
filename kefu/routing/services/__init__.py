"""Every write of routing: queues and their interval statistics, agents' states with their history (floor), and
the ACD that offers waiting contacts to agents (acd)."""

from kefu.routing.services.acd import (
    BATCH,
    REOFFER_SECONDS,
    ROUTING,
    ContactIn,
    KindHandler,
    TickResult,
    contact_callback,
    contact_end,
    contact_enqueue,
    contact_figures,
    contact_taken,
    dispatch_soon,
    offer_accept,
    offer_decline,
    offers_withdraw_for,
    register_kind,
    routing_dispatch,
    routing_repair,
    routing_tick,
)
from kefu.routing.services.floor import (
    AGENT_STATES,
    BASE_MINUTES,
    CODE_RE,
    COUNTS,
    QUEUE_FIELDS,
    QueueData,
    StateChange,
    agent_state_set,
    agent_states_expire,
    interval_of,
    interval_write,
    queue_create,
    queue_data_of,
    queue_delete,
    queue_history,
    queue_update,
)

__all__ = [
    "AGENT_STATES", "BASE_MINUTES", "BATCH", "CODE_RE", "COUNTS", "QUEUE_FIELDS", "REOFFER_SECONDS", "ROUTING",
    "ContactIn", "KindHandler", "QueueData", "StateChange", "TickResult", "agent_state_set", "agent_states_expire",
    "contact_callback", "contact_end", "contact_enqueue", "contact_figures", "contact_taken", "dispatch_soon",
    "interval_of", "interval_write", "offer_accept", "offer_decline", "offers_withdraw_for", "queue_create",
    "queue_data_of", "queue_delete", "queue_history", "queue_update", "register_kind", "routing_dispatch",
    "routing_repair", "routing_tick",
]
