"""`/me` for everyone signed in; `/users` for administrators only."""

import uuid

from fastapi import APIRouter, Response

from auth.deps import UserServiceDep
from auth.errors import EmailTakenError, SelfLockoutError, UsernameTakenError, UserNotFoundError
from auth.users.schemas import UserCreate, UserDetailRead, UserRead, UserUpdate
from common.access import Access, access
from common.errors import ForbiddenError, error_responses
from common.pagination import Page, PageQueryDep
from common.security import AdminUserDep, CurrentUserDep

router = APIRouter(tags=["users"])


@router.get(
    "/me",
    openapi_extra=access(Access.AUTHENTICATED),
    summary="The signed-in user",
    responses=error_responses(UserNotFoundError),
)
async def me(user: CurrentUserDep, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.get(uuid.UUID(user.sub)))


@router.post(
    "/users",
    status_code=201,
    summary="Create a user (admin)",
    responses=error_responses(ForbiddenError, UsernameTakenError, EmailTakenError),
)
async def create_user(
    body: UserCreate, _admin: AdminUserDep, users: UserServiceDep
) -> UserDetailRead:
    return UserDetailRead.model_validate(await users.create(body))


@router.get("/users", summary="List users (admin)", responses=error_responses(ForbiddenError))
async def list_users(
    _admin: AdminUserDep, users: UserServiceDep, page: PageQueryDep
) -> Page[UserDetailRead]:
    items, total = await users.page(page)
    return Page(items=[UserDetailRead.model_validate(u) for u in items], total=total)


@router.get(
    "/users/{user_id}",
    summary="One user (admin)",
    responses=error_responses(ForbiddenError, UserNotFoundError),
)
async def get_user(
    user_id: uuid.UUID, _admin: AdminUserDep, users: UserServiceDep
) -> UserDetailRead:
    return UserDetailRead.model_validate(await users.get(user_id))


@router.patch(
    "/users/{user_id}",
    summary="Change a user: active, password, name, email, admin (admin)",
    responses=error_responses(ForbiddenError, UserNotFoundError, EmailTakenError, SelfLockoutError),
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, admin: AdminUserDep, users: UserServiceDep
) -> UserDetailRead:
    return UserDetailRead.model_validate(await users.update(user_id, body, actor_id=admin.sub))


@router.delete(
    "/users/{user_id}",
    status_code=204,
    summary="Delete a user and end their sessions (admin)",
    responses=error_responses(ForbiddenError, UserNotFoundError, SelfLockoutError),
)
async def delete_user(user_id: uuid.UUID, admin: AdminUserDep, users: UserServiceDep) -> Response:
    await users.delete(user_id, actor_id=admin.sub)
    return Response(status_code=204)
