"""Token scopes: the one mapping from each API operation (its operationId) to the scope a personal API token needs
for it. The role's right (`@requires`) still applies on top; the web UI's own calls (the session) have no scope.

* `read` — read-only: every GET outside the administration;
* `tickets` — work orders: create and change orders and dispatches, one's notifications;
* `customers` — create and change customer records;
* `admin` — the administration (its reads too), webhooks, and making or revoking API tokens;
* `telephony` — a PBX reporting call events (give the PBX's token this scope alone).

An operation missing here is refused to every token (403 `scope_undeclared`), and
kefu/accounts/tests/test_token_scopes.py fails, naming it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from kefu.accounts.choices import TokenScope
from kefu.core.errors import PermissionDenied

READ, TICKETS, CUSTOMERS, ADMIN = TokenScope.READ, TokenScope.TICKETS, TokenScope.CUSTOMERS, TokenScope.ADMIN
TELEPHONY = TokenScope.TELEPHONY

OPERATION_SCOPES: dict[str, TokenScope] = {
    # customers
    "customer_list": READ, "customer_detail": READ,
    "customer_create": CUSTOMERS, "customer_update": CUSTOMERS,
    "customer_consents": READ, "customer_consents_set": CUSTOMERS,
    # a complete, unmasked export of one person's data is a data-protection act, not a customer edit
    "customer_personal_data": ADMIN,
    # conversations: reading the inbox, and serving customers on it (the work of the `tickets` scope);
    # the inbound webhook is signed with its channel's secret and takes no token
    "conversation_list": READ, "conversation_detail": READ, "conversation_messages": READ,
    "conversation_send": TICKETS, "conversation_claim": TICKETS, "conversation_assign": TICKETS,
    "conversation_transfer": TICKETS, "conversation_close": TICKETS, "conversation_ticket": TICKETS,
    "inbound_webhook": TICKETS, "channel_list": READ,
    # telephony: the PBX reporting what happens to calls
    "cti_event": TELEPHONY, "ivr_next": TELEPHONY,
    # telephony: an agent commanding the PBX (serving work): click-to-dial and transfer
    "call_dial": TICKETS, "call_transfer": TICKETS,
    # agents' states: reading the floor, and setting one's own or a team member's (serving work)
    "agent_state_list": READ, "agent_state_get": READ,
    "agent_state_set_own": TICKETS, "agent_state_set_other": TICKETS,
    "offer_list": READ, "offer_accept_api": TICKETS, "offer_decline_api": TICKETS,
    # queue settings: read by managers and administrators with any token, changed with an admin one
    "queue_settings_list": READ, "queue_settings_detail": READ, "queue_settings_update": ADMIN,
    # the knowledge base: served articles for staff tools; asking the bot and rating an answer serve customers
    "kb_article_list": READ, "kb_article_detail": READ, "kb_ask": TICKETS, "kb_article_feedback": TICKETS,
    # work orders and dispatches
    "ticket_list": READ, "ticket_detail": READ,
    "ticket_create": TICKETS, "ticket_update": TICKETS, "ticket_transition": TICKETS, "ticket_assign": TICKETS,
    "ticket_escalate": TICKETS, "ticket_reply": TICKETS, "ticket_note": TICKETS, "ticket_dispatch": TICKETS,
    "dispatch_acknowledge": TICKETS, "dispatch_complete": TICKETS,
    # the directory and oneself
    "user_list": READ, "user_detail": READ, "team_list": READ, "team_detail": READ,
    "department_list": READ, "department_detail": READ, "me": READ, "token_list": READ,
    "token_create": ADMIN, "token_revoke": ADMIN,
    # notifications
    "notification_list": READ, "preferences_get": READ,
    "notification_read": TICKETS, "notification_read_all": TICKETS, "preferences_put": TICKETS,
    # webhooks
    "endpoint_list": ADMIN, "endpoint_create": ADMIN, "endpoint_detail": ADMIN, "endpoint_update": ADMIN,
    "endpoint_rotate_secret": ADMIN,
    # the administration
    "staff_list": ADMIN, "staff_create": ADMIN, "staff_import_file": ADMIN, "staff_detail": ADMIN,
    "staff_update": ADMIN, "staff_deactivate": ADMIN, "staff_reactivate": ADMIN, "staff_password_reset": ADMIN,
    "admin_team_list": ADMIN, "team_create": ADMIN, "team_update": ADMIN,
    "admin_department_list": ADMIN, "department_create": ADMIN, "admin_department_detail": ADMIN,
    "department_update": ADMIN, "skill_list": ADMIN, "skill_create": ADMIN, "skill_update": ADMIN,
    "calendar_list": ADMIN, "calendar_create": ADMIN, "calendar_detail": ADMIN, "calendar_update": ADMIN,
    "calendar_days": ADMIN, "calendar_days_import": ADMIN, "calendar_day_set": ADMIN, "calendar_day_delete": ADMIN,
    "category_list": ADMIN, "category_create": ADMIN, "category_update": ADMIN,
    "type_list": ADMIN, "type_update": ADMIN,
    "sla_policy_list": ADMIN, "sla_policy_add": ADMIN, "sla_policy_replace": ADMIN,
    "signin_lock_list": ADMIN, "signin_lock_unlock": ADMIN, "admin_token_list": ADMIN, "admin_token_revoke": ADMIN,
    "audit_list": ADMIN, "audit_export": ADMIN, "audit_detail": ADMIN,
    # two-factor rules, single sign-on per person
    "two_factor_rules": ADMIN, "two_factor_rule_set": ADMIN, "person_sign_in": ADMIN, "person_local_password": ADMIN,
    "person_two_factor_reset": ADMIN,
    # personal data: erasure requests and retention rules
    "erasure_list": ADMIN, "erasure_create": ADMIN, "erasure_detail": ADMIN, "erasure_approve": ADMIN,
    "erasure_reject": ADMIN, "retention_list": ADMIN, "retention_update": ADMIN, "retention_preview": ADMIN,
}


def scope_of(operation_id: str) -> TokenScope | None:
    return OPERATION_SCOPES.get(operation_id)


def check_scope(request: Any, operation_id: str) -> None:
    """Raise 403 when the request's API token lacks the operation's scope (session calls pass)."""
    token = getattr(request, "api_token", None)
    if token is None:
        return
    needed = scope_of(operation_id)
    if needed is None:
        raise PermissionDenied(_("此接口未声明令牌权限范围"), code="scope_undeclared",
                               details={"operation": operation_id})
    if needed not in (token.scopes or []):
        raise PermissionDenied(_("此令牌没有“%(scope)s”权限范围") % {"scope": needed.label}, code="scope_missing",
                               details={"scope": str(needed), "token_scopes": list(token.scopes or [])})
