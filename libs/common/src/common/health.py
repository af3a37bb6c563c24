"""Liveness and readiness: `/health` says the process serves, `/ready` checks its dependencies."""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from common.access import Access, access
from common.errors import ServiceUnavailableError, error_responses

ReadyCheck = Callable[[], Awaitable[object]]
READY_TIMEOUT_SECONDS = 3.0


class Health(BaseModel):
    status: str
    service: str


class Readiness(BaseModel):
    status: str
    service: str
    checks: dict[str, str]


def register_ready_check(app: FastAPI, name: str, check: ReadyCheck) -> None:
    """Add a dependency check to `/ready`; it passes when `check()` returns within the bound."""
    app.state.ready_checks[name] = check


router = APIRouter(tags=["health"])


@router.get("/health", openapi_extra=access(Access.PUBLIC), summary="Liveness")
async def health(request: Request) -> Health:
    return Health(status="ok", service=request.app.state.service_name)


@router.get(
    "/ready",
    openapi_extra=access(Access.PUBLIC),
    summary="Readiness: every dependency answers",
    responses=error_responses(ServiceUnavailableError),
)
async def ready(request: Request) -> Readiness:
    checks: dict[str, ReadyCheck] = request.app.state.ready_checks
    names = list(checks)
    results = await asyncio.gather(
        *(asyncio.wait_for(checks[n](), READY_TIMEOUT_SECONDS) for n in names),
        return_exceptions=True,
    )
    failing = [n for n, r in zip(names, results, strict=True) if isinstance(r, BaseException)]
    if failing:
        raise ServiceUnavailableError(
            f"dependency not ready: {', '.join(failing)}", code="dependency_unavailable"
        )
    return Readiness(
        status="ready", service=request.app.state.service_name, checks=dict.fromkeys(names, "ok")
    )
