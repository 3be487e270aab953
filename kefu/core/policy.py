"""The permissions policy: the one place that decides who may see and do what.

Views, API endpoints, querysets and templates all ask this module. Role-level rights are a table
(`RIGHTS`); object-level rules (team, ownership, dispatch to one's department) are the scope functions.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from kefu.accounts.choices import Role

if TYPE_CHECKING:
    from kefu.accounts.models import User


class Action(StrEnum):
    # work orders
    TICKET_VIEW = "ticket.view"
    TICKET_VIEW_ALL = "ticket.view_all"
    TICKET_CREATE = "ticket.create"
    TICKET_REPLY = "ticket.reply"
    TICKET_NOTE = "ticket.note"
    TICKET_TRANSITION = "ticket.transition"
    TICKET_ASSIGN = "ticket.assign"
    TICKET_DISPATCH = "ticket.dispatch"
    TICKET_ESCALATE = "ticket.escalate"
    TICKET_EDIT = "ticket.edit"
    DISPATCH_ACKNOWLEDGE = "dispatch.acknowledge"
    # customers
    CUSTOMER_VIEW = "customer.view"
    CUSTOMER_VIEW_PHONE = "customer.view_phone"
    CUSTOMER_VIEW_ID_NUMBER = "customer.view_id_number"
    CUSTOMER_EDIT = "customer.edit"
    CUSTOMER_MERGE = "customer.merge"
    CUSTOMER_IMPORT = "customer.import"
    CUSTOMER_EXPORT = "customer.export"
    # directory, administration
    DIRECTORY_VIEW = "directory.view"
    SLA_MANAGE = "sla.manage"
    CATEGORY_MANAGE = "category.manage"
    WEBHOOK_MANAGE = "webhook.manage"
    AUDIT_VIEW = "audit.view"
    TOKEN_MANAGE_OWN = "token.manage_own"  # noqa: S105 - an action name, not a secret


_FRONT_LINE = {Role.AGENT, Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER, Role.ADMIN}
_SERVICE_STAFF = _FRONT_LINE | {Role.QA}
_LEADS = {Role.TEAM_LEAD, Role.SHIFT_LEAD, Role.MANAGER, Role.ADMIN}
_ALL = set(Role)

RIGHTS: dict[Action, frozenset[Role]] = {
    Action.TICKET_VIEW: frozenset(_ALL),
    Action.TICKET_VIEW_ALL: frozenset({Role.SHIFT_LEAD, Role.QA, Role.MANAGER, Role.ADMIN}),
    Action.TICKET_CREATE: frozenset(_FRONT_LINE),
    Action.TICKET_REPLY: frozenset(_FRONT_LINE),
    Action.TICKET_NOTE: frozenset(_ALL),
    Action.TICKET_TRANSITION: frozenset(_FRONT_LINE),
    Action.TICKET_ASSIGN: frozenset(_FRONT_LINE),
    Action.TICKET_DISPATCH: frozenset(_FRONT_LINE),
    Action.TICKET_ESCALATE: frozenset(_FRONT_LINE),
    Action.TICKET_EDIT: frozenset(_FRONT_LINE),
    Action.DISPATCH_ACKNOWLEDGE: frozenset({Role.DEPARTMENT, Role.MANAGER, Role.ADMIN}),
    Action.CUSTOMER_VIEW: frozenset(_SERVICE_STAFF),
    Action.CUSTOMER_VIEW_PHONE: frozenset(_FRONT_LINE),
    Action.CUSTOMER_VIEW_ID_NUMBER: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.CUSTOMER_EDIT: frozenset(_FRONT_LINE),
    Action.CUSTOMER_MERGE: frozenset(_LEADS),
    Action.CUSTOMER_IMPORT: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.CUSTOMER_EXPORT: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.DIRECTORY_VIEW: frozenset(_ALL),
    Action.SLA_MANAGE: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.CATEGORY_MANAGE: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.WEBHOOK_MANAGE: frozenset({Role.ADMIN}),
    Action.AUDIT_VIEW: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.TOKEN_MANAGE_OWN: frozenset(_ALL),
}


def role_of(user: Any) -> Role | None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    return Role(user.role)


def has_right(user: Any, action: Action) -> bool:
    """Role-level right, without looking at any particular object."""
    role = role_of(user)
    return role is not None and role in RIGHTS[action]


def visible_tickets(user: User, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The work orders `user` may see.

    Supervisors, QA, managers and admins see all; team leads and agents see their own (owner, first-contact
    owner) and their team's; department staff see the orders dispatched to their department.
    """
    role = role_of(user)
    if role is None:
        return queryset.none()
    if has_right(user, Action.TICKET_VIEW_ALL):
        return queryset
    if role == Role.DEPARTMENT:
        if not user.department_id:
            return queryset.none()
        return queryset.filter(dispatches__department_id=user.department_id).distinct()
    mine = Q(assignee_id=user.pk) | Q(first_contact_owner_id=user.pk)
    if user.team_id:
        mine |= Q(team_id=user.team_id)
    return queryset.filter(mine)


def can_see_ticket(user: User, ticket: Any) -> bool:
    from kefu.tickets.models import Ticket

    return visible_tickets(user, Ticket.objects.filter(pk=ticket.pk)).exists()


