from typing import Annotated

from fastapi import APIRouter, Query

from common.pagination import Page, PageQueryDep
from rbac.deps import CallerDep, RegistryServiceDep
from rbac.registry.schemas import RouteRead

router = APIRouter(tags=["registry"])


@router.get("/routes", summary="Every registered route of every service")
async def list_routes(
    _caller: CallerDep,
    registry: RegistryServiceDep,
    page: PageQueryDep,
    service: Annotated[str | None, Query(max_length=64, description="Only this service")] = None,
    include_stale: Annotated[
        bool, Query(description="Also routes their service no longer serves")
    ] = False,
) -> Page[RouteRead]:
    return await registry.page(page, service=service, include_stale=include_stale)
