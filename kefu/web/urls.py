"""URLs of the agent workspace. Path parameters name their object (ticket_id, customer_id …) for the
generated permission matrix."""

from django.urls import path

from kefu.web.views import auth, calls, canned, conversations, customers, dashboard, department, security, tickets

app_name = "web"
urlpatterns = [
    path("", dashboard.home, name="home"),
    path("login/", auth.LoginPage.as_view(), name="login"),
    path("logout/", auth.LogoutPage.as_view(), name="logout"),
    path("language/", auth.set_language, name="set_language"),
    path("counters/", dashboard.counters, name="counters"),
    # one's own account security: sessions and API tokens
    path("account/security/", security.account_security, name="account_security"),
    path("account/security/tokens/", security.account_token_create, name="account_token_create"),
    path("account/security/tokens/<int:token_id>/revoke/", security.account_token_revoke,
         name="account_token_revoke"),
    path("account/security/sessions/<int:session_id>/end/", security.account_session_end,
         name="account_session_end"),
    path("account/security/sessions/end-others/", security.account_sessions_end_others,
         name="account_sessions_end_others"),
    # work orders
    path("tickets/", tickets.ticket_list, name="ticket_list"),
    path("tickets/new/", tickets.ticket_create, name="ticket_create"),
    path("tickets/export/", tickets.ticket_export, name="ticket_export"),
    path("tickets/<int:ticket_id>/", tickets.ticket_detail, name="ticket_detail"),
    path("tickets/<int:ticket_id>/reply/", tickets.ticket_reply, name="ticket_reply"),
    path("tickets/<int:ticket_id>/note/", tickets.ticket_note, name="ticket_note"),
    path("tickets/<int:ticket_id>/transition/", tickets.ticket_transition, name="ticket_transition"),
    path("tickets/<int:ticket_id>/assign/", tickets.ticket_assign, name="ticket_assign"),
    path("tickets/<int:ticket_id>/dispatch/", tickets.ticket_dispatch, name="ticket_dispatch"),
    path("tickets/<int:ticket_id>/escalate/", tickets.ticket_escalate, name="ticket_escalate"),
    path("tickets/<int:ticket_id>/edit/", tickets.ticket_edit, name="ticket_edit"),
    path("tickets/<int:ticket_id>/attachments/", tickets.attachment_upload, name="attachment_upload"),
    path("attachments/<int:attachment_id>/", tickets.attachment_download, name="attachment_download"),
    path("tickets/<int:ticket_id>/conversations/", conversations.ticket_conversations,
         name="ticket_conversations"),
    path("views/", tickets.saved_view_save, name="saved_view_save"),
    path("views/<int:view_id>/delete/", tickets.saved_view_delete, name="saved_view_delete"),
    # department queue
    path("department/", department.department_queue, name="department_queue"),
    path(
        "dispatches/<int:dispatch_id>/acknowledge/",
        department.dispatch_acknowledge,
        name="dispatch_acknowledge",
    ),
    path("dispatches/<int:dispatch_id>/complete/", department.dispatch_complete, name="dispatch_complete"),
    path("dispatches/<int:dispatch_id>/onsite/", department.dispatch_onsite, name="dispatch_onsite"),
    # customers
    path("customers/", customers.customer_list, name="customer_list"),
    path("customers/search/", customers.customer_search, name="customer_search"),
    path("calls/<int:call_id>/pop/", calls.call_pop, name="call_pop"),
    path("customers/<int:customer_id>/", customers.customer_detail, name="customer_detail"),
    path("customers/<int:customer_id>/reveal/", customers.customer_reveal, name="customer_reveal"),
    path("customers/<int:customer_id>/consents/", customers.customer_consents, name="customer_consents"),
    # the inbox: conversations from every channel
    path("conversations/", conversations.inbox_page, name="inbox"),
    path("conversations/<int:conversation_id>/", conversations.conversation_detail, name="conversation_detail"),
    path("conversations/<int:conversation_id>/messages/", conversations.conversation_messages,
         name="conversation_messages"),
    path("conversations/<int:conversation_id>/side/", conversations.conversation_side, name="conversation_side"),
    path("conversations/<int:conversation_id>/send/", conversations.conversation_send, name="conversation_send"),
    path("conversations/<int:conversation_id>/claim/", conversations.conversation_claim, name="conversation_claim"),
    path("conversations/<int:conversation_id>/transfer/", conversations.conversation_transfer,
         name="conversation_transfer"),
    path("conversations/<int:conversation_id>/assign/", conversations.conversation_assign,
         name="conversation_assign"),
    path("conversations/<int:conversation_id>/close/", conversations.conversation_close, name="conversation_close"),
    path("conversations/<int:conversation_id>/ticket/", conversations.conversation_ticket,
         name="conversation_ticket"),
    path("conversations/attachments/<int:conversation_attachment_id>/", conversations.conversation_attachment,
         name="conversation_attachment"),
    path("conversations/canned/", canned.canned_list, name="canned_list"),
    path("conversations/canned/<int:canned_reply_id>/", canned.canned_edit, name="canned_edit"),
    path("conversations/canned/<int:canned_reply_id>/delete/", canned.canned_delete, name="canned_delete"),
]