def can_act_on_ticket(user: User, ticket: Any, action: Action) -> bool:
    """A right on one work order: the role has it and the order is within the user's scope.

    Department staff may only note on and acknowledge the dispatches of their own department.
    """
    if not has_right(user, action):
        return False
    return can_see_ticket(user, ticket)


def can_acknowledge_dispatch(user: User, dispatch: Any) -> bool:
    role = role_of(user)
    if role is None or not has_right(user, Action.DISPATCH_ACKNOWLEDGE):
        return False
    if role == Role.DEPARTMENT:
        return bool(user.department_id) and dispatch.department_id == user.department_id
    return True


def visible_customers(user: User, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Customer records are visible to service staff; department staff see none directly."""
    if not has_right(user, Action.CUSTOMER_VIEW):
        return queryset.none()
    return queryset


def can_see_customer(user: User, customer: Any) -> bool:
    return has_right(user, Action.CUSTOMER_VIEW)


# --- Declarations on views and API operations ------------------------------------------------------------
# Every web view and every API operation declares what it requires; tests/test_permission_matrix.py reads
# the declaration to derive each role's expected answer from this module. An undeclared view fails that test.
#
#   from kefu.core.policy import Action, requires, PUBLIC, AUTHENTICATED
#
#   @requires(Action.TICKET_VIEW)            # function view: signed in + the right, else login page / 403
#   def ticket_detail(request, ticket_id): …  # object scope (visible_tickets…) stays the view's job: 404
#
#   @requires(AUTHENTICATED)                 # any signed-in user (home, logout, own profile, own tokens)
#   @requires(PUBLIC)                        # anyone (login page, health check, language switch)
#
#   @requires(Action.SLA_MANAGE)             # also works on a class-based view (wraps `dispatch`)
#   class SlaPolicyEdit(View): …
#
# URL path parameters name the object they point at, so the matrix can fill them from its fixtures and ask
# `permits(user, action, obj)`: ticket_id, customer_id, dispatch_id, user_id, team_id, department_id,
# endpoint_id, delivery_id, token_id, view_id (saved view), attachment_id, message_id.


class Access(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"


PUBLIC = Access.PUBLIC
AUTHENTICATED = Access.AUTHENTICATED

Requirement = Action | Access


def permits(user: Any, requirement: Requirement, obj: Any = None) -> bool:
    """Whether `user` may do `requirement`, on `obj` if given (a Ticket, Dispatch or Customer; other objects
    such as users, teams and departments carry no scope of their own).

    This is the oracle of the permission matrix; views and endpoints may call it too.
    """
    if requirement == Access.PUBLIC:
        return True
    if role_of(user) is None:
        return False
    if requirement == Access.AUTHENTICATED:
        return True
    action = Action(requirement)
    if obj is None:
        return has_right(user, action)
    model = type(obj).__name__
    if model == "Ticket":
        return can_act_on_ticket(user, obj, action)
    if model == "Dispatch":
        if action == Action.DISPATCH_ACKNOWLEDGE:
            return can_see_ticket(user, obj.ticket) and can_acknowledge_dispatch(user, obj)
        return can_act_on_ticket(user, obj.ticket, action)
    if model == "Customer":
        return has_right(user, action) and can_see_customer(user, obj)
    return has_right(user, action)


def requires(requirement: Requirement) -> Any:
    """Declare and enforce what a web view requires (see the block above).

    Anonymous users are sent to the login page; signed-in users without the right get Django's 403 page.
    The declaration is kept as `view.kefu_action` (on the class for class-based views).
    """
    import functools

    def check(request: Any) -> Any:
        from django.contrib.auth.views import redirect_to_login
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

        if requirement == Access.PUBLIC:
            return None
        if role_of(request.user) is None:
            return redirect_to_login(request.get_full_path())
        if requirement != Access.AUTHENTICATED and not has_right(request.user, Action(requirement)):
            raise DjangoPermissionDenied(str(requirement))
        return None

    def decorate(view: Any) -> Any:
        if isinstance(view, type):  # class-based view: guard dispatch, keep the declaration on the class
            original = view.dispatch

            @functools.wraps(original)
            def dispatch(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
                refused = check(request)
                return refused if refused is not None else original(self, request, *args, **kwargs)

            view.dispatch = dispatch
            view.kefu_action = requirement
            return view

        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            refused = check(request)
            return refused if refused is not None else view(request, *args, **kwargs)

        wrapper.kefu_action = requirement  # type: ignore[attr-defined]
        return wrapper

    return decorate


# Views from Django itself that Kefu mounts, which cannot carry the decorator.
EXTERNAL_VIEWS: dict[str, Requirement] = {
    "django.views.i18n.set_language": Access.PUBLIC,
    "django.views.static.serve": Access.PUBLIC,
    "django.views.i18n.JavaScriptCatalog": Access.PUBLIC,
}


def declared_requirement(view: Any) -> Requirement | None:
    """The requirement a resolved URL callback declared with `requires`, or None if it declared none."""
    target = getattr(view, "view_class", view)
    name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    external = EXTERNAL_VIEWS.get(name)
    if external is not None:
        return external
    for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        found = getattr(candidate, "kefu_action", None)
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None
