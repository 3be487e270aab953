"""The permissions policy: the one place that decides who may see and do what.

The policy knows no model and no app. Each app's `permissions.py` registers, when the app is ready:

* its **rights** (`register_rights({"ticket.view": roles, …})`): which roles hold each right;
* its **scopes** (`register_scope(Ticket, visible_to=…, allows=…)`): which rows of a model an actor may see,
  and any rule a right on one object adds (a department may only acknowledge its own dispatches).

Views, API operations, selectors, templates and services ask `can(actor, "ticket.dispatch", obj)`,
`has_right(actor, right)` and `visible(actor, queryset)`; nothing else compares roles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet

from kefu.core.actors import SystemActor

# right name → the roles that hold it
_RIGHTS: dict[str, frozenset[str]] = {}


@dataclass(frozen=True)
class Scope:
    """How one model is scoped: `visible_to(actor, queryset)` narrows a queryset to the rows the actor may
    see; `allows(actor, right, obj)`, when given, decides a right on one object (visibility included)."""

    visible_to: Callable[[Any, QuerySet[Any]], QuerySet[Any]]
    allows: Callable[[Any, str, Any], bool] | None = None
    # people with equal keys see an object alike (who_sees checks one of each); None: check each person
    sees_alike: Callable[[Any, Any], Any] | None = None
    # visibility of one loaded object decided from its fields, without a query: True, False, or None when only
    # the database can tell (must agree with visible_to; may_see falls back to it)
    sees: Callable[[Any, Any], bool | None] | None = None


_SCOPES: dict[str, Scope] = {}


def register_rights(rights: Mapping[str, Iterable[str]]) -> None:
    """Declare rights and the roles that hold them (called from an app's permissions module)."""
    for name, roles in rights.items():
        name = str(name)
        if name in _RIGHTS and _RIGHTS[name] != frozenset(map(str, roles)):
            raise ImproperlyConfigured(f"right {name!r} registered twice with different roles")
        _RIGHTS[name] = frozenset(str(r) for r in roles)


def register_scope(model: type[Model], *, visible_to: Callable[[Any, QuerySet[Any]], QuerySet[Any]],
                   allows: Callable[[Any, str, Any], bool] | None = None,
                   sees_alike: Callable[[Any, Any], Any] | None = None,
                   sees: Callable[[Any, Any], bool | None] | None = None) -> None:
    """Declare which rows of `model` an actor may see (and, optionally, an object-level rule, a key under
    which people see an object alike: `sees_alike(person, obj)`, and an in-memory check of one loaded object:
    `sees(person, obj)`)."""
    _SCOPES[model._meta.label_lower] = Scope(visible_to=visible_to, allows=allows, sees_alike=sees_alike,
                                             sees=sees)


def rights() -> dict[str, frozenset[str]]:
    """Every registered right and its roles (documentation, the template context, tests)."""
    return dict(_RIGHTS)


def rights_of_role(role: str | None) -> dict[str, bool]:
    """{right: held} for a role (None: no role), computed once per role: every page's template asks."""
    key = (role, len(_RIGHTS))
    found = _ROLE_RIGHTS.get(key)
    if found is None:
        found = {right: role is not None and role in roles for right, roles in _RIGHTS.items()}
        _ROLE_RIGHTS[key] = found
    return found


_ROLE_RIGHTS: dict[tuple[str | None, int], dict[str, bool]] = {}


def role_of(user: Any) -> str | None:
    """The role of a signed-in, active person; None for anonymous, inactive users and system actors."""
    if user is None or isinstance(user, SystemActor):
        return None
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    return str(user.role)


def _known(right: str) -> str:
    right = str(right)
    if right not in _RIGHTS:
        raise ImproperlyConfigured(f"unknown right {right!r}: register it in the app's permissions.py")
    return right


def has_right(user: Any, right: str) -> bool:
    """Role-level right, without looking at any particular object. System actors hold every right: the
    rules, schedules and channels they run are configured by administrators."""
    right = _known(right)
    if isinstance(user, SystemActor):
        return True
    role = role_of(user)
    return role is not None and role in _RIGHTS[right]


def _scope_of(model: type[Model]) -> Scope:
    scope = _SCOPES.get(model._meta.label_lower)
    if scope is None:
        raise ImproperlyConfigured(f"no scope registered for {model._meta.label}")
    return scope


def visible(user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The rows of `queryset` that `user` may see (none for anonymous or inactive users)."""
    if isinstance(user, SystemActor):
        return queryset
    if role_of(user) is None:
        return queryset.none()
    return _scope_of(queryset.model).visible_to(user, queryset)


def can_see(user: Any, obj: Model) -> bool:
    model = type(obj)
    return visible(user, model._default_manager.filter(pk=obj.pk)).exists()


def may_see(user: Any, obj: Model) -> bool:
    """Whether `user` may see `obj`, already loaded: from its fields when the model's scope can tell (no
    query), otherwise as `can_see`."""
    if isinstance(user, SystemActor):
        return True
    if role_of(user) is None:
        return False
    scope = _scope_of(type(obj))
    verdict = scope.sees(user, obj) if scope.sees is not None else None
    return can_see(user, obj) if verdict is None else verdict


def who_sees(people: Iterable[Any], obj: Model) -> list[Any]:
    """Those of `people` who may see `obj`, checked once per group of people who see it alike (the scope's
    `sees_alike` key; without one, once per person): telling a department of fifteen costs one check."""
    scope = _scope_of(type(obj))
    decided: dict[Any, bool] = {}
    out = []
    for person in people:
        key = ("alike", scope.sees_alike(person, obj)) if scope.sees_alike else ("person", person.pk)
        if key not in decided:
            decided[key] = can_see(person, obj)
        if decided[key]:
            out.append(person)
    return out


def can(user: Any, right: str, obj: Any = None) -> bool:
    """Whether `user` holds `right`, on `obj` when given: the role holds the right and the object is in the
    user's scope (plus the object rule of the model's scope, if it has one)."""
    if not has_right(user, right):
        return False
    if obj is None or isinstance(user, SystemActor):
        return True
    scope = _SCOPES.get(type(obj)._meta.label_lower)
    if scope is None:  # an object with no scope of its own (a team, a department): the role decides
        return True
    if scope.allows is not None:
        return scope.allows(user, str(right), obj)
    return can_see(user, obj)


# --- Declarations on views and API operations ------------------------------------------------------------
# Every web view and every API operation declares what it requires; tests/test_permission_matrix.py reads
# the declaration to derive each role's expected answer from this module. An undeclared view fails that test.
#
#   from kefu.core.policy import requires, PUBLIC, AUTHENTICATED
#   from kefu.tickets.permissions import TicketRight
#
#   @requires(TicketRight.VIEW)              # function view: signed in + the right, else login page / 403
#   def ticket_detail(request, ticket_id): …  # object scope (visible(...)) stays the view's job: 404
#
#   @requires(AUTHENTICATED)                 # any signed-in user (home, logout, own profile, own tokens)
#   @requires(PUBLIC)                        # anyone (login page, health check, language switch)
#
# URL path parameters name the object they point at, so the matrix can fill them from its fixtures and ask
# `permits(user, right, obj)`: ticket_id, customer_id, dispatch_id, user_id, team_id, department_id, …


class Access(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"


PUBLIC = Access.PUBLIC
AUTHENTICATED = Access.AUTHENTICATED

Requirement = str  # a right name, or an Access


def permits(user: Any, requirement: Requirement, obj: Any = None) -> bool:
    """Whether `user` may do `requirement`, on `obj` if given. The oracle of the permission matrix."""
    if requirement == Access.PUBLIC:
        return True
    if role_of(user) is None:
        return False
    if requirement == Access.AUTHENTICATED:
        return True
    return can(user, requirement, obj)


def requires(requirement: Requirement) -> Any:
    """Declare and enforce what a web view requires (see the block above).

    Anonymous users are sent to the login page; signed-in users without the right get Django's 403 page.
    The declaration is kept as `view.kefu_action` (on the class for class-based views).
    """
    if requirement not in (Access.PUBLIC, Access.AUTHENTICATED):
        requirement = str(requirement)  # checked against the registry on first use (apps may load later)

    def check(request: Any) -> Any:
        from django.contrib.auth.views import redirect_to_login
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

        if requirement == Access.PUBLIC:
            return None
        if role_of(request.user) is None:
            return redirect_to_login(request.get_full_path())
        if requirement != Access.AUTHENTICATED and not has_right(request.user, requirement):
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
