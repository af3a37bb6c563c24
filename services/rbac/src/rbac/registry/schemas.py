from datetime import datetime
from typing import Self

from pydantic import BaseModel

from common.access import Access
from rbac.models import Route


class RouteRead(BaseModel):
    service: str
    method: str
    path: str
    permission: str
    access: Access
    public: bool
    summary: str
    stale: bool
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Route) -> Self:
        return cls(
            service=row.service,
            method=row.method,
            path=row.path,
            permission=row.permission,
            access=Access(row.access),
            public=row.access == Access.PUBLIC.value,
            summary=row.summary,
            stale=row.stale,
            updated_at=row.updated_at,
        )
