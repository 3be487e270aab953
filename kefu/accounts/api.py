"""REST API: the staff directory (users, teams, departments, read-only), who am I, my API tokens, and for the
administration: sign-in locks (see, unlock) and everyone's API tokens (see, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from kefu.accounts.choices import Role, TokenScope
from kefu.accounts.models import ApiToken, Department, Team, User
from kefu.accounts.permissions import AccountRight
from kefu.accounts.services import api_token_create, api_token_revoke, api_token_revoke_any, tokens_all, tokens_of
from kefu.accounts.signin import active_locks, signin_unlock
from kefu.apiutils.auth import requires
from kefu.apiutils.idempotency import idempotent_create
from kefu.apiutils.pagination import number_page
from kefu.apiutils.schemas import Id, InSchema, PathId
from kefu.core.errors import NotFound
from kefu.core.policy import AUTHENTICATED

router = Router()


class UserOut(Schema):
    id: int
    username: str
    display_name: str
    employee_no: str
    role: str
    team_id: int | None
    department_id: int | None
    is_active: bool


class TeamOut(Schema):
    id: int
    name: str
    department_id: int
    lead_id: int | None


class DepartmentOut(Schema):
    id: int
    name: str
    code: str
    is_service_center: bool
    manager_id: int | None


class UserPage(Schema):
    items: list[UserOut]
    next: str | None = Field(description="The next page number, or null on the last page.")
    page: int
    page_size: int
    count: int


class TeamPage(UserPage):
    items: list[TeamOut]  # type: ignore[assignment]


class DepartmentPage(UserPage):
    items: list[DepartmentOut]  # type: ignore[assignment]


class MeOut(UserOut):
    rights: list[str] = Field(description="The actions this user's role allows (see x-kefu-action).")


class TokenOut(Schema):
    id: int
    name: str
    key_prefix: str
    scopes: list[str] = Field(description="What the token may do: read, tickets, customers, admin, telephony.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    key: str | None = Field(description="The token itself: shown once, never again (null in a replay).")


class TokenIn(InSchema):
    name: str = Field(min_length=1, max_length=100, description="What the token is for, e.g. 'CRM sync'.")
    scopes: list[TokenScope] = Field(
        default_factory=lambda: [TokenScope.READ], min_length=1, max_length=len(TokenScope.values),
        description="read (every GET outside the administration), tickets (change work orders), customers "
                    "(change customers), admin (the administration, webhooks, tokens), telephony (a PBX reporting "
                    "call events). Default: read.")
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Days until the token expires (default 90, at most 365).")


class AdminTokenOut(TokenOut):
    user_id: int
    username: str


class SignInLockOut(Schema):
    id: int
    kind: str = Field(description="account, address (web sign-in) or token_address (API tokens).")
    value: str = Field(description="The user name (lower case) or the client address.")
    user_id: int | None
    failures: int
    locked_at: datetime
    locked_until: datetime


class UserFilters(InSchema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)
    role: Role | None = None
    team: Id | None = None
    department: Id | None = None
    q: str | None = Field(None, max_length=100, description="Search name, username or employee number.")


class PageQuery(InSchema):
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)


def _users(rows: list[User]) -> list[dict[str, Any]]:
    return [UserOut.from_orm(u).model_dump() for u in rows]


@router.get("/users", response=UserPage, summary="List staff users")
@requires(AccountRight.DIRECTORY_VIEW)
def user_list(request: HttpRequest, filters: Query[UserFilters]) -> Any:
    qs = User.objects.order_by("employee_no", "username", "id")
    if filters.role:
        qs = qs.filter(role=filters.role)
    if filters.team:
        qs = qs.filter(team_id=filters.team)
    if filters.department:
        qs = qs.filter(department_id=filters.department)
    if filters.q:
        qs = qs.filter(
            Q(display_name__icontains=filters.q) | Q(username__icontains=filters.q) | Q(employee_no=filters.q)
        )
    return number_page(qs, page=filters.page, page_size=filters.page_size, serialize=_users)


@router.get("/users/{user_id}", response=UserOut, summary="One staff user")
@requires(AccountRight.DIRECTORY_VIEW)
def user_detail(request: HttpRequest, user_id: PathId) -> Any:
    return _one(User, user_id, "user_id", _("用户不存在"))


@router.get("/teams", response=TeamPage, summary="List teams")
@requires(AccountRight.DIRECTORY_VIEW)
def team_list(request: HttpRequest, paging: Query[PageQuery]) -> Any:
    return _by_name(Team, TeamOut, paging)


@router.get("/teams/{team_id}", response=TeamOut, summary="One team")
@requires(AccountRight.DIRECTORY_VIEW)
def team_detail(request: HttpRequest, team_id: PathId) -> Any:
    return _one(Team, team_id, "team_id", _("班组不存在"))


@router.get("/departments", response=DepartmentPage, summary="List departments")
@requires(AccountRight.DIRECTORY_VIEW)
def department_list(request: HttpRequest, paging: Query[PageQuery]) -> Any:
    return _by_name(Department, DepartmentOut, paging)


@router.get("/departments/{department_id}", response=DepartmentOut, summary="One department")
@requires(AccountRight.DIRECTORY_VIEW)
def department_detail(request: HttpRequest, department_id: PathId) -> Any:
    return _one(Department, department_id, "department_id", _("部门不存在"))


def _by_name(model: Any, schema: Any, paging: PageQuery) -> Any:
    """One page of a directory list (teams, departments) in name order."""
    return number_page(
        model.objects.order_by("name", "id"),
        page=paging.page,
        page_size=paging.page_size,
        serialize=lambda rows: [schema.from_orm(row).model_dump() for row in rows],
    )


def _one(model: Any, pk: int, field: str, missing: str) -> Any:
    """The directory entry `pk`, or a 404 saying what is missing."""
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(missing, details={field: pk})
    return found


@router.get("/me", response=MeOut, summary="The authenticated user and their rights")
@requires(AUTHENTICATED)
def me(request: HttpRequest) -> Any:
    from kefu.core.policy import has_right, rights

    user = request.auth  # type: ignore[attr-defined]
    data = UserOut.from_orm(user).model_dump()
    data["rights"] = sorted(name for name in rights() if has_right(user, name))
    return data


@router.get("/me/tokens", response=list[TokenOut], summary="My API tokens (without their keys)")
@requires(AccountRight.TOKEN_MANAGE_OWN)
def token_list(request: HttpRequest) -> Any:
    return list(tokens_of(request.auth)[:100])  # type: ignore[attr-defined]


@router.post(
    "/me/tokens", response={201: TokenCreated}, summary="Create an API token (its key is shown once)"
)
@requires(AccountRight.TOKEN_MANAGE_OWN)
def token_create(request: HttpRequest, payload: TokenIn) -> Any:
    user = request.auth  # type: ignore[attr-defined]

    def create() -> tuple[int, Any]:
        issued = api_token_create(actor=user, name=payload.name, scopes=[str(s) for s in payload.scopes],
                                  expires_in_days=payload.expires_in_days)
        body = TokenOut.from_orm(issued.token).model_dump(mode="json")
        return 201, {**body, "key": issued.key}

    return idempotent_create(
        request,
        user=user,
        payload=payload.model_dump(),
        create=create,
        redact=lambda body: {**body, "key": None},
        schema=TokenCreated,
    )


@router.delete("/me/tokens/{token_id}", response={204: None},
               summary="Revoke one of my own API tokens (anyone else's: 404, administrators included)")
@requires(AccountRight.TOKEN_MANAGE_OWN)
def token_revoke(request: HttpRequest, token_id: PathId) -> Any:
    api_token_revoke(actor=request.auth, token_id=token_id)  # type: ignore[attr-defined]
    return Status(204, None)


# --- the administration: sign-in locks and everyone's tokens ----------------------------------------------


@router.get("/admin/signin-locks", response=list[SignInLockOut], summary="Sign-in locks in force",
            tags=["administration"])
@requires(AccountRight.SIGNIN_UNLOCK)
def signin_lock_list(request: HttpRequest) -> Any:
    return list(active_locks()[:500])


@router.post("/admin/signin-locks/{lock_id}/unlock", response={200: SignInLockOut},
             summary="End a sign-in lock now (audited)", tags=["administration"])
@requires(AccountRight.SIGNIN_UNLOCK)
def signin_lock_unlock(request: HttpRequest, lock_id: PathId) -> Any:
    return signin_unlock(actor=request.auth, lock_id=lock_id)  # type: ignore[attr-defined]


class AdminTokenQuery(InSchema):
    user: Id | None = Field(None, description="Only this user's tokens.")
    include_revoked: bool = False


def _admin_tokens(rows: list[ApiToken]) -> list[dict[str, Any]]:
    return [{**TokenOut.from_orm(t).model_dump(), "user_id": t.user_id, "username": t.user.username} for t in rows]


@router.get("/admin/tokens", response=list[AdminTokenOut], summary="Everyone's API tokens (without keys)",
            tags=["administration"])
@requires(AccountRight.TOKEN_MANAGE_ALL)
def admin_token_list(request: HttpRequest, query: Query[AdminTokenQuery]) -> Any:
    qs = tokens_all(active_only=not query.include_revoked)
    if query.user:
        qs = qs.filter(user_id=query.user)
    return _admin_tokens(list(qs[:500]))


@router.delete("/admin/tokens/{token_id}", response={204: None}, summary="Revoke anyone's API token (audited)",
               tags=["administration"])
@requires(AccountRight.TOKEN_MANAGE_ALL)
def admin_token_revoke(request: HttpRequest, token_id: PathId) -> Any:
    api_token_revoke_any(actor=request.auth, token_id=token_id)  # type: ignore[attr-defined]
    return Status(204, None)
