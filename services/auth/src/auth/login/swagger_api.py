"""`POST /login/swagger`: the OAuth2 password form Swagger UI's Authorize button posts.

Mounted only when ENVIRONMENT=local; elsewhere the route does not exist at all.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from auth.deps import ClientIpDep, LoginServiceDep, UserAgentDep
from auth.errors import InvalidCredentialsError, LoginThrottledError
from auth.login.api import token_pair
from auth.login.schemas import TokenPairRead
from common.access import Access, access
from common.errors import error_responses

router = APIRouter(tags=["login"])


@router.post(
    "/login/swagger",
    openapi_extra=access(Access.PUBLIC),
    summary="Swagger UI's password login (ENVIRONMENT=local only)",
    responses=error_responses(InvalidCredentialsError, LoginThrottledError),
)
async def swagger_login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    login: LoginServiceDep,
    ip: ClientIpDep,
    user_agent: UserAgentDep,
) -> TokenPairRead:
    tokens = await login.login_plain(form.username, form.password, ip=ip, user_agent=user_agent)
    return token_pair(tokens)
